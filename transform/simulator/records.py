"""The simulator's output files: serialised tf.Examples written as uncompressed TFRecords.

Encoding fixes the order of a row's features, so a config always gives byte-identical
files; every file is written under a hidden temporary name and renamed, so a reader never
sees a half-written shard.
"""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf


def encode(encoder, columns: dict[str, np.ndarray]) -> list[bytes]:
    """Serialised tf.Examples of a shard's rows, features in the order of `columns`.

    tfx_bsl writes a row's features in hash-map order, which changes from one process to
    the next. Encoding one column at a time and concatenating each row's single-feature
    messages (protobuf merges concatenated messages into one) fixes the order, so a config
    always gives byte-identical files.
    """
    encoded = [_encode_column(encoder, name, values) for name, values in columns.items()]
    return pc.binary_join_element_wise(*encoded, b"").to_pylist()


def _encode_column(encoder, name: str, values: np.ndarray) -> pa.Array:
    """Single-feature tf.Examples of one column; each distinct value is encoded once.

    Most columns (labels, categories, ids of the in-memory tables) repeat a few values, so
    encoding the distinct values and gathering them is much faster than encoding every row.
    """
    distinct, row_to_distinct = np.unique(values, return_inverse=True)
    offsets = pa.array(np.arange(len(distinct) + 1, dtype=np.int32))
    batch = pa.RecordBatch.from_arrays([pa.ListArray.from_arrays(offsets, pa.array(distinct))], [name])
    return pa.array(encoder.encode(batch), type=pa.binary()).take(pa.array(row_to_distinct))


def write_records(path: str, records: list[bytes]) -> None:
    """Writes `records` to the TFRecord file `path`, through a temporary file renamed onto it."""
    tf.io.gfile.makedirs(os.path.dirname(path))
    temporary = _temporary_path(path)
    with tf.io.TFRecordWriter(temporary) as writer:
        for record in records:
            writer.write(record)
    tf.io.gfile.rename(temporary, path, overwrite=True)


def _temporary_path(path: str) -> str:
    """A hidden name beside `path` that no shard pattern matches."""
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")


def remove_stale_shards(output_dir: str, split: str, shards: list[str]) -> None:
    """Deletes shards of an earlier run with another shard count, so a glob reads this run only."""
    current = {os.path.basename(shard) for shard in shards}
    for path in tf.io.gfile.glob(os.path.join(output_dir, split, "part-*-of-*.tfrecord")):
        if os.path.basename(path) not in current:
            tf.io.gfile.remove(path)

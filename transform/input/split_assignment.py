"""Which split each row joins, by the spec's split rules (`transform/source.py`).

A rule matches a row when the rule's column, as text, is one of its `values` (if it has a
column filter) and the row's hash falls in the rule's range (`source.hash_ranges`). The
hash is FarmHash Fingerprint64 (`tf.strings.to_hash_bucket_fast`, stable across versions
and platforms) of the hash key's value as text, or of the whole row (every column read,
joined) without a hash key, taken to [0, 1) over a million buckets: h = bucket / 1e6.
A row joins the first rule it matches, or none (-1).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf

from transform.source import SplitRule

HASH_BUCKETS = 1_000_000
_FIELD_SEPARATOR = b"\x1f"


def assign_splits(
    batch: pa.RecordBatch,
    rules: tuple[SplitRule, ...],
    ranges: dict[str, tuple[float, float]],
    hash_key: Optional[str] = None,
) -> np.ndarray:
    """[rows] int: the index in `rules` of the rule each row joins, -1 for none."""
    assigned = np.full(batch.num_rows, -1)
    hashes = row_hashes(batch, hash_key) if any(ranges[rule.split] != (0.0, 1.0) for rule in rules) else None
    for index, rule in enumerate(rules):
        match = assigned < 0
        if rule.column:
            match &= np.isin(column_bytes(batch, rule.column), [value.encode() for value in rule.values])
        low, high = ranges[rule.split]
        if hashes is not None and (low, high) != (0.0, 1.0):
            match &= (hashes >= low) & (hashes < high)
        assigned[match] = index
    return assigned


def row_hashes(batch: pa.RecordBatch, hash_key: Optional[str] = None) -> np.ndarray:
    """[rows] float in [0, 1): the hash of `hash_key`'s value, or of every column joined."""
    if hash_key:
        keys = _as_binary(batch, hash_key)
    else:
        columns = [_as_binary(batch, name) for name in batch.schema.names]
        keys = pc.binary_join_element_wise(*columns, pa.scalar(_FIELD_SEPARATOR, pa.large_binary()))
    texts = tf.constant(keys.to_numpy(zero_copy_only=False), tf.string)
    return tf.strings.to_hash_bucket_fast(texts, HASH_BUCKETS).numpy() / HASH_BUCKETS


def column_bytes(batch: pa.RecordBatch, name: str) -> np.ndarray:
    """[rows] object array of each row's first value as text bytes (b"" when missing)."""
    return _as_binary(batch, name).to_numpy(zero_copy_only=False)


def _as_binary(batch: pa.RecordBatch, name: str) -> pa.Array:
    column = batch.column(batch.schema.names.index(name))
    if pa.types.is_null(column.type):
        return pa.array([b""] * batch.num_rows, pa.large_binary())
    first = pc.list_element(column, 0)
    if not (pa.types.is_binary(first.type) or pa.types.is_large_binary(first.type)):
        first = pc.cast(first, pa.large_string())
    return pc.fill_null(pc.cast(first, pa.large_binary()), pa.scalar(b"", pa.large_binary()))

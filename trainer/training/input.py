"""tf.data input pipelines over transformed and raw TFRecords (gzip-compressed where named *.gz)."""
from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from transform.splits import transformed_pattern

AUTOTUNE = tf.data.AUTOTUNE


def list_files(file_pattern: str) -> list[str]:
    """Files matching `file_pattern`, sorted; none is an error that names the pattern."""
    files = sorted(tf.io.gfile.glob(file_pattern))
    if not files:
        raise FileNotFoundError(f"no files match {file_pattern}")
    return files


def compression_type(files: list[str]) -> str:
    """"GZIP" when the files end in .gz (TFX's Transform writes its examples so), else ""."""
    compressed = {path.endswith(".gz") for path in files}
    if len(compressed) > 1:
        raise ValueError(f"files mix gzip-compressed and uncompressed records: {files[:4]}")
    return "GZIP" if compressed.pop() else ""


def record_reader(files: list[str]):
    """A function from one file name to a TFRecordDataset that reads it, gzip by extension."""
    compression = compression_type(files)
    return lambda path: tf.data.TFRecordDataset(path, compression_type=compression)


def transformed_dataset(
    file_pattern: str,
    feature_spec: dict,
    batch_size: int,
    shuffle: bool = False,
    shuffle_buffer: int = 10_000,
    repeat: bool = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Batches of transformed examples as one dict of [batch] tensors (features, labels, masks).

    Records of up to 4 files are interleaved (files in a seeded random order when shuffling),
    shuffled through a seeded buffer, batched, then parsed by one vectorised `parse_example`
    call per batch on parallel threads, ahead of the training step. The interleave runs in
    the reading thread: reading is cheap next to shuffling and parsing, and a parallel
    interleave's hand-off per record cost as much CPU as the parse, CPU taken from the
    training step on a small machine (bench/train_throughput.py). For a given seed the
    stream's order is reproducible.
    """
    files = list_files(file_pattern)
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        dataset = dataset.shuffle(len(files), seed=seed)
    dataset = dataset.interleave(record_reader(files), cycle_length=min(len(files), 4))
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=False)
    dataset = dataset.map(lambda records: tf.io.parse_example(records, feature_spec), num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)


def transformed_split(transform_dir: str, split: str, batch_size: int, **options) -> tf.data.Dataset:
    """`transformed_dataset` over one split written by `transform.beam_pipeline.run_transform`."""
    feature_spec = tft.TFTransformOutput(transform_dir).transformed_feature_spec()
    return transformed_dataset(transformed_pattern(transform_dir, split), feature_spec, batch_size, **options)


def raw_record_dataset(file_pattern: str, batch_size: int) -> tf.data.Dataset:
    """Batches of serialized raw tf.Examples, in file order (for evaluation and serving)."""
    files = list_files(file_pattern)
    return tf.data.TFRecordDataset(files, compression_type=compression_type(files)).batch(batch_size).prefetch(AUTOTUNE)

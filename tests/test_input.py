"""The tf.data readers: gzip-compressed records (TFX's Transform output) read like plain ones."""
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import example
from trainer.training.input import raw_record_dataset, transformed_dataset

FEATURE_SPEC = {"x": tf.io.FixedLenFeature([], tf.float32), "y": tf.io.FixedLenFeature([], tf.int64)}


def _write(path, rows, compression=""):
    with tf.io.TFRecordWriter(str(path), options=tf.io.TFRecordOptions(compression_type=compression)) as writer:
        for row in rows:
            writer.write(example(x=float(row), y=row))
    return str(path)


def test_gzip_records_read_like_uncompressed_ones(tmp_path):
    _write(tmp_path / "plain-0.tfrecord", range(5))
    _write(tmp_path / "plain-1.tfrecord", range(5, 8))
    _write(tmp_path / "tfx-0.gz", range(5), "GZIP")
    _write(tmp_path / "tfx-1.gz", range(5, 8), "GZIP")
    plain = [b for b in transformed_dataset(str(tmp_path / "plain-*"), FEATURE_SPEC, batch_size=3)]
    gzip = [b for b in transformed_dataset(str(tmp_path / "tfx-*"), FEATURE_SPEC, batch_size=3)]
    assert sorted(np.concatenate([b["y"].numpy() for b in gzip]).tolist()) == list(range(8))
    for left, right in zip(plain, gzip):
        np.testing.assert_array_equal(left["x"].numpy(), right["x"].numpy())
    assert sum(len(batch) for batch in raw_record_dataset(str(tmp_path / "tfx-*"), 4)) == 8


def test_mixed_compression_is_an_error_naming_the_files(tmp_path):
    _write(tmp_path / "part-0.tfrecord", range(2))
    _write(tmp_path / "part-1.gz", range(2), "GZIP")
    with pytest.raises(ValueError, match="part-0.tfrecord"):
        transformed_dataset(str(tmp_path / "part-*"), FEATURE_SPEC, batch_size=2)

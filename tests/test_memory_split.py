"""The in-memory training split: every row once per epoch, a new order each epoch, resumable at any step."""
import numpy as np
import pytest
import tensorflow as tf

from trainer.training.memory_split import load_split

ROWS, BATCH = 10, 4
FEATURE_SPEC = {"row": tf.io.FixedLenFeature([], tf.int64), "pair": tf.io.FixedLenFeature([2], tf.float32),
                "label": tf.io.FixedLenFeature([], tf.float32)}


def _record(row: int) -> bytes:
    feature = {"row": tf.train.Feature(int64_list=tf.train.Int64List(value=[row])),
               "pair": tf.train.Feature(float_list=tf.train.FloatList(value=[row + 0.5, -row])),
               "label": tf.train.Feature(float_list=tf.train.FloatList(value=[row % 2]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture
def split_pattern(tmp_path):
    for index, rows in enumerate([range(0, 6), range(6, ROWS)]):
        with tf.io.TFRecordWriter(str(tmp_path / f"part-{index}.tfrecord")) as writer:
            for row in rows:
                writer.write(_record(row))
    return str(tmp_path / "part-*")


def _rows(batches) -> list[list[int]]:
    return [batch["row"].tolist() for batch in batches]


def test_each_epoch_is_a_new_permutation_of_every_row_in_short_last_batches(split_pattern):
    memory = load_split(split_pattern, FEATURE_SPEC, limit_bytes=10_000)
    assert memory.rows == ROWS and memory.steps_per_epoch(BATCH) == 3
    batches = list(memory.batches(BATCH, seed=7).take(6).as_numpy_iterator())
    assert [len(batch["row"]) for batch in batches] == [4, 4, 2, 4, 4, 2]
    first_epoch, second_epoch = (sum(_rows(batches[start:start + 3]), []) for start in (0, 3))
    assert sorted(first_epoch) == sorted(second_epoch) == list(range(ROWS))
    assert first_epoch != second_epoch
    for batch in batches:
        np.testing.assert_array_equal(batch["pair"], np.stack([batch["row"] + 0.5, -batch["row"]], axis=1))
        np.testing.assert_array_equal(batch["label"], batch["row"] % 2)
        assert batch["row"].dtype == np.int64 and batch["pair"].dtype == np.float32


@pytest.mark.parametrize("first_step", [1, 3, 5])
def test_a_stream_started_at_a_step_continues_the_uninterrupted_one(split_pattern, first_step):
    memory = load_split(split_pattern, FEATURE_SPEC, limit_bytes=10_000)
    uninterrupted = _rows(memory.batches(BATCH, seed=7).take(7).as_numpy_iterator())
    resumed = _rows(memory.batches(BATCH, seed=7, first_step=first_step).take(7 - first_step).as_numpy_iterator())
    assert resumed == uninterrupted[first_step:]


def test_the_order_follows_the_seed(split_pattern):
    memory = load_split(split_pattern, FEATURE_SPEC, limit_bytes=10_000)
    first, again, other = (_rows(memory.batches(BATCH, seed).take(3).as_numpy_iterator()) for seed in (1, 1, 2))
    assert first == again != other


def test_a_split_over_the_limit_of_varying_length_or_of_strings_is_streamed(split_pattern):
    columns_bytes = ROWS * (8 + 2 * 4 + 4)
    assert load_split(split_pattern, FEATURE_SPEC, limit_bytes=columns_bytes) is not None
    assert load_split(split_pattern, FEATURE_SPEC, limit_bytes=columns_bytes - 1) is None
    varying = {**FEATURE_SPEC, "pair": tf.io.VarLenFeature(tf.float32)}
    assert load_split(split_pattern, varying, limit_bytes=10_000) is None
    strings = {**FEATURE_SPEC, "name": tf.io.FixedLenFeature([], tf.string, default_value="")}
    assert load_split(split_pattern, strings, limit_bytes=10_000) is None


def test_an_empty_split_is_an_error_naming_it(tmp_path):
    tf.io.TFRecordWriter(str(tmp_path / "part-0.tfrecord")).close()
    with pytest.raises(ValueError, match="part-"):
        load_split(str(tmp_path / "part-*"), FEATURE_SPEC, limit_bytes=10_000)

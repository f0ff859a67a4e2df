"""A truncated or corrupt TFRecord shard stops the stage that reads it, with an error naming the file.

Neither Beam's TFRecord source nor tf.data names the file a bad record sits in; the stages
do (`transform.input.reader.naming_corrupt_records`), and nothing is skipped: a model
trained on part of its data would look fine and silently miss rows. The failed stage leaves
no output directory, and no hidden temporary one.
"""
import glob
import os
import re
import shutil

import pytest

from pipeline.end_to_end import evaluate_splits, train_stage, transform_stage
from tests.helpers import FAST_TRAINING_SETTINGS, example, write_records
from tests.test_validation import clicks_config
from trainer.config import RunConfig
from trainer.hparams import HParams
from trainer.training.train import load_trained
from transform.input.ingest import ingest
from transform.input.reader import SAMPLE_ROWS_PER_FILE, InputError, corrupt_record_files
from transform.simulator.config import SimulatorConfig
from transform.simulator.simulate import simulate
from transform.spec import packaged_spec, spec_from_dict
from transform.splits import split_patterns, transformed_pattern

pytestmark = pytest.mark.e2e  # runs the real pipeline: `make test` runs it, `make test-fast` does not

SPEC = packaged_spec()
TINY_WORLD = SimulatorConfig(seed=5, n_users=50, n_pins=120, n_creators=20, train_rows=2_000, eval_rows=400,
                             calibration_rows=400, rows_per_shard=1_000)


def truncate(path: str, dropped_bytes: int = 7) -> None:
    """Cuts the end of the file's last record, as a copy interrupted mid-write would."""
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) - dropped_bytes)


def flip_byte(path: str, offset: int = 100) -> None:
    """Flips one byte inside the first records, so a checksum fails."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        value = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([value ^ 0xFF]))


def assert_no_output(output_dir: str) -> None:
    parent = os.path.dirname(output_dir)
    leftovers = [name for name in os.listdir(parent) if name.startswith(f".{os.path.basename(output_dir)}")]
    assert not os.path.exists(output_dir) and not leftovers, (output_dir, leftovers)


def names_bad_file(stage: str, path: str, problem: str) -> str:
    """The pattern of the InputError that `stage` raises for `path` (`problem`: truncated or corrupted)."""
    return f"{stage}: corrupt or truncated TFRecord .*\n  {re.escape(path)}: {problem} record"


def first_shard(pattern: str) -> str:
    return sorted(glob.glob(pattern))[0]


def test_corrupt_record_files_names_each_bad_file_and_only_those(small_run, tmp_path):
    shard = first_shard(transformed_pattern(os.path.join(small_run["dir"], "transform"), "train"))
    copies = [shutil.copy(shard, str(tmp_path / f"{index}.tfrecord")) for index in range(3)]
    truncate(copies[0])
    flip_byte(copies[2])
    problems = corrupt_record_files(copies)
    assert len(problems) == 2
    assert problems[0].startswith(f"{copies[0]}: truncated record")
    assert problems[1].startswith(f"{copies[2]}: corrupted record")


def test_input_file_truncated_past_the_validated_sample_fails_ingest_naming_it(tmp_path):
    rows = [example(session=row // 4, country="US", price=1.0, items=row, clicked="yes" if row % 2 else "no",
                    spend=float(row % 3)) for row in range(SAMPLE_ROWS_PER_FILE + 100)]
    bad_file = write_records(str(tmp_path / "logs.tfrecord"), rows)
    truncate(bad_file)
    data_dir = str(tmp_path / "data")
    with pytest.raises(InputError, match=names_bad_file("ingest", bad_file, "truncated")):
        ingest(spec_from_dict(clicks_config([bad_file], file_format="tfrecord")), data_dir)
    assert_no_output(data_dir)


def test_truncated_raw_shard_fails_the_transform_naming_it(tmp_path):
    data_dir = str(tmp_path / "data")
    simulate(TINY_WORLD, data_dir, SPEC)
    patterns = split_patterns(data_dir)
    bad_shard = first_shard(patterns["train"])
    truncate(bad_shard)
    transform_dir = str(tmp_path / "transform")
    with pytest.raises(InputError, match=names_bad_file("transform", bad_shard, "truncated")):
        transform_stage(RunConfig.resolved(SPEC), patterns, transform_dir)
    assert_no_output(transform_dir)


def test_corrupt_transformed_shard_fails_training_naming_it(small_run, tmp_path):
    transform_dir = str(tmp_path / "transform")
    shutil.copytree(os.path.join(small_run["dir"], "transform"), transform_dir)
    bad_shard = first_shard(transformed_pattern(transform_dir, "train"))
    flip_byte(bad_shard)
    model_dir = str(tmp_path / "model")
    hparams = HParams(**{**FAST_TRAINING_SETTINGS, "epochs": 1})
    with pytest.raises(InputError, match=names_bad_file("train", bad_shard, "corrupted")):
        train_stage(RunConfig.resolved(SPEC, hparams), transform_dir, model_dir)
    assert_no_output(model_dir)


def test_corrupt_eval_shard_fails_the_evaluation_naming_it(small_run, tmp_path):
    data_dir = str(tmp_path / "data")
    shutil.copytree(os.path.join(small_run["dir"], "data"), data_dir)
    bad_shard = first_shard(split_patterns(data_dir)["eval"])
    truncate(bad_shard)
    report_dir = str(tmp_path / "report")
    with pytest.raises(InputError, match=names_bad_file("evaluate", bad_shard, "truncated")):
        evaluate_splits(RunConfig.resolved(SPEC), os.path.join(small_run["dir"], "transform"),
                        load_trained(os.path.join(small_run["dir"], "model")), data_dir, report_dir)
    assert_no_output(report_dir)

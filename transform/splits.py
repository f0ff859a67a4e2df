"""Split names, and where each split's files lie in a data or transform directory.

Every stage reads its input through these patterns:
  <data_dir>/<split>/*.tfrecord*                   raw tf.Examples (simulated or ingested)
  <transform_dir>/transformed/<split>/part-*       transformed tf.Examples
`train`, `eval` (validation and the report) and `calibration` (held out, not downsampled)
are required; `test` is optional and, when present, is reported on too.
"""
from __future__ import annotations

import glob
import os

TRAIN_SPLIT, EVAL_SPLIT, CALIBRATION_SPLIT, TEST_SPLIT = "train", "eval", "calibration", "test"
REQUIRED_SPLITS = (TRAIN_SPLIT, EVAL_SPLIT, CALIBRATION_SPLIT)
OPTIONAL_SPLITS = (TEST_SPLIT,)
TRANSFORMED_DIR = "transformed"


def split_patterns(data_dir: str, splits: tuple[str, ...] = REQUIRED_SPLITS) -> dict[str, str]:
    """File patterns of a data directory laid out as <data_dir>/<split>/*.tfrecord*."""
    patterns = {split: split_pattern(data_dir, split) for split in splits}
    for split, pattern in patterns.items():
        if not glob.glob(pattern):
            raise FileNotFoundError(f"split {split!r}: no files match {pattern}")
    return patterns


def split_pattern(data_dir: str, split: str) -> str:
    return os.path.join(data_dir, split, "*.tfrecord*")


def report_split_patterns(data_dir: str) -> dict[str, str]:
    """The splits a run reports on: eval, and test when the data directory has one."""
    present = [split for split in OPTIONAL_SPLITS if glob.glob(split_pattern(data_dir, split))]
    return split_patterns(data_dir, (EVAL_SPLIT, *present))


def transformed_pattern(transform_dir: str, split: str) -> str:
    return os.path.join(transform_dir, TRANSFORMED_DIR, split, "part-*")

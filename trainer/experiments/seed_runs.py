"""One model per seed, trained and scored on a held-out raw split; summaries over seeds.

Model comparisons (architectures, baselines, with and without a task) train every model on
the same transformed data with several seeds (`HParams.seed`: initialisation and shuffle
order) and compare held-out AUCs as mean +- std over the seeds.
"""
from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
import tensorflow_transform as tft

from trainer.evaluation import metrics
from trainer.evaluation.evaluate import collect_eval_columns
from trainer.evaluation.report import EvalColumns, task_rows
from trainer.hparams import HParams
from trainer.training.train import TrainResult, train
from transform.spec import Spec
from transform.splits import EVAL_SPLIT, report_split_patterns

HELD_OUT_PREFERENCE = ("test", EVAL_SPLIT)
_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class ScoredModel:
    """A trained model, its columns on the held-out split and its calibrated AUC per task."""

    trained: TrainResult
    columns: EvalColumns
    aucs: dict[str, float]
    seconds_per_epoch: float  # wall seconds of training and calibration / epochs


def held_out_split(data_dir: str) -> tuple[str, str]:
    """(name, file pattern) of the split models are compared on: test if the data has one, else eval."""
    patterns = report_split_patterns(data_dir)
    name = next(split for split in HELD_OUT_PREFERENCE if split in patterns)
    return name, patterns[name]


def train_and_score(spec: Spec, transform_dir: str, eval_pattern: str, hparams: HParams) -> ScoredModel:
    """Trains and calibrates (`trainer.training.train.train`), then scores the raw rows of `eval_pattern`."""
    _LOG.info("training %s (%s, seed %d) on tasks %s", spec.name, hparams.architecture, hparams.seed,
              list(spec.task_names))
    start = time.perf_counter()
    trained = train(spec, transform_dir, hparams)
    seconds = time.perf_counter() - start
    columns = collect_eval_columns(spec, tft.TFTransformOutput(transform_dir), trained.backbone,
                                   trained.scoring_model, eval_pattern)
    return ScoredModel(trained, columns, task_aucs(spec, columns), seconds / hparams.epochs)


def task_aucs(spec: Spec, columns: EvalColumns) -> dict[str, float]:
    """AUC of each task's calibrated probability on the rows where the task is defined."""
    aucs = {}
    for task in spec.tasks:
        rows = task_rows(spec, columns, task)
        aucs[task.name] = metrics.auc(rows.labels, rows.calibrated)
    return aucs


def spread(values) -> dict | None:
    """{"mean", "std" (sample std, ddof=1; null for one value), "values"} of per-seed figures.

    Missing (None) and undefined (NaN) figures are left out; None when nothing is left.
    """
    present = [float(value) for value in values if value is not None and not np.isnan(value)]
    if not present:
        return None
    return {
        "mean": float(np.mean(present)),
        "std": float(np.std(present, ddof=1)) if len(present) > 1 else None,
        "values": present,
    }


def format_spread(summary: dict | None, digits: int = 4) -> str:
    """"0.7800 +- 0.0012" (the mean alone for one seed; "-" for no figure)."""
    if summary is None:
        return "-"
    if summary["std"] is None:
        return f"{summary['mean']:.{digits}f}"
    return f"{summary['mean']:.{digits}f} +- {summary['std']:.{digits}f}"

"""The main job: simulate -> transform -> train + calibrate -> evaluate -> export.

Output layout under `run_dir`:
  data/          simulated raw logs: train/, eval/, calibration/, schema.pbtxt, metadata.json
  transform/     tf.Transform output (transform_fn, transformed splits)
  model/         trained scoring model, backbone, calibrators, training history
  report/        report.json, report.txt, reliability.png
  export/<v>/    the SavedModel for TF Serving
  run_config.json  the resolved configuration of the run and the package version
  timings.json     wall seconds per stage
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from importlib import metadata

import tensorflow_transform as tft

from serving.export import export_model
from serving.warmup import request_rows
from trainer.evaluate import collect_eval_columns, evaluate
from trainer.hparams import HParams
from trainer.train import TrainResult, train
from transform.atomic import write_json
from transform.pipeline import run_transform, split_patterns
from transform.simulator import SimulatorConfig, simulate
from transform.spec import Spec, spec_to_dict

WARMUP_ROWS = 128
_LOG = logging.getLogger(__name__)


def package_version() -> str:
    try:
        return metadata.version("feedrank")
    except metadata.PackageNotFoundError:
        return "unknown"


def run_end_to_end(
    spec: Spec,
    run_dir: str,
    simulator_config: SimulatorConfig,
    hparams: HParams,
    beam_args: list[str] | None = None,
) -> dict:
    """Runs every stage on simulated data; returns {"report": ..., "export_dir": ...}."""
    os.makedirs(run_dir, exist_ok=True)
    write_json(
        {
            "package_version": package_version(),
            "spec": spec_to_dict(spec),
            "simulator": dataclasses.asdict(simulator_config),
            "hparams": dataclasses.asdict(hparams),
            "beam_args": beam_args or [],
        },
        os.path.join(run_dir, "run_config.json"),
    )
    paths = {name: os.path.join(run_dir, name) for name in ("data", "transform", "model", "report", "export")}
    clock = _StageClock(total=5)
    with clock("simulate", paths["data"]):
        data_metadata = simulate(simulator_config, paths["data"], spec)
        patterns = split_patterns(paths["data"])
    with clock("transform", paths["transform"]):
        run_transform(spec, patterns, paths["transform"], beam_args)
    with clock("train and calibrate", paths["model"]):
        trained = train(spec, paths["transform"], hparams, paths["model"])
    with clock("evaluate", paths["report"]):
        report = evaluate_stage(spec, paths["transform"], trained, patterns["eval"], paths["report"])
    with clock("export", paths["export"]):
        card = {"training_data": data_metadata, "eval_report": report}
        version_dir = export_stage(spec, paths["transform"], trained, patterns["eval"], paths["export"], card)
    write_json(clock.seconds, os.path.join(run_dir, "timings.json"))
    return {"report": report, "export_dir": version_dir}


class _StageClock:
    """Logs each stage as it starts and ends, and keeps its wall time in seconds."""

    def __init__(self, total: int):
        self.total = total
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str, output: str):
        _LOG.info("stage %d/%d: %s -> %s", len(self.seconds) + 1, self.total, name, output)
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 2)
        _LOG.info("stage %s done in %.1f s", name, self.seconds[name])


def evaluate_stage(spec: Spec, transform_dir: str, trained: TrainResult, eval_pattern: str, report_dir: str) -> dict:
    """Scores the raw eval split through the transform graph; writes and returns the report."""
    columns = collect_eval_columns(
        spec, tft.TFTransformOutput(transform_dir), trained.backbone, trained.scoring_model, eval_pattern
    )
    return evaluate(spec, columns, report_dir)


def export_stage(
    spec: Spec, transform_dir: str, trained: TrainResult, warmup_pattern: str, export_dir: str, card: dict | None = None
) -> str:
    """Exports a new SavedModel version with warmup requests from `warmup_pattern`'s first rows."""
    warmup = request_rows(warmup_pattern, [feature.name for feature in spec.features], WARMUP_ROWS)
    card = {"package_version": package_version(), **(card or {})}
    return export_model(spec, transform_dir, trained.scoring_model, export_dir, warmup, card)

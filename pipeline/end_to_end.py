"""The main job: simulate or ingest -> transform -> train + calibrate -> evaluate -> export.

The spec's `input` picks the first stage: the simulator (`input: {format: simulator}`), or
ingest of the user's CSV / TFRecord files into the same split layout.

Output layout under `run_dir`:
  data/          raw splits: train/, eval/, calibration/ (test/), schema.pbtxt, metadata.json
  transform/     tf.Transform output (transform_fn, transformed splits)
  model/         trained scoring model, backbone, calibrators, training history
  report/        report.json, report.txt, reliability plots, tfma_eval_config.pbtxt on the eval split; report/test/
                 the same on the test split, when the data has one
  export/<v>/    the SavedModel for TF Serving
  run_config.json  the resolved configuration of the run (`trainer/config.py`) and the code's
                   provenance; `feedrank run --config run_config.json` repeats the run
  timings.json     wall seconds per stage
  peak_memory.json peak resident memory per stage ({stage: {"peak_rss_mb", "measured"}}, pipeline/stage_metrics.py)

Each stage's output directory (transform/, model/, report/) also holds a `run_config.json`:
the same, plus what that stage was given, so a directory copied elsewhere still says what made
it; the export's model card holds them too. A truncated
or corrupt TFRecord read by a stage is an `InputError` naming the file.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time

import tensorflow_transform as tft
from google.protobuf import text_format

from pipeline.stage_metrics import peak_rss_bytes, reset_peak_rss
from trainer.config import RunConfig, saved_config
from trainer.evaluation.evaluate import calibration_split_logits, collect_eval_columns, evaluate
from trainer.evaluation.tfma_config import eval_config
from trainer.export.export import export_model
from trainer.export.warmup import WARMUP_ROWS, request_rows
from trainer.training.train import TrainingData, TrainResult, train_on
from transform.beam_pipeline import run_transform
from transform.common.files import write_json, write_text
from transform.common.provenance import provenance
from transform.input.ingest import ingest
from transform.input.reader import naming_corrupt_records
from transform.simulator.simulate import simulate
from transform.spec import Spec
from transform.splits import CALIBRATION_SPLIT, EVAL_SPLIT, report_split_patterns, split_patterns, transformed_pattern

TFMA_EVAL_CONFIG = "tfma_eval_config.pbtxt"
RUN_CONFIG = "run_config.json"
PEAK_MEMORY = "peak_memory.json"
_LOG = logging.getLogger(__name__)


def write_run_config(output_dir: str, config: RunConfig, **stage_inputs) -> None:
    """Writes `output_dir/run_config.json`: the code's provenance, what the stage was given, the resolved config."""
    write_json({**provenance(), **stage_inputs, **saved_config(config)}, os.path.join(output_dir, RUN_CONFIG))


def run_end_to_end(config: RunConfig, run_dir: str) -> dict:
    """Runs every stage; returns {"report": eval report, "reports": per split, "export_dir": ...}."""
    os.makedirs(run_dir, exist_ok=True)
    write_run_config(run_dir, config, stage="run")
    paths = {name: os.path.join(run_dir, name) for name in ("data", "transform", "model", "report", "export")}
    clock = _StageClock(total=5)
    with clock("simulate" if config.is_simulated else "ingest", paths["data"]):
        data_metadata = data_stage(config, paths["data"])
        patterns = split_patterns(paths["data"])
    with clock("transform", paths["transform"]):
        transform_stage(config, patterns, paths["transform"])
    with clock("train and calibrate", paths["model"]):
        trained = train_stage(config, paths["transform"], paths["model"])
    with clock("evaluate", paths["report"]):
        reports = evaluate_splits(config, paths["transform"], trained, paths["data"], paths["report"])
    with clock("export", paths["export"]):
        card = {"training_data": data_metadata, **{f"{split}_report": report for split, report in reports.items()}}
        version_dir = export_stage(config, paths["transform"], trained, patterns["eval"], paths["export"], card)
    write_json(clock.peak_memory, os.path.join(run_dir, PEAK_MEMORY))
    write_json(clock.seconds, os.path.join(run_dir, "timings.json"))
    return {"report": reports[EVAL_SPLIT], "reports": reports, "export_dir": version_dir}


def data_stage(config: RunConfig, data_dir: str) -> dict:
    """Writes the raw splits to `data_dir`: simulated, or ingested from the spec's input; returns their metadata."""
    if config.is_simulated:
        return simulate(config.simulator, data_dir, config.spec)
    return ingest(config.spec, data_dir, list(config.beam_args))


def transform_stage(config: RunConfig, patterns: dict[str, str], transform_dir: str) -> None:
    """Runs the tf.Transform pipeline on the raw splits `patterns`; a corrupt shard is an error naming it."""
    with naming_corrupt_records(patterns.values(), "transform"):
        run_transform(config.spec, patterns, transform_dir, list(config.beam_args))
    write_run_config(transform_dir, config, stage="transform", data=patterns)


def train_stage(config: RunConfig, transform_dir: str, model_dir: str) -> TrainResult:
    """Trains and calibrates on the transformed splits; a corrupt shard is an error naming it, and no model.

    The config goes beside the model only from the process that writes it (a multi-worker job's chief).
    """
    data = TrainingData.from_transform_dir(transform_dir)
    with naming_corrupt_records([data.train, data.eval, data.calibration], "train"):
        trained = train_on(config.spec, data, config.hparams, model_dir, config.job)
    if config.job.role.is_chief:
        write_run_config(model_dir, config, stage="train", transform=transform_dir)
    return trained


def evaluate_splits(config: RunConfig, transform_dir: str, trained: TrainResult, data_dir: str,
                    report_dir: str) -> dict:
    """Reports on the eval split in `report_dir`, and on the test split (if any) in `report_dir/test`."""
    reports = {
        split: evaluate_stage(config.spec, transform_dir, trained, pattern,
                              report_dir if split == EVAL_SPLIT else os.path.join(report_dir, split), split)
        for split, pattern in report_split_patterns(data_dir).items()
    }
    write_run_config(report_dir, config, stage="evaluate", transform=transform_dir, data=data_dir)
    return reports


class _StageClock:
    """Logs each stage as it starts and ends, and keeps its wall time in seconds and its peak RSS."""

    def __init__(self, total: int):
        self.total = total
        self.seconds: dict[str, float] = {}
        self.peak_memory: dict[str, dict] = {}

    @contextlib.contextmanager
    def __call__(self, name: str, output: str):
        _LOG.info("stage %d/%d: %s -> %s", len(self.seconds) + 1, self.total, name, output)
        measured = reset_peak_rss()
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 2)
        self.peak_memory[name] = {"peak_rss_mb": round(peak_rss_bytes() / 2**20, 1), "measured": measured}
        _LOG.info("stage %s done in %.1f s, peak RSS %.0f MB", name, self.seconds[name],
                  self.peak_memory[name]["peak_rss_mb"])


def evaluate_stage(
    spec: Spec, transform_dir: str, trained: TrainResult, eval_pattern: str, report_dir: str, split: str = EVAL_SPLIT
) -> dict:
    """Scores a raw split through the transform graph; writes and returns its report."""
    with naming_corrupt_records([eval_pattern, transformed_pattern(transform_dir, CALIBRATION_SPLIT)], "evaluate"):
        columns = collect_eval_columns(
            spec, tft.TFTransformOutput(transform_dir), trained.backbone, trained.scoring_model, eval_pattern,
            calibration=calibration_split_logits(spec, transform_dir, trained.backbone),
        )
    report = evaluate(spec, columns, report_dir, split=split)
    write_text(text_format.MessageToString(eval_config(spec)), os.path.join(report_dir, TFMA_EVAL_CONFIG))
    return report


def export_stage(config: RunConfig, transform_dir: str, trained: TrainResult, warmup_pattern: str, export_dir: str,
                 card: dict | None = None) -> str:
    """Exports a new SavedModel version with warmup requests from `warmup_pattern`'s first rows.

    Its model card holds the code's provenance and the resolved configuration, beside `card`.
    """
    spec = config.spec
    with naming_corrupt_records([warmup_pattern], "export"):
        warmup = request_rows(warmup_pattern, [feature.name for feature in spec.features], WARMUP_ROWS)
    card = {**provenance(), **saved_config(config), **(card or {})}
    return export_model(spec, transform_dir, trained.scoring_model, export_dir, warmup, card)

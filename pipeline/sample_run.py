"""A small complete run for notebooks and demos: the whole job on a small simulated world.

Notebooks teach the package on data small enough to run top to bottom in a minute or two;
they share one such run (`sample_run`), made once per directory and reused afterwards.
Where notebooks write is `$FEEDRANK_NOTEBOOK_DIR` (default: ./notebook_runs).
"""
from __future__ import annotations

import json
import os

from pipeline.end_to_end import run_end_to_end
from trainer.config import RunConfig
from trainer.evaluation.report import REPORT_FILENAME
from trainer.export.versions import list_versions
from trainer.hparams import HParams
from transform.simulator.config import SimulatorConfig
from transform.spec import Spec, packaged_spec

NOTEBOOK_DIR_ENV = "FEEDRANK_NOTEBOOK_DIR"
SAMPLE_WORLD = SimulatorConfig(
    seed=7, n_users=500, n_pins=2_000, n_creators=200, train_rows=30_000, eval_rows=6_000,
    calibration_rows=20_000, rows_per_shard=10_000,
)
SAMPLE_HPARAMS = HParams(epochs=2, batch_size=512, bottom_units=(64, 32), tower_units=(16,), validation_steps=2)
_TIMINGS = "timings.json"  # written last by run_end_to_end: its presence marks a finished run


def notebook_dir(name: str) -> str:
    """`$FEEDRANK_NOTEBOOK_DIR/<name>` (default ./notebook_runs/<name>), created if missing."""
    path = os.path.join(os.environ.get(NOTEBOOK_DIR_ENV, "notebook_runs"), name)
    os.makedirs(path, exist_ok=True)
    return path


def sample_run(run_dir: str, spec: Spec | None = None) -> dict:
    """The whole job on SAMPLE_WORLD with SAMPLE_HPARAMS in `run_dir`, unless a finished run is there.

    Returns {"dir", "data", "transform", "model", "report_dir", "export_dir", "report"}; export_dir
    is the run's own (oldest) version, whatever versions were derived from it since.
    """
    if not os.path.exists(os.path.join(run_dir, _TIMINGS)):
        run_end_to_end(RunConfig.resolved(spec or packaged_spec(), SAMPLE_HPARAMS, SAMPLE_WORLD), run_dir)
    paths = {name: os.path.join(run_dir, name) for name in ("data", "transform", "model")}
    report_dir, export_dir = os.path.join(run_dir, "report"), os.path.join(run_dir, "export")
    with open(os.path.join(report_dir, REPORT_FILENAME)) as handle:
        report = json.load(handle)
    return {"dir": run_dir, **paths, "report_dir": report_dir,
            "export_dir": os.path.join(export_dir, str(list_versions(export_dir)[0])), "report": report}

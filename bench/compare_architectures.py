"""The architecture comparison of docs/experiments.md, for simulator data and for census-income.

    .venv/bin/python bench/compare_architectures.py [--work-dir runs/compare] [--seeds 3]
        [--simulator-train-rows 1000000] [--simulator-epochs 2] [--census-epochs 3]
        [--census-data-root ../shared/datasets/census-income] [--reuse-data]

For each dataset: simulate (or ingest census-income), run the tf.Transform pipeline, then
`trainer.experiments.comparison.compare_models`: single-task models, shared-bottom, MMoE and PLE (and on
simulator data the pinnability model and feed quality), each trained once per seed with the
default hyperparameters. Prints Markdown tables and writes
bench/results/compare_architectures.json with the data sizes, the goals and their outcome:
on simulator data the checks of `compare_models`; on census-income MMoE's mean test AUC
against the MMoE paper's level (income >= 0.935, never_married >= 0.992).
Each dataset's tables are also written to <work-dir>/<dataset>/comparison.{json,md} as soon
as it is done. `--reuse-data` keeps the data and transform directories of an earlier run.
"""
import argparse
import dataclasses
import json
import logging
import os
import time

from record import run_record

from pipeline.end_to_end import data_stage
from trainer.config import RunConfig
from trainer.experiments.comparison import compare_models, format_comparison, write_comparison
from trainer.hparams import HParams
from transform.beam_pipeline import run_transform
from transform.common.files import write_json
from transform.common.logs import configure_logging
from transform.simulator.config import SimulatorConfig
from transform.source import DATA_ROOT_ENV
from transform.spec import packaged_spec
from transform.splits import split_patterns

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "compare_architectures.json")
CENSUS_ROOT = os.environ.get(DATA_ROOT_ENV) or os.path.join(HERE, "..", "..", "shared", "datasets", "census-income")
CENSUS_GOALS = {"income": 0.935, "never_married": 0.992}  # MMoE test AUC, the MMoE paper's level
_LOG = logging.getLogger("compare_architectures")


def prepare(spec, work_dir: str, simulator_config: SimulatorConfig, reuse: bool) -> tuple[str, str, dict]:
    """Raw splits and their transform under `work_dir`; returns (data dir, transform dir, rows per split)."""
    data_dir, transform_dir = os.path.join(work_dir, "data"), os.path.join(work_dir, "transform")
    if not (reuse and os.path.isdir(data_dir) and os.path.isdir(transform_dir)):
        start = time.perf_counter()
        data_stage(RunConfig.resolved(spec, simulator=simulator_config), data_dir)
        run_transform(spec, split_patterns(data_dir), transform_dir)
        _LOG.info("%s: data and transform ready in %.0f s", spec.name, time.perf_counter() - start)
    with open(os.path.join(data_dir, "metadata.json")) as handle:
        metadata = json.load(handle)
    return data_dir, transform_dir, {split: stats["rows"] for split, stats in metadata["splits"].items()}


def compare_dataset(spec, work_dir: str, simulator_config: SimulatorConfig, hparams: HParams, seeds: list[int],
                    reuse: bool) -> dict:
    data_dir, transform_dir, rows = prepare(spec, work_dir, simulator_config, reuse)
    start = time.perf_counter()
    result = compare_models(spec, transform_dir, data_dir, hparams, seeds)
    result = {"rows": rows, "seconds": round(time.perf_counter() - start, 1), **result}
    write_comparison(result, work_dir, spec.name)
    return result


def census_goals(result: dict) -> dict:
    """MMoE's mean test AUC per task against CENSUS_GOALS."""
    means = {task: result["models"]["mmoe"]["auc"][task]["mean"] for task in CENSUS_GOALS}
    return {"mmoe_mean_auc": means, "targets": CENSUS_GOALS,
            "met": all(means[task] >= target for task, target in CENSUS_GOALS.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", default="runs/compare")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--simulator-train-rows", type=int, default=1_000_000)
    parser.add_argument("--simulator-epochs", type=int, default=2)
    parser.add_argument("--census-epochs", type=int, default=HParams().epochs)
    parser.add_argument("--census-data-root", default=os.path.normpath(CENSUS_ROOT))
    parser.add_argument("--reuse-data", action="store_true")
    args = parser.parse_args()
    configure_logging()
    load_start, seeds = os.getloadavg(), list(range(args.seeds))
    simulator_config = SimulatorConfig(train_rows=args.simulator_train_rows)
    census = compare_dataset(
        packaged_spec("census", args.census_data_root), os.path.join(args.work_dir, "census"), simulator_config,
        HParams(epochs=args.census_epochs), seeds, args.reuse_data,
    )
    simulator = compare_dataset(
        packaged_spec("homefeed"), os.path.join(args.work_dir, "simulator"), simulator_config,
        HParams(epochs=args.simulator_epochs), seeds, args.reuse_data,
    )
    figures = {
        **run_record(load_start),
        "simulator_config": dataclasses.asdict(simulator_config),
        "datasets": {"simulator": simulator, "census": census},
        "goals": {"simulator": simulator["checks"], "census": census_goals(census)},
    }
    write_json(figures, RESULTS)
    for name, result in figures["datasets"].items():
        rows = ", ".join(f"{split} {count:,}" for split, count in result["rows"].items())
        print(format_comparison(result, f"{name} ({rows} rows)") + "\n", flush=True)
    print(f"census-income goal (MMoE mean test AUC): {figures['goals']['census']}")


if __name__ == "__main__":
    main()

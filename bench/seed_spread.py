"""AUC / true-probability AUC per task over training seeds, on the end-to-end bench's data.

    .venv/bin/python bench/seed_spread.py [--run-dir runs/bench] [--seeds 0 1 2]

The quality goal (every task's AUC at least 0.97 of the true-probability AUC) is read off
one trained model, and the rarest action's figure moves with the seed (initialisation and
shuffle order) by about as much as the goal's margin. This bench retrains the default job's
model (`HParams()` but the seed) on the run's transformed data once per seed, calibrates it,
scores the eval split, and writes bench/results/seed_spread.json: per task, AUC / true per
seed with their mean, sample std, min and max, and how many seeds meet the goal. Run it
after `bench/end_to_end.py`, which leaves the run directory.
"""
import argparse
import dataclasses
import json
import os

from record import run_record

from trainer.evaluation import metrics
from trainer.evaluation.report import task_rows
from trainer.experiments.seed_runs import ScoredModel, held_out_split, spread, train_and_score
from trainer.hparams import HParams
from transform.common.files import write_json
from transform.common.logs import configure_logging
from transform.spec import packaged_spec

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "seed_spread.json")
GOAL = 0.97


def fractions_of_true(spec, scored: ScoredModel) -> dict[str, float]:
    """Task -> AUC of the calibrated probability / AUC of the true probability, on the task's rows."""
    fractions = {}
    for task in spec.tasks:
        rows = task_rows(spec, scored.columns, task)
        fractions[task.name] = scored.aucs[task.name] / metrics.auc(rows.labels, rows.truth)
    return fractions


def summarize(per_seed: dict[int, dict[str, float]]) -> dict:
    """Task -> {"values" (seed order), "mean", "std", "min", "max", "seeds_meeting_goal"}."""
    tasks = next(iter(per_seed.values()))
    summary = {}
    for task in tasks:
        values = [per_seed[seed][task] for seed in per_seed]
        summary[task] = {**spread(values), "min": min(values), "max": max(values),
                         "seeds_meeting_goal": sum(value >= GOAL for value in values)}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default="runs/bench", help="the end-to-end bench's run directory")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results", default=RESULTS)
    args = parser.parse_args()
    configure_logging()
    transform_dir, data_dir = os.path.join(args.run_dir, "transform"), os.path.join(args.run_dir, "data")
    for path in (transform_dir, data_dir):
        if not os.path.isdir(path):
            parser.error(f"{path} is missing: run `python bench/end_to_end.py --output {args.run_dir}` first")
    spec, load_start = packaged_spec(), os.getloadavg()
    split, pattern = held_out_split(data_dir)
    per_seed = {}
    for seed in args.seeds:
        scored = train_and_score(spec, transform_dir, pattern, dataclasses.replace(HParams(), seed=seed))
        per_seed[seed] = fractions_of_true(spec, scored)
        print(f"seed {seed}: " + " ".join(f"{task} {value:.4f}" for task, value in per_seed[seed].items()), flush=True)
    with open(os.path.join(data_dir, "metadata.json")) as handle:
        simulator = json.load(handle)["config"]
    result = {
        **run_record(load_start),
        "split": split,
        "simulator": simulator,
        "hparams": {**dataclasses.asdict(HParams()), "seed": args.seeds},
        "goal": {"auc_fraction_of_true_min": GOAL},
        "per_seed": {str(seed): values for seed, values in per_seed.items()},
        "tasks": summarize(per_seed),
    }
    write_json(result, args.results)
    print(json.dumps(result["tasks"], indent=1), flush=True)


if __name__ == "__main__":
    main()

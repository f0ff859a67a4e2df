"""The add-objective figures of docs/experiments.md: adding video_watch under each architecture.

    .venv/bin/python bench/add_objective.py [--work-dir runs/compare] [--candidate video_watch]
        [--seeds 3] [--simulator-train-rows 1000000] [--epochs 2] [--reuse-data]

On the simulator data of bench/compare_architectures.py (simulated and transformed here
unless --reuse-data finds them in <work-dir>/simulator), runs
`trainer.experiments.add_objective.add_objective_report` once per architecture with the default
hyperparameters, prints each report's table and writes bench/results/add_objective.json
(the data sizes and one report per architecture).
"""
import argparse
import dataclasses
import os

from record import run_record

from trainer.experiments.add_objective import add_objective_report, format_add_objective
from trainer.hparams import ARCHITECTURES, HParams
from transform.common.files import write_json
from transform.common.logs import configure_logging
from transform.simulator.config import SimulatorConfig
from transform.spec import packaged_spec

from compare_architectures import prepare

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "add_objective.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", default="runs/compare")
    parser.add_argument("--candidate", default="video_watch")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--simulator-train-rows", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--reuse-data", action="store_true")
    args = parser.parse_args()
    configure_logging()
    load_start = os.getloadavg()
    spec, config = packaged_spec("homefeed"), SimulatorConfig(train_rows=args.simulator_train_rows)
    data_dir, transform_dir, rows = prepare(spec, os.path.join(args.work_dir, "simulator"), config, args.reuse_data)
    reports = {}
    for architecture in ARCHITECTURES:
        hparams = HParams(epochs=args.epochs, architecture=architecture)
        reports[architecture] = add_objective_report(spec, args.candidate, transform_dir, data_dir, hparams,
                                                     list(range(args.seeds)))
        print(format_add_objective(reports[architecture]) + "\n", flush=True)
    write_json({
        **run_record(load_start),
        "simulator_config": dataclasses.asdict(config),
        "rows": rows,
        "reports": reports,
    }, RESULTS)


if __name__ == "__main__":
    main()

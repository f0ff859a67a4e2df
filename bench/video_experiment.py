"""The video experiment of docs/experiments.md: before and after a calibrated video_watch head, one run.

    .venv/bin/python bench/video_experiment.py [--work-dir runs/video_experiment]

Runs `feedrank video-experiment` with its defaults (`trainer.experiments.video_experiment`: 1M training,
200k eval and 200k calibration rows of the default simulated world, 2 epochs, top 5), prints
the before/after table and writes bench/results/video_experiment.json (with the command,
provenance and machine), video_experiment.txt and the trade-off plot
video_experiment.png.
"""
import argparse
import os

from record import run_record

from trainer.experiments.video_experiment import run_video_experiment, write_video_experiment
from trainer.experiments.video_world import EXPERIMENT_HPARAMS, EXPERIMENT_WORLD
from transform.common.logs import configure_logging
from transform.spec import packaged_spec

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", default="runs/video_experiment")
    args = parser.parse_args()
    configure_logging()
    spec, load_start = packaged_spec(), os.getloadavg()
    report = run_video_experiment(spec, args.work_dir, EXPERIMENT_WORLD, EXPERIMENT_HPARAMS)
    report = {**run_record(load_start), **report}
    print(write_video_experiment(spec, report, RESULTS_DIR), flush=True)


if __name__ == "__main__":
    main()

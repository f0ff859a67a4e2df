"""Training throughput (examples/s) of the default model over the real input pipeline, against tensors in memory.

    .venv/bin/python bench/train_throughput.py [--train-rows 200000] [--rounds 6] [--steps 100]

The simulator writes `--train-rows` training rows and the transform runs on them, before any
timing. The model is the default one (`HParams()` defaults, the packaged homefeed spec),
compiled as training compiles it; both sides call its one Keras train function, step by step:
- pipeline: `trainer.input.transformed_split` over the transformed train TFRecords, as
  training reads them (shuffled with the default buffer and seed, repeated);
- in memory: `--steps` batches taken from that same pipeline once, stacked into tensors, and
  served by `tf.data.Dataset.from_tensor_slices` (no file reading, no parsing).
After a warm-up of `WARMUP_STEPS` per side (tracing), `--rounds` rounds time `--steps` steps
of each side, the side going first alternating from round to round, so that load from other
processes on the shared machine falls on both alike. examples/s = steps * batch size / wall
seconds, summed over rounds; ratio = pipeline / in memory (goal: at least 0.9). Prints and
writes bench/results/train_throughput.json with the load average around the run.
"""
import argparse
import json
import logging
import os
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from serving.end_to_end import package_version
from trainer.hparams import HParams
from trainer.input import transformed_split
from trainer.ranker import MultiTaskRanker
from trainer.train import compiled_ranker
from transform.atomic import write_json
from transform.logs import configure_logging
from transform.pipeline import TRAIN_SPLIT, run_transform, split_patterns
from transform.simulator import SimulatorConfig, simulate
from transform.spec import packaged_spec

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "train_throughput.json")
WARMUP_STEPS = 30
GOAL_RATIO = 0.9
_LOG = logging.getLogger("train_throughput")


def prepare(work_dir: str, train_rows: int) -> str:
    """Simulated rows through the transform (not timed); returns the transform directory."""
    data_dir, transform_dir = os.path.join(work_dir, "data"), os.path.join(work_dir, "transform")
    simulate(SimulatorConfig(train_rows=train_rows, eval_rows=10_000, calibration_rows=10_000), data_dir)
    return run_transform(packaged_spec(), split_patterns(data_dir), transform_dir)


def training_batches(transform_dir: str, hparams: HParams) -> tf.data.Dataset:
    """The training stream as `trainer.train` reads it: shuffled, repeated, seeded."""
    return transformed_split(transform_dir, TRAIN_SPLIT, hparams.batch_size, shuffle=True,
                             shuffle_buffer=hparams.shuffle_buffer, repeat=True, seed=hparams.seed)


def in_memory_batches(pipeline: tf.data.Dataset, steps: int) -> tf.data.Dataset:
    """`steps` batches of `pipeline`, materialised as tensors and served from memory, repeated."""
    batches = list(pipeline.take(steps))
    stacked = {name: tf.stack([batch[name] for batch in batches]) for name in batches[0]}
    return tf.data.Dataset.from_tensor_slices(stacked).repeat()


def time_steps(train_function, iterator, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        logs = train_function(iterator)
    float(logs["loss"])
    return time.perf_counter() - start


def measure(ranker: MultiTaskRanker, sides: dict, rounds: int, steps: int) -> dict[str, list[float]]:
    """Seconds per round and side; the first side of a round alternates."""
    train_function = ranker.make_train_function()
    iterators = {name: iter(dataset) for name, dataset in sides.items()}
    for name, iterator in iterators.items():
        time_steps(train_function, iterator, WARMUP_STEPS)
    seconds = {name: [] for name in sides}
    names = list(sides)
    for round_index in range(rounds):
        for name in names if round_index % 2 == 0 else names[::-1]:
            seconds[name].append(time_steps(train_function, iterators[name], steps))
        _LOG.info("round %d/%d: %s", round_index + 1, rounds,
                  {name: f"{steps / times[-1]:.1f} steps/s" for name, times in seconds.items()})
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-rows", type=int, default=200_000, help="simulated training rows")
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds (each side once per round)")
    parser.add_argument("--steps", type=int, default=100, help="training steps per side and round")
    args = parser.parse_args()
    configure_logging()
    hparams = HParams()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as work_dir:
        _LOG.info("simulating and transforming %d training rows (not timed)", args.train_rows)
        transform_dir = prepare(work_dir, args.train_rows)
        pipeline = training_batches(transform_dir, hparams)
        sides = {"pipeline": pipeline, "in_memory": in_memory_batches(pipeline, args.steps)}
        _LOG.info("timing %d rounds of %d steps per side", args.rounds, args.steps)
        ranker = compiled_ranker(packaged_spec(), tft.TFTransformOutput(transform_dir), hparams)
        seconds = measure(ranker, sides, args.rounds, args.steps)
    load_end = os.getloadavg()
    examples = args.rounds * args.steps * hparams.batch_size
    rates = {name: round(examples / sum(times)) for name, times in seconds.items()}
    round_ratios = [memory / piped for piped, memory in zip(seconds["pipeline"], seconds["in_memory"])]
    figures = {
        "command": " ".join(["python", "bench/train_throughput.py", *sys.argv[1:]]),
        "package_version": package_version(),
        "machine": {"cpus": os.cpu_count(), "load_average_start": [round(x, 2) for x in load_start],
                    "load_average_end": [round(x, 2) for x in load_end],
                    "busy": max(load_start[0], load_end[0]) > (os.cpu_count() or 1)},
        "model": "HParams() defaults, packaged homefeed spec",
        "batch_size": hparams.batch_size,
        "train_rows": args.train_rows,
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "warmup_steps_per_side": WARMUP_STEPS,
        "seconds_per_round": {name: [round(t, 3) for t in times] for name, times in seconds.items()},
        "examples_per_s": rates,
        "ratio_pipeline_to_in_memory": round(rates["pipeline"] / rates["in_memory"], 3),
        "ratio_per_round": {"median": round(float(np.median(round_ratios)), 3),
                            "min": round(min(round_ratios), 3), "max": round(max(round_ratios), 3)},
        "goal_ratio": GOAL_RATIO,
    }
    write_json(figures, RESULTS)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

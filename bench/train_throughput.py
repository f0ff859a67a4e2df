"""Training throughput (examples/s) of the default model: its input pipeline against tensors in
memory, its optimizer against plain Adam, and how training time grows with the data.

    .venv/bin/python bench/train_throughput.py [--sizes 100000 1000000 3000000] [--rounds 6] [--steps 100]

For each size N the simulator writes N training rows and the transform runs on them, before
any timing. The model is the default one (`HParams()` defaults, the packaged homefeed spec),
compiled as training compiles it; every side calls a Keras train function step by step.

Scaling, at every size: the seconds `trainer.training.memory_split.load_split` takes to read and parse
the split into memory (what `trainer.training.train` does first), then the seconds of one epoch
(ceil(N / batch size) steps) over that in-memory stream.

Sides, at the largest size, timed in `--rounds` rounds of `--steps` steps each, the order of
the sides rotating from round to round so that load from other processes falls on all alike,
after a warm-up of `WARMUP_STEPS` steps per side (tracing):
- pipeline: the training input `trainer.training.train` uses by default, the split held in memory
  and served by shuffled index batches (`MemorySplit.batches`);
- streaming: the input of a split too large for memory or of a multi-worker job: the files
  read, shuffled through the default buffer, batched and parsed (`trainer.training.input.transformed_split`);
- in_memory: `--steps` batches of the pipeline stacked into tensors and served by
  `tf.data.Dataset.from_tensor_slices` (the bound: no input work at all);
- plain_adam: the same model compiled with `tf.keras.optimizers.Adam` on every variable (the
  setup most users start from) over the same pipeline; the default setup uses Adagrad on
  the embedding tables and Adam on the rest (`trainer.model.ranker.make_optimizer`).
examples/s = steps * batch size / wall seconds, summed over rounds. Ratios: pipeline / in
memory (goal at least 0.9), default / plain Adam (goal at least 3).

Plain Adam's extra cost is a dense pass over every embedding table at every step, so its
ratio grows with the tables' rows (the default world: 500k pins, 200k users, 50k creators).
Prints and writes bench/results/train_throughput.json with the load average around the run.
"""
import argparse
import json
import logging
import os
import tempfile
import time

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from record import run_record

from trainer.hparams import HParams
from trainer.model.backbone import embedding_variables
from trainer.model.ranker import MultiTaskRanker
from trainer.training.input import transformed_split
from trainer.training.job_options import JobOptions
from trainer.training.memory_split import MemorySplit, load_split
from trainer.training.train import compiled_ranker
from transform.beam_pipeline import run_transform
from transform.common.files import write_json
from transform.common.logs import configure_logging
from transform.simulator.config import SimulatorConfig
from transform.simulator.simulate import simulate
from transform.spec import packaged_spec
from transform.splits import TRAIN_SPLIT, split_patterns, transformed_pattern

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "train_throughput.json")
WARMUP_STEPS = 30
GOAL_RATIO, GOAL_RATIO_PLAIN_ADAM = 0.9, 3.0
_LOG = logging.getLogger("train_throughput")


def prepare(work_dir: str, train_rows: int) -> str:
    """Simulated rows of the default world through the transform (not timed); returns the
    transform directory."""
    data_dir = os.path.join(work_dir, f"data_{train_rows}")
    transform_dir = os.path.join(work_dir, f"transform_{train_rows}")
    world = SimulatorConfig(train_rows=train_rows, eval_rows=10_000, calibration_rows=10_000)
    simulate(world, data_dir, packaged_spec())
    return run_transform(packaged_spec(), split_patterns(data_dir), transform_dir)


def load(transform_dir: str) -> tuple[MemorySplit, float]:
    """The training split in memory, as `trainer.training.train` loads it, and the seconds it took."""
    feature_spec = tft.TFTransformOutput(transform_dir).transformed_feature_spec()
    start = time.perf_counter()
    limit = JobOptions().in_memory_limit_bytes
    memory = load_split(transformed_pattern(transform_dir, TRAIN_SPLIT), feature_spec, limit)
    return memory, time.perf_counter() - start


def default_ranker(transform_dir: str, hparams: HParams) -> MultiTaskRanker:
    return compiled_ranker(packaged_spec(), tft.TFTransformOutput(transform_dir), hparams)


def plain_adam_ranker(transform_dir: str, hparams: HParams) -> MultiTaskRanker:
    """The default model with one Adam for every variable, embedding tables included."""
    ranker = default_ranker(transform_dir, hparams)
    ranker.compile(optimizer=tf.keras.optimizers.Adam(hparams.dense_learning_rate))
    return ranker


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


def scaling_point(transform_dir: str, hparams: HParams) -> tuple[dict, MemorySplit]:
    """Load seconds and one epoch's seconds of the default setup on one size."""
    memory, load_seconds = load(transform_dir)
    ranker = default_ranker(transform_dir, hparams)
    train_function = ranker.make_train_function()
    iterator = iter(memory.batches(hparams.batch_size, hparams.seed))
    time_steps(train_function, iterator, WARMUP_STEPS)
    steps = memory.steps_per_epoch(hparams.batch_size)
    epoch_seconds = time_steps(train_function, iterator, steps)
    point = {"train_rows": memory.rows, "load_seconds": round(load_seconds, 2), "epoch_steps": steps,
             "epoch_seconds": round(epoch_seconds, 2), "examples_per_s": round(memory.rows / epoch_seconds)}
    _LOG.info("scaling: %s", point)
    return point, memory


def compare_sides(sides: dict, rounds: int, steps: int) -> dict[str, list[float]]:
    """Seconds per round and side; each side is (train function, dataset); the order rotates."""
    iterators = {name: (function, iter(dataset)) for name, (function, dataset) in sides.items()}
    for function, iterator in iterators.values():
        time_steps(function, iterator, WARMUP_STEPS)
    seconds = {name: [] for name in sides}
    names = list(sides)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            function, iterator = iterators[name]
            seconds[name].append(time_steps(function, iterator, steps))
        _LOG.info("round %d/%d: %s", round_index + 1, rounds,
                  {name: f"{steps / times[-1]:.1f} steps/s" for name, times in seconds.items()})
    return seconds


def sides_at(transform_dir: str, memory: MemorySplit, hparams: HParams, steps: int) -> tuple[dict, int]:
    """The four sides, and the embedding tables' parameter count."""
    optimizers, tables = optimizer_sides(transform_dir, memory, hparams)
    default, pipeline = optimizers["default"]
    streaming = transformed_split(transform_dir, TRAIN_SPLIT, hparams.batch_size, shuffle=True,
                                  shuffle_buffer=hparams.shuffle_buffer, repeat=True, seed=hparams.seed)
    return {
        "pipeline": (default, pipeline),
        "streaming": (default, streaming),
        "in_memory": (default, in_memory_batches(pipeline, steps)),
        "plain_adam": optimizers["plain_adam"],
    }, tables


def optimizer_sides(transform_dir: str, memory: MemorySplit, hparams: HParams) -> tuple[dict, int]:
    """Default setup and plain Adam over the in-memory pipeline, and the embedding tables' parameter count."""
    pipeline = memory.batches(hparams.batch_size, hparams.seed)
    default = default_ranker(transform_dir, hparams)
    sides = {"default": (default.make_train_function(), pipeline),
             "plain_adam": (plain_adam_ranker(transform_dir, hparams).make_train_function(), pipeline)}
    return sides, table_parameters(default)


def table_parameters(ranker: MultiTaskRanker) -> int:
    return sum(int(np.prod(variable.shape)) for variable in embedding_variables(ranker.backbone))


def examples_per_s(seconds: dict[str, list[float]], examples_per_round: int) -> dict[str, int]:
    """Per side: examples over all its rounds / its seconds over all rounds."""
    return {name: round(len(times) * examples_per_round / sum(times)) for name, times in seconds.items()}


def round_ratios(numerator: list[float], denominator: list[float]) -> dict:
    """Per-round rate ratios (seconds of the denominator's side over the numerator's)."""
    ratios = [den / num for num, den in zip(numerator, denominator)]
    return {"median": round(float(np.median(ratios)), 3), "min": round(min(ratios), 3), "max": round(max(ratios), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 3_000_000],
                        help="simulated training rows; the sides are compared at the largest")
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds (each side once per round)")
    parser.add_argument("--steps", type=int, default=100, help="training steps per side and round")
    parser.add_argument("--results", default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    configure_logging()
    hparams = HParams()
    load_start = os.getloadavg()
    scaling = []
    with tempfile.TemporaryDirectory() as work_dir:
        for rows in sorted(args.sizes):
            _LOG.info("simulating and transforming %d training rows (not timed)", rows)
            transform_dir = prepare(work_dir, rows)
            point, memory = scaling_point(transform_dir, hparams)
            scaling.append(point)
        _LOG.info("timing %d rounds of %d steps per side on %d rows", args.rounds, args.steps, memory.rows)
        sides, default_tables = sides_at(transform_dir, memory, hparams, args.steps)
        seconds = compare_sides(sides, args.rounds, args.steps)
    rates = examples_per_s(seconds, args.steps * hparams.batch_size)
    figures = {
        **run_record(load_start),
        "model": "HParams() defaults, packaged homefeed spec",
        "batch_size": hparams.batch_size,
        "train_rows": scaling[-1]["train_rows"],
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "warmup_steps_per_side": WARMUP_STEPS,
        "seconds_per_round": {name: [round(t, 3) for t in times] for name, times in seconds.items()},
        "examples_per_s": rates,
        "ratio_pipeline_to_in_memory": round(rates["pipeline"] / rates["in_memory"], 3),
        "ratio_pipeline_to_in_memory_per_round": round_ratios(seconds["pipeline"], seconds["in_memory"]),
        "ratio_streaming_to_in_memory": round(rates["streaming"] / rates["in_memory"], 3),
        "ratio_default_to_plain_adam": round(rates["pipeline"] / rates["plain_adam"], 3),
        "ratio_default_to_plain_adam_per_round": round_ratios(seconds["pipeline"], seconds["plain_adam"]),
        "embedding_parameters": default_tables,
        "goal_ratio": GOAL_RATIO,
        "goal_ratio_plain_adam": GOAL_RATIO_PLAIN_ADAM,
        "scaling": scaling,
    }
    write_json(figures, args.results)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

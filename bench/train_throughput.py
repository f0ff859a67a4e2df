"""Training throughput (examples/s) of the default model: its input pipeline against tensors in
memory, its optimizer against plain Adam, and how training time grows with the data.

    .venv/bin/python bench/train_throughput.py [--sizes 100000 1000000 3000000] [--rounds 6] [--steps 100]

For each size N the simulator writes N training rows and the transform runs on them, before
any timing. The model is the default one (`HParams()` defaults, the packaged homefeed spec),
compiled as training compiles it; every side calls a Keras train function step by step.

Scaling, at every size: the seconds `trainer.memory_split.load_split` takes to read and parse
the split into memory (what `trainer.train` does first), then the seconds of one epoch
(ceil(N / batch size) steps) over that in-memory stream.

Sides, at the largest size, timed in `--rounds` rounds of `--steps` steps each, the order of
the sides rotating from round to round so that load from other processes falls on all alike,
after a warm-up of `WARMUP_STEPS` steps per side (tracing):
- pipeline: the training input `trainer.train` uses by default, the split held in memory
  and served by shuffled index batches (`MemorySplit.batches`);
- streaming: the input of a split too large for memory or of a multi-worker job: the files
  read, shuffled through the default buffer, batched and parsed (`trainer.input.transformed_split`);
- in_memory: `--steps` batches of the pipeline stacked into tensors and served by
  `tf.data.Dataset.from_tensor_slices` (the bound: no input work at all);
- plain_adam: the same model compiled with `tf.keras.optimizers.Adam` on every variable (the
  setup most users start from) over the same pipeline; the default setup uses Adagrad on
  the embedding tables and Adam on the rest (`trainer.ranker.make_optimizer`).
examples/s = steps * batch size / wall seconds, summed over rounds. Ratios: pipeline / in
memory (goal at least 0.9), default / plain Adam (goal at least 3).

Plain Adam's extra cost is a dense pass over every embedding table at every step, so its
ratio depends on the tables' size. The default world (50k pins, 20k users, 5k creators) has
small tables; `--world-scale K` simulates `--world-rows` training rows of a world K times as
large (K times the users, pins and creators, the id features' vocabularies K times as
large) and compares the default setup with plain Adam there too (the same rounds, two sides).
Prints and writes bench/results/train_throughput.json with the load average around the run.
"""
import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from machine import machine_info
from serving.end_to_end import package_version
from trainer.hparams import HParams
from trainer.input import transformed_split
from trainer.memory_split import MemorySplit, load_split
from trainer.model import embedding_variables
from trainer.ranker import MultiTaskRanker
from trainer.train import DEFAULT_IN_MEMORY_LIMIT_BYTES, compiled_ranker
from transform.atomic import write_json
from transform.logs import configure_logging
from transform.pipeline import TRAIN_SPLIT, run_transform, split_patterns, transformed_pattern
from transform.simulator import SimulatorConfig, simulate
from transform.spec import Spec, packaged_spec

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "train_throughput.json")
WARMUP_STEPS = 30
GOAL_RATIO, GOAL_RATIO_PLAIN_ADAM = 0.9, 3.0
_LOG = logging.getLogger("train_throughput")


def prepare(work_dir: str, train_rows: int, world_scale: int = 1) -> str:
    """Simulated rows of a world `world_scale` times the default through the transform (not
    timed); returns the transform directory."""
    name = f"{train_rows}_x{world_scale}"
    data_dir, transform_dir = os.path.join(work_dir, f"data_{name}"), os.path.join(work_dir, f"transform_{name}")
    default = SimulatorConfig()
    config = SimulatorConfig(train_rows=train_rows, eval_rows=10_000, calibration_rows=10_000,
                             n_users=default.n_users * world_scale, n_pins=default.n_pins * world_scale,
                             n_creators=default.n_creators * world_scale)
    spec = scaled_spec(world_scale)
    simulate(config, data_dir, spec)
    return run_transform(spec, split_patterns(data_dir), transform_dir)


def scaled_spec(world_scale: int) -> Spec:
    """The packaged spec with the id features' vocabularies `world_scale` times as large."""
    spec = packaged_spec()
    features = tuple(dataclasses.replace(feature, vocab_size=feature.vocab_size * world_scale)
                     if feature.kind == "id" else feature for feature in spec.features)
    return dataclasses.replace(spec, features=features)


def load(transform_dir: str) -> tuple[MemorySplit, float]:
    """The training split in memory, as `trainer.train` loads it, and the seconds it took."""
    feature_spec = tft.TFTransformOutput(transform_dir).transformed_feature_spec()
    start = time.perf_counter()
    memory = load_split(transformed_pattern(transform_dir, TRAIN_SPLIT), feature_spec, DEFAULT_IN_MEMORY_LIMIT_BYTES)
    return memory, time.perf_counter() - start


def default_ranker(transform_dir: str, hparams: HParams, world_scale: int = 1) -> MultiTaskRanker:
    return compiled_ranker(scaled_spec(world_scale), tft.TFTransformOutput(transform_dir), hparams)


def plain_adam_ranker(transform_dir: str, hparams: HParams, world_scale: int = 1) -> MultiTaskRanker:
    """The default model with one Adam for every variable, embedding tables included."""
    ranker = default_ranker(transform_dir, hparams, world_scale)
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


def sides_at(transform_dir: str, memory: MemorySplit, hparams: HParams, steps: int) -> dict:
    pipeline = memory.batches(hparams.batch_size, hparams.seed)
    streaming = transformed_split(transform_dir, TRAIN_SPLIT, hparams.batch_size, shuffle=True,
                                  shuffle_buffer=hparams.shuffle_buffer, repeat=True, seed=hparams.seed)
    default = default_ranker(transform_dir, hparams).make_train_function()
    return {
        "pipeline": (default, pipeline),
        "streaming": (default, streaming),
        "in_memory": (default, in_memory_batches(pipeline, steps)),
        "plain_adam": (plain_adam_ranker(transform_dir, hparams).make_train_function(), pipeline),
    }


def optimizer_sides(transform_dir: str, memory: MemorySplit, hparams: HParams, world_scale: int) -> tuple[dict, int]:
    """Default setup and plain Adam over the in-memory pipeline, and the embedding tables' parameter count."""
    pipeline = memory.batches(hparams.batch_size, hparams.seed)
    default = default_ranker(transform_dir, hparams, world_scale)
    sides = {"default": (default.make_train_function(), pipeline),
             "plain_adam": (plain_adam_ranker(transform_dir, hparams, world_scale).make_train_function(), pipeline)}
    return sides, table_parameters(default)


def table_parameters(ranker: MultiTaskRanker) -> int:
    return sum(int(np.prod(variable.shape)) for variable in embedding_variables(ranker.backbone))


def larger_world(work_dir: str, hparams: HParams, world_scale: int, rows: int, rounds: int, steps: int) -> dict:
    """Default setup against plain Adam on a world `world_scale` times as large."""
    _LOG.info("simulating and transforming %d training rows of a world %d times as large (not timed)", rows, world_scale)
    transform_dir = prepare(work_dir, rows, world_scale)
    memory, _ = load(transform_dir)
    sides, table_parameters = optimizer_sides(transform_dir, memory, hparams, world_scale)
    seconds = compare_sides(sides, rounds, steps)
    rates = {name: round(rounds * steps * hparams.batch_size / sum(times)) for name, times in seconds.items()}
    return {"world_scale": world_scale, "train_rows": memory.rows, "embedding_parameters": table_parameters,
            "examples_per_s": rates, "ratio_default_to_plain_adam": round(rates["default"] / rates["plain_adam"], 3),
            "ratio_per_round": round_ratios(seconds["default"], seconds["plain_adam"])}


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
    parser.add_argument("--world-scale", type=int, default=10, help="the larger world's size, in default worlds")
    parser.add_argument("--world-rows", type=int, default=1_000_000, help="training rows of the larger world")
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
        sides = sides_at(transform_dir, memory, hparams, args.steps)
        default_tables = table_parameters(default_ranker(transform_dir, hparams))
        seconds = compare_sides(sides, args.rounds, args.steps)
        scaled = larger_world(work_dir, hparams, args.world_scale, args.world_rows, args.rounds, args.steps)
    examples = args.rounds * args.steps * hparams.batch_size
    rates = {name: round(examples / sum(times)) for name, times in seconds.items()}
    figures = {
        "command": " ".join(["python", "bench/train_throughput.py", *sys.argv[1:]]),
        "package_version": package_version(),
        "machine": machine_info(load_start),
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
        "plain_adam_larger_world": scaled,
        "goal_ratio": GOAL_RATIO,
        "goal_ratio_plain_adam": GOAL_RATIO_PLAIN_ADAM,
        "scaling": scaling,
    }
    write_json(figures, args.results)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""`simulate()`: draws the world and writes every split's logs, the schema and the metadata.

What is written, for each split (train, eval, calibration):
  output_dir/<split>/part-XXXXX-of-YYYYY.tfrecord   uncompressed TFRecord of tf.Example
  output_dir/schema.pbtxt                            schema of a log row (every spec column)
  output_dir/metadata.json                           config, row counts, shards, label rates

Shards are generated and written one at a time, so output is byte-identical for a config
and memory does not grow with the row count; every file is written under a temporary name
and renamed.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional

import tensorflow as tf
from tfx_bsl.coders import example_coder
from tqdm import tqdm

from transform.common.files import write_text
from transform.schema import logged_data_feature_spec, schema_from_spec, write_schema
from transform.simulator.columns import check_spec
from transform.simulator.config import SimulatorConfig
from transform.simulator.history import HISTORY_FEATURES, history_counters
from transform.simulator.records import encode, remove_stale_shards, write_records
from transform.simulator.shards import plan_shards, simulate_shard
from transform.simulator.stats import add_shard_stats, empty_split_stats, finish_split_stats
from transform.simulator.world import World, build_world
from transform.spec import Spec, packaged_spec
from transform.splits import REQUIRED_SPLITS

SCHEMA_FILE = "schema.pbtxt"
METADATA_FILE = "metadata.json"


def simulate(config: SimulatorConfig, output_dir: str, spec: Optional[Spec] = None) -> dict:
    """Writes the train, eval and calibration logs, the schema and metadata.json.

    Returns the metadata dict (also written to output_dir/metadata.json): the config, and per
    split the row count (after downsampling), shard files (relative to output_dir), label mean
    and mean true probability per task (on the task's segment rows), and the negative
    downsampling rate applied.
    """
    spec = spec or packaged_spec("homefeed")
    check_spec(spec)
    schema = schema_from_spec(logged_data_feature_spec(spec))
    world = _world(config, spec)
    encoder = example_coder.RecordBatchToExamplesEncoder(schema)
    tf.io.gfile.makedirs(output_dir)
    write_schema(schema, os.path.join(output_dir, SCHEMA_FILE))
    metadata = {
        "config": dataclasses.asdict(config),
        "spec": spec.name,
        "schema": SCHEMA_FILE,
        "splits": _write_splits(world, config, spec, encoder, output_dir),
    }
    metadata_text = json.dumps(metadata, indent=2, sort_keys=True) + "\n"
    write_text(metadata_text, os.path.join(output_dir, METADATA_FILE))
    return metadata


def _world(config: SimulatorConfig, spec: Spec) -> World:
    """The world of `config`, with the 30-day counters when the spec names any of them."""
    world = build_world(config)
    if any(feature.name in HISTORY_FEATURES for feature in spec.features):
        world = dataclasses.replace(world, history=history_counters(world, config))
    return world


def _write_splits(world: World, config: SimulatorConfig, spec: Spec, encoder, output_dir: str) -> dict:
    """Writes every shard of every split; returns each split's statistics for the metadata."""
    splits = {split: empty_split_stats(spec, config.negative_rate(split)) for split in REQUIRED_SPLITS}
    for plan in tqdm(plan_shards(config), desc="simulate", unit="shard"):
        shard = simulate_shard(world, config, plan)
        write_records(os.path.join(output_dir, plan.relative_path), encode(encoder, shard.columns(spec)))
        add_shard_stats(splits[plan.split], spec, shard, plan.relative_path)
    for split, stats in splits.items():
        remove_stale_shards(output_dir, split, stats["shards"])
    return {split: finish_split_stats(stats) for split, stats in splits.items()}

"""The shards of each split, and the rows of one shard.

Every split is cut into shards of at most `rows_per_shard` rows, and each shard is drawn
from its own random stream (`streams.shard_rng`): shards are generated one at a time, so
memory does not grow with the row count and the output is byte-identical for a config.
Request ids run on across every shard of every split, so no two requests share one.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from transform.simulator.behaviour import draw_labels, true_probabilities
from transform.simulator.columns import GROUP_KEY, feature_columns
from transform.simulator.config import SimulatorConfig
from transform.simulator.retrieval import impressions
from transform.simulator.streams import shard_rng
from transform.simulator.world import World
from transform.spec import Spec
from transform.splits import REQUIRED_SPLITS


@dataclasses.dataclass(frozen=True)
class ShardPlan:
    """One output file: which split, which rows, which request ids."""

    split: str
    split_index: int
    index: int
    count: int
    rows: int
    first_request_id: int

    @property
    def relative_path(self) -> str:
        return f"{self.split}/part-{self.index:05d}-of-{self.count:05d}.tfrecord"


@dataclasses.dataclass(frozen=True)
class Shard:
    """One shard's rows: feature columns by feature name, labels and truths by task name."""

    features: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    truths: dict[str, np.ndarray]
    generated_rows: int

    @property
    def rows(self) -> int:
        return len(self.features[GROUP_KEY])

    def columns(self, spec: Spec) -> dict[str, np.ndarray]:
        """The spec's columns in a fixed order: features, per task label and truth, group key."""
        columns = {feature.name: self.features[feature.name] for feature in spec.features}
        for task in spec.tasks:
            columns[task.label] = self.labels[task.name]
            if task.truth:
                columns[task.truth] = self.truths[task.name]
        if spec.group_key:
            columns[spec.group_key] = self.features[GROUP_KEY]
        return columns


def plan_shards(config: SimulatorConfig) -> list[ShardPlan]:
    """Splits every split into shards; request ids are consecutive across all shards."""
    plans, next_request_id = [], 1
    for split_index, split in enumerate(REQUIRED_SPLITS):
        total = config.rows(split)
        count = math.ceil(total / config.rows_per_shard)
        for index in range(count):
            rows = min(config.rows_per_shard, total - index * config.rows_per_shard)
            plans.append(ShardPlan(split, split_index, index, count, rows, next_request_id))
            next_request_id += math.ceil(rows / config.candidates_per_request)
    return plans


def simulate_shard(world: World, config: SimulatorConfig, plan: ShardPlan) -> Shard:
    """The planned shard's impressions, their true probabilities and labels, downsampled."""
    rng = shard_rng(config, plan.split_index, plan.index)
    rows = impressions(world, config, rng, plan.rows, plan.first_request_id)
    truths = true_probabilities(world, rows)
    labels = draw_labels(rng, truths)
    keep = _kept_rows(rng, labels, config.negative_rate(plan.split))
    return Shard(
        features={name: values[keep] for name, values in feature_columns(world, rows).items()},
        labels={task: values[keep] for task, values in labels.items()},
        truths={task: values[keep] for task, values in truths.items()},
        generated_rows=plan.rows,
    )


def _kept_rows(rng, labels: dict[str, np.ndarray], negative_rate: float) -> np.ndarray:
    """Keeps every row with an action and a `negative_rate` share of the rows without one."""
    any_action = np.any(np.stack(list(labels.values())), axis=0)
    if negative_rate >= 1.0:
        return np.ones_like(any_action)
    return any_action | (rng.random(len(any_action)) < negative_rate)

"""Per-split statistics for metadata.json: rows, shards, label rates and mean true probabilities.

Sums are gathered shard by shard as the shards are written and turned into rates at the end,
each task's over the rows of its segment, so the metadata tells how far each split's labels
are from their true probabilities without reading the files again.
"""
from __future__ import annotations

import numpy as np

from transform.simulator.shards import Shard
from transform.spec import Spec, Task


def empty_split_stats(spec: Spec, negative_rate: float) -> dict:
    """Zero sums for a split whose no-action rows are kept at `negative_rate`."""
    return {
        "rows": 0,
        "rows_before_downsampling": 0,
        "negative_downsampling_rate": negative_rate,
        "shards": [],
        "task_rows": {task.name: 0 for task in spec.tasks},
        "label_sum": {task.name: 0 for task in spec.tasks},
        "truth_sum": {task.name: 0.0 for task in spec.tasks},
    }


def add_shard_stats(stats: dict, spec: Spec, shard: Shard, path: str) -> None:
    """Adds one shard (written at `path`, relative to the output directory) to its split's sums."""
    stats["rows"] += shard.rows
    stats["rows_before_downsampling"] += shard.generated_rows
    stats["shards"].append(path)
    for task in spec.tasks:
        in_segment = _segment_mask(task, shard)
        stats["task_rows"][task.name] += int(in_segment.sum())
        stats["label_sum"][task.name] += int(shard.labels[task.name][in_segment].sum())
        stats["truth_sum"][task.name] += float(shard.truths[task.name][in_segment].sum(dtype=np.float64))


def finish_split_stats(stats: dict) -> dict:
    """Turns sums into per-task rates over each task's segment rows (None without rows)."""
    counts = stats["task_rows"]

    def mean(sums: dict) -> dict:
        return {task: (total / counts[task] if counts[task] else None) for task, total in sums.items()}

    return {
        "rows": stats["rows"],
        "rows_before_downsampling": stats["rows_before_downsampling"],
        "negative_downsampling_rate": stats["negative_downsampling_rate"],
        "shards": stats["shards"],
        "task_rows": counts,
        "positive_rate": mean(stats["label_sum"]),
        "mean_true_probability": mean(stats["truth_sum"]),
    }


def _segment_mask(task: Task, shard: Shard) -> np.ndarray:
    """Rows on which the task is defined (all rows for a task without a segment)."""
    if task.segment is None:
        return np.ones(shard.rows, dtype=bool)
    values = shard.features[task.segment.feature]
    as_text = np.char.decode(values) if values.dtype.kind == "S" else values.astype(str)
    return np.isin(as_text, list(task.segment.values))

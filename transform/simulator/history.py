"""The 30-day engagement counters: what the feed saw of each pin, user and user x topic.

Production feeds log such long-horizon counters as features; they are noisy estimates of
what the logs hide: a pin's quality, clickbait and watchability, a user's engagement, hide
propensity and video affinity, and a user's topic preference (through what it was shown and
did on each topic). The simulator draws them from a history of the same world, before the
logs, and writes them on every row whose spec names them.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from transform.simulator.behaviour import draw_labels, true_probabilities
from transform.simulator.config import SimulatorConfig
from transform.simulator.retrieval import AGE_WINDOW_DAYS, impressions
from transform.simulator.streams import history_rng
from transform.simulator.world import World
from transform.splits import REQUIRED_SPLITS

HISTORY_COUNTERS = {"impressions": None, "closeups": "closeup", "clicks": "click", "long_clicks": "long_click",
                    "saves": "save", "hides": "hide", "video_watches": "video_watch"}  # counter: task it counts
HISTORY_KEYS = ("pin", "user", "user_topic")  # whose impressions a counter counts
HISTORY_FEATURES = tuple(f"{key}_{counter}_30d" for key in HISTORY_KEYS for counter in HISTORY_COUNTERS)

_HISTORY_DAYS = 30.0          # the counters cover the 30 days before the logs, at the feed's daily traffic


def history_rows(config: SimulatorConfig) -> int:
    """Impressions of the 30 days before the logs: the feed's daily traffic (all splits over
    their `AGE_WINDOW_DAYS`, divided by the logs' share of it) times `_HISTORY_DAYS`."""
    logged = sum(config.rows(split) for split in REQUIRED_SPLITS)
    return round(logged / config.logged_share / AGE_WINDOW_DAYS * _HISTORY_DAYS)


def history_counters(world: World, config: SimulatorConfig) -> dict[str, dict[str, np.ndarray]]:
    """Engagement counters of the 30 days before the logs, per pin, user and user x topic.

    The history is `history_rows(config)` impressions of the same world, drawn as the logs
    are (`impressions`, `true_probabilities`, `draw_labels`) on day d ~ U(0, 30) before the
    logs; an impression of a pin created after day d never happened and is dropped. Then,
    for a key x (a pin, a user, or a user and a topic) and a counter t:

      impressions_x = number of history impressions of x
      count_t,x     = sum of the task-t labels of those impressions

    so count_t,x / impressions_x estimates x's mean true probability of t where it was shown,
    with binomial noise that shrinks as x is shown more. Chunks are drawn from their own
    random streams, so the world and the logged splits do not change.
    """
    sizes = {"pin": len(world.pins.ids), "user": len(world.users.ids),
             "user_topic": len(world.users.ids) * world.n_topics}
    history = {key: {counter: np.zeros(sizes[key], np.int64) for counter in HISTORY_COUNTERS} for key in HISTORY_KEYS}
    total = history_rows(config)
    starts = range(0, total, config.rows_per_shard)
    for chunk, start in enumerate(tqdm(starts, desc="simulate 30-day history", unit="chunk")):
        _count_chunk(history, world, config, chunk, min(config.rows_per_shard, total - start))
    return history


def _count_chunk(history: dict, world: World, config: SimulatorConfig, chunk: int, n_rows: int) -> None:
    """Draws one chunk of `n_rows` history impressions and adds them to the counters."""
    rng = history_rng(config, chunk)
    rows = impressions(world, config, rng, n_rows, 1)
    age_days = world.pins.created_days_ago[rows["pin"]] - _HISTORY_DAYS * rng.random(len(rows["pin"]))
    shown = age_days >= 0.0
    rows["age_days"] = np.maximum(age_days, 0.0)
    labels = draw_labels(rng, true_probabilities(world, rows))
    for key, index in history_index(world, rows["user"], rows["pin"]).items():
        keys, row_key = np.unique(index, return_inverse=True)  # only the chunk's keys, not the whole array
        for counter, task in HISTORY_COUNTERS.items():
            counted = shown if task is None else shown * labels[task]
            history[key][counter][keys] += np.bincount(row_key, weights=counted, minlength=len(keys)).astype(np.int64)


def history_index(world: World, user: np.ndarray, pin: np.ndarray) -> dict[str, np.ndarray]:
    """Row of each impression in the counter arrays of every history key."""
    return {"pin": pin, "user": user, "user_topic": user * world.n_topics + world.pins.topic[pin]}


def history_columns(world: World, user: np.ndarray, pin: np.ndarray) -> dict[str, np.ndarray]:
    """The counters of each impression's pin, user and user x topic (none without a history)."""
    index = history_index(world, user, pin)
    return {f"{key}_{counter}_30d": counts[index[key]]
            for key, counters in world.history.items() for counter, counts in counters.items()}

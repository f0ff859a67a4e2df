"""Feed requests: who asks and when, which candidates retrieval returns, how they are ranked.

A request is a user (drawn by activity) at an hour of the day; retrieval returns K candidate
pins (by the user's topic preference and popularity, plus some exploration), and a noisy
production ranker orders them into slots 0..K-1. Because the ranker scores relevance, a
row's slot and its relevance are confounded, as in real logs.
"""
from __future__ import annotations

import math

import numpy as np

from transform.simulator.config import SimulatorConfig
from transform.simulator.world import Pins, World, interest

AGE_WINDOW_DAYS = 7.0         # logs span a week: a pin's age grows during it

# Share of requests per hour of day: low at night, peak in the evening.
_HOUR_WEIGHTS = np.exp(0.9 * np.cos(2 * np.pi * (np.arange(24) - 20.5) / 24))
_EXPLORATION_RATE = 0.25      # share of candidates retrieved from global popularity
_RANKER_NOISE = 1.5           # noise of the production ranker that orders the candidates
_DEDUPE_ROUNDS = 4            # redraws of a pin retrieved twice for the same request


def impressions(world: World, config: SimulatorConfig, rng, n_rows: int, first_request_id: int) -> dict:
    """Index arrays of `n_rows` impressions: whole requests of K candidates, the last cut short.

    Returns per row `request_id`, `user` and `pin` (indices into the world's tables),
    `hour`, `slot` and `age_days` (the pin's age when shown, during the logs' week).
    """
    k = config.candidates_per_request
    n_requests = math.ceil(n_rows / k)
    users = _sample_cdf(world.users.request_cdf, rng.random(n_requests))
    hours = rng.choice(24, size=n_requests, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    pins = _rank(world, rng, users, _retrieve(world, rng, users, k))
    rows = {
        "request_id": np.repeat(first_request_id + np.arange(n_requests, dtype=np.int64), k),
        "user": np.repeat(users, k),
        "hour": np.repeat(hours.astype(np.int64), k),
        "slot": np.tile(np.arange(k, dtype=np.int64), n_requests),
        "pin": pins.ravel(),
    }
    rows = {name: values[:n_rows] for name, values in rows.items()}
    rows["age_days"] = world.pins.created_days_ago[rows["pin"]] + AGE_WINDOW_DAYS * rng.random(n_rows)
    return rows


def _sample_cdf(cdf: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Indices drawn by inverting a cumulative weight array with uniforms scaled to its range."""
    return np.minimum(np.searchsorted(cdf, uniform * cdf[-1], side="right"), len(cdf) - 1)


def _retrieve(world: World, rng, users: np.ndarray, k: int) -> np.ndarray:
    """(requests, k) candidate pins, as a retrieval system would return them.

    Most candidates come from a topic drawn from the user's preference, by popularity within
    the topic; `_EXPLORATION_RATE` of them by global popularity. A pin retrieved twice for
    one request is replaced by a popular pin (a few rounds; a leftover repeat is very rare).
    """
    pins = _pins_of_topics(world.pins, rng, _preferred_topics(world, rng, users, k))
    explore = rng.random(pins.shape) < _EXPLORATION_RATE
    pins[explore] = _popular_pins(world.pins, rng, int(explore.sum()))
    for _ in range(_DEDUPE_ROUNDS):
        repeated = _repeated_mask(pins)
        if not repeated.any():
            break
        pins[repeated] = _popular_pins(world.pins, rng, int(repeated.sum()))
    return pins


def _preferred_topics(world: World, rng, users: np.ndarray, k: int) -> np.ndarray:
    """(requests, k) topics drawn from each request's user topic preference."""
    cdf = np.cumsum(world.users.topic_preference[users], axis=1)
    uniform = rng.random((len(users), k))
    topics = (cdf[:, None, :] < uniform[:, :, None]).sum(axis=2)
    return np.minimum(topics, world.n_topics - 1)


def _pins_of_topics(pins: Pins, rng, topics: np.ndarray) -> np.ndarray:
    """One pin per entry of `topics`, by popularity among that topic's pins."""
    start, end = pins.topic_cdf_start[topics], pins.topic_cdf_end[topics]
    target = start + rng.random(topics.shape) * (end - start)
    position = np.searchsorted(pins.popularity_cdf, target, side="right")
    return pins.by_topic[np.minimum(position, len(pins.by_topic) - 1)]


def _popular_pins(pins: Pins, rng, n: int) -> np.ndarray:
    return pins.by_topic[_sample_cdf(pins.popularity_cdf, rng.random(n))]


def _repeated_mask(pins: np.ndarray) -> np.ndarray:
    """True where a pin already appears earlier (in sorted order) in the same request row."""
    order = np.argsort(pins, axis=1, kind="stable")
    sorted_pins = np.take_along_axis(pins, order, axis=1)
    repeated_sorted = np.zeros(pins.shape, dtype=bool)
    repeated_sorted[:, 1:] = sorted_pins[:, 1:] == sorted_pins[:, :-1]
    repeated = np.zeros(pins.shape, dtype=bool)
    np.put_along_axis(repeated, order, repeated_sorted, axis=1)
    return repeated


def _rank(world: World, rng, users: np.ndarray, pins: np.ndarray) -> np.ndarray:
    """Orders each request's candidates by a noisy production score into slots 0..K-1.

    The score (interest + 0.5 quality + noise) makes the slot correlated with relevance, so
    position bias and relevance are confounded as in real logs.
    """
    relevance = interest(world, np.broadcast_to(users[:, None], pins.shape), pins)
    score = relevance + 0.5 * world.pins.quality[pins] + _RANKER_NOISE * rng.standard_normal(pins.shape)
    return np.take_along_axis(pins, np.argsort(-score, axis=1, kind="stable"), axis=1)

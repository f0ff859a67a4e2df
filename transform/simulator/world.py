"""The simulated world: users, creators and pins, with the hidden latents behind their actions.

The tables are drawn once per config from the world's random stream, so any process can
rebuild the world a run logged (`impression_latents`). Users and pins also carry the
vocabularies the logs name them by (countries, user states, devices, pin types), and a
user's affinity to a pin's topic (`affinity`, `interest`) that both the production ranker
and the true probabilities use.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from transform.simulator.config import SimulatorConfig
from transform.simulator.streams import world_rng

COUNTRIES = ("US", "BR", "GB", "DE", "FR", "MX", "CA", "JP", "IN", "AU")
COUNTRY_SHARES = (0.38, 0.13, 0.08, 0.07, 0.07, 0.07, 0.06, 0.05, 0.05, 0.04)
USER_STATES = ("new", "casual", "core")
USER_STATE_SHARES = (0.30, 0.45, 0.25)
DEVICES = ("ios", "android", "web")
DEVICE_SHARES = (0.42, 0.40, 0.18)
PIN_TYPES = ("image", "video", "product", "idea")
PIN_TYPE_SHARES = (0.55, 0.15, 0.15, 0.15)
VIDEO = PIN_TYPES.index("video")

# Requests per user by state (times a lognormal per-user factor): core users come back often.
_STATE_ACTIVITY = np.array([1.5, 4.0, 12.0])
# How much topic affinity moves engagement, by user state: established users are choosier.
_STATE_AFFINITY_GAIN = np.array([0.5, 0.9, 1.3])


@dataclasses.dataclass(frozen=True)
class Users:
    """User table: ids, country, state and device are logged; the rest are hidden latents."""

    ids: np.ndarray
    country: np.ndarray
    state: np.ndarray
    device: np.ndarray
    topic_preference: np.ndarray   # (n_users, n_topics), rows sum to 1
    request_cdf: np.ndarray        # cumulative share of feed requests (activity level)
    engagement: np.ndarray         # general propensity to act
    hide_propensity: np.ndarray
    video_affinity: np.ndarray


@dataclasses.dataclass(frozen=True)
class Pins:
    """Pin table, plus the popularity CDF ordered by topic that retrieval samples from."""

    ids: np.ndarray
    pin_type: np.ndarray
    topic: np.ndarray
    creator_id: np.ndarray
    created_days_ago: np.ndarray
    quality: np.ndarray
    clickbait: np.ndarray
    watchability: np.ndarray       # 0 for non-video pins
    by_topic: np.ndarray           # pin indices sorted by topic
    popularity_cdf: np.ndarray     # cumulative popularity along `by_topic`
    topic_cdf_start: np.ndarray    # popularity_cdf value where each topic's pins begin
    topic_cdf_end: np.ndarray


@dataclasses.dataclass(frozen=True)
class World:
    """The in-memory tables every shard draws its requests from."""

    users: Users
    pins: Pins
    n_topics: int
    # 30-day counters: history key -> counter -> count per row of `history.history_index`
    history: dict[str, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)


def build_world(config: SimulatorConfig) -> World:
    """The user and pin tables of `config`'s world, without the 30-day counters."""
    rng = world_rng(config)
    topic_share = _zipf_weights(config.n_topics, exponent=0.8, offset=3.0)
    pins = _build_pins(rng, config, topic_share)
    topics_with_pins = np.bincount(pins.topic, minlength=config.n_topics) > 0
    users = _build_users(rng, config, topic_share, topics_with_pins)
    return World(users=users, pins=pins, n_topics=config.n_topics)


def impression_latents(config: SimulatorConfig, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The hidden latents behind logged rows of `config`'s world, which the logs never carry.

    `columns` holds the rows' `pin_id` and `user_id`; returns per row the pin's quality,
    clickbait and watchability (0 for non-video pins), the user's engagement, hide
    propensity and video affinity, and the user's affinity to the pin's topic (`affinity`).
    Analyses use them to check what a model can learn from the logs, e.g. that watchability
    and video affinity drive video_watch and barely any other action. Rebuilding the world
    from `config` draws the same world `simulate` did.
    """
    world = build_world(config)
    pins, users = columns["pin_id"] - 1, columns["user_id"] - 1
    return {
        "quality": world.pins.quality[pins],
        "clickbait": world.pins.clickbait[pins],
        "watchability": world.pins.watchability[pins],
        "engagement": world.users.engagement[users],
        "hide_propensity": world.users.hide_propensity[users],
        "video_affinity": world.users.video_affinity[users],
        "topic_affinity": affinity(world, users, pins),
    }


def affinity(world: World, users: np.ndarray, pins: np.ndarray) -> np.ndarray:
    """a = log1p(n_topics * preference[user, topic of pin]) - 1: about -1 to 2.5."""
    preference = world.users.topic_preference[users, world.pins.topic[pins]]
    return np.log1p(world.n_topics * preference) - 1.0


def interest(world: World, users: np.ndarray, pins: np.ndarray) -> np.ndarray:
    """i = g[user state] * a: affinity matters more for core users than for new ones."""
    return _STATE_AFFINITY_GAIN[world.users.state[users]] * affinity(world, users, pins)


def _zipf_weights(n: int, exponent: float, offset: float) -> np.ndarray:
    """Normalised weights (rank + offset)^-exponent for ranks 0..n-1."""
    weights = (np.arange(n) + offset) ** -exponent
    return weights / weights.sum()


def _build_users(rng, config: SimulatorConfig, topic_share, topics_with_pins) -> Users:
    """Users with a few favourite topics (sparse Dirichlet around the topics' popularity)."""
    n = config.n_users
    state = rng.choice(len(USER_STATES), size=n, p=USER_STATE_SHARES)
    preference = rng.dirichlet(3.0 * topic_share, size=n) * topics_with_pins
    preference = np.maximum(preference, 1e-12 * topics_with_pins)  # no all-zero row in tiny worlds
    activity = _STATE_ACTIVITY[state] * rng.lognormal(0.0, 0.6, size=n)
    return Users(
        ids=np.arange(1, n + 1, dtype=np.int64),
        country=rng.choice(len(COUNTRIES), size=n, p=COUNTRY_SHARES),
        state=state,
        device=rng.choice(len(DEVICES), size=n, p=DEVICE_SHARES),
        topic_preference=preference / preference.sum(axis=1, keepdims=True),
        request_cdf=np.cumsum(activity) / activity.sum(),
        engagement=rng.normal(0.0, 0.35, size=n),
        hide_propensity=rng.normal(0.0, 0.5, size=n),
        video_affinity=rng.normal(0.0, 1.0, size=n),
    )


def _build_pins(rng, config: SimulatorConfig, topic_share) -> Pins:
    """Pins of creators: topic mostly the creator's, quality = creator quality + noise.

    Popularity is Zipf-like over a random ranking (boosted by quality), so a few pins are
    retrieved very often and most only a few times.
    """
    n = config.n_pins
    creator_topic = rng.choice(config.n_topics, size=config.n_creators, p=topic_share)
    creator_quality = rng.normal(0.0, 0.6, size=config.n_creators)
    productivity = rng.lognormal(0.0, 1.0, size=config.n_creators)
    creator = rng.choice(config.n_creators, size=n, p=productivity / productivity.sum())
    off_topic = rng.random(n) < 0.2
    random_topic = rng.choice(config.n_topics, size=n, p=topic_share)
    topic = np.where(off_topic, random_topic, creator_topic[creator])
    pin_type = rng.choice(len(PIN_TYPES), size=n, p=PIN_TYPE_SHARES)
    quality = creator_quality[creator] + rng.normal(0.0, 0.6, size=n)
    watchability = 0.3 * quality + rng.normal(0.0, 1.0, size=n)
    popularity = _zipf_weights(n, exponent=1.05, offset=30.0)[rng.permutation(n)] * np.exp(0.4 * quality)
    by_topic = np.argsort(topic, kind="stable")
    popularity_cdf = np.cumsum(popularity[by_topic])
    topic_bounds = np.concatenate([[0.0], popularity_cdf])[
        np.concatenate([[0], np.cumsum(np.bincount(topic, minlength=config.n_topics))])
    ]
    return Pins(
        ids=np.arange(1, n + 1, dtype=np.int64),
        pin_type=pin_type,
        topic=topic,
        creator_id=creator.astype(np.int64) + 1,
        created_days_ago=rng.lognormal(np.log(40.0), 1.3, size=n),
        quality=quality,
        clickbait=rng.normal(0.0, 0.6, size=n),
        watchability=np.where(pin_type == VIDEO, watchability, 0.0),
        by_topic=by_topic,
        popularity_cdf=popularity_cdf,
        topic_cdf_start=topic_bounds[:-1],
        topic_cdf_end=topic_bounds[1:],
    )

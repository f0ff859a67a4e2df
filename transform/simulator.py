"""Home-feed impression-log simulator: the package's built-in data source.

Why: a multi-task ranker needs logs whose true action probabilities are known, so that the
evaluation can compare a model with the truth and not only with noisy labels. The simulator
draws a world (users, creators, pins with hidden latents), then feed requests: a user, a
retrieved and pre-ranked set of candidate pins at slots 0..K-1, and one impression row per
candidate with the true probability of every action and a label drawn from it. When the
spec names them, each row also carries engagement counters of the 30 days before the logs
for its pin, its user, and its user on the pin's topic (`_history_counters`), as production
feeds log them.

What is written, for each split (train, eval, calibration):
  output_dir/<split>/part-XXXXX-of-YYYYY.tfrecord   uncompressed TFRecord of tf.Example
  output_dir/schema.pbtxt                            schema of a log row (every spec column)
  output_dir/metadata.json                           config, row counts, shards, label rates

Every column name comes from the `Spec` (features, task labels and truths, group key); the
generative model itself is that of the packaged `homefeed` spec. Shards are generated one at
a time from their own random stream, so output is byte-identical for a config and memory
does not grow with the row count; every file is written under a temporary name and renamed.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf
from scipy.special import ndtr
from tfx_bsl.coders import example_coder
from tqdm import tqdm

from transform.common.config import Config, ConfigError
from transform.common.files import write_text
from transform.schema import logged_data_feature_spec, schema_from_spec, write_schema
from transform.spec import Spec, Task, packaged_spec

SPLITS = ("train", "eval", "calibration")
SCHEMA_FILE = "schema.pbtxt"
METADATA_FILE = "metadata.json"

COUNTRIES = ("US", "BR", "GB", "DE", "FR", "MX", "CA", "JP", "IN", "AU")
COUNTRY_SHARES = (0.38, 0.13, 0.08, 0.07, 0.07, 0.07, 0.06, 0.05, 0.05, 0.04)
USER_STATES = ("new", "casual", "core")
USER_STATE_SHARES = (0.30, 0.45, 0.25)
DEVICES = ("ios", "android", "web")
DEVICE_SHARES = (0.42, 0.40, 0.18)
PIN_TYPES = ("image", "video", "product", "idea")
PIN_TYPE_SHARES = (0.55, 0.15, 0.15, 0.15)
VIDEO = PIN_TYPES.index("video")

SIMULATED_TASKS = ("closeup", "click", "long_click", "save", "hide", "video_watch")
# Engagement counters over the 30 days before the logs, per pin, user and user x topic (`_history_counters`).
HISTORY_COUNTERS = {"impressions": None, "closeups": "closeup", "clicks": "click", "long_clicks": "long_click",
                    "saves": "save", "hides": "hide", "video_watches": "video_watch"}  # counter: task it counts
HISTORY_KEYS = ("pin", "user", "user_topic")  # whose impressions a counter counts
HISTORY_FEATURES = tuple(f"{key}_{counter}_30d" for key in HISTORY_KEYS for counter in HISTORY_COUNTERS)
SIMULATED_FEATURES = {  # name: dtype of every feature column the simulator can write
    "user_id": "int64", "country": "string", "user_state": "string", "device": "string",
    "pin_id": "int64", "pin_type": "string", "topic": "string", "creator_id": "int64",
    "hour": "int64", "pin_age_days": "float", "slot": "int64",
    **{name: "int64" for name in HISTORY_FEATURES},
}
GROUP_KEY = "request_id"

# Requests per user by state (times a lognormal per-user factor): core users come back often.
_STATE_ACTIVITY = np.array([1.5, 4.0, 12.0])
# How much topic affinity moves engagement, by user state: established users are choosier.
_STATE_AFFINITY_GAIN = np.array([0.5, 0.9, 1.3])
_STATE_SAVE = np.array([-0.4, 0.0, 0.4])
_STATE_HIDE = np.array([0.3, 0.0, -0.2])
# Per pin type (image, video, product, idea): products get clicks, ideas get saves.
_TYPE_CLOSEUP = np.array([0.0, -0.3, 0.1, 0.3])
_TYPE_CLICK = np.array([0.0, -0.6, 1.0, -0.4])
_TYPE_LONG_CLICK = np.array([0.0, -0.2, -0.3, 0.4])
_TYPE_SAVE = np.array([0.0, -0.5, 0.2, 1.0])
_TYPE_HIDE = np.array([0.0, 0.2, 0.3, -0.1])
# Per device (ios, android, web): big screens click out, phones watch videos.
_DEVICE_CLOSEUP = np.array([0.1, 0.0, -0.2])
_DEVICE_CLICK = np.array([0.0, -0.1, 0.3])
_DEVICE_VIDEO = np.array([0.2, 0.2, -0.6])
_COUNTRY_ENGAGEMENT = np.array([0.0, 0.2, -0.05, -0.15, -0.1, 0.15, 0.0, -0.3, 0.1, 0.0])
# Share of requests per hour of day: low at night, peak in the evening.
_HOUR_WEIGHTS = np.exp(0.9 * np.cos(2 * np.pi * (np.arange(24) - 20.5) / 24))

_EXPLORATION_RATE = 0.25      # share of candidates retrieved from global popularity
_RANKER_NOISE = 1.5           # noise of the production ranker that orders the candidates
_DEDUPE_ROUNDS = 4            # redraws of a pin retrieved twice for the same request
_LABEL_CORRELATION = 0.5      # weight of the shared per-impression normal in every label
_AGE_WINDOW_DAYS = 7.0        # logs span a week: a pin's age grows during it
_HISTORY_DAYS = 30.0          # the counters cover the 30 days before the logs, at the feed's daily traffic
_SHARES = ("train_negative_rate", "logged_share")  # SimulatorConfig fields that are fractions in (0, 1]
_HISTORY_STREAM = len(SPLITS) + 1  # first random stream key of the history, after world (0) and splits


@dataclasses.dataclass(frozen=True)
class SimulatorConfig(Config):
    """Size of the simulated world and of each split: the `simulator` section of a run's configuration.

    Attributes:
      seed: seed of every random draw; the same config writes the same bytes.
      n_users: users in the world.
      n_pins: pins in the world.
      n_creators: creators the pins belong to.
      n_topics: topics of pins and of users' interests.
      candidates_per_request: candidate pins logged per feed request.
      train_rows: logged rows of the train split, before any negative downsampling.
      eval_rows: logged rows of the eval split.
      calibration_rows: logged rows of the calibration split.
      rows_per_shard: rows per written TFRecord file.
      train_negative_rate: keep this fraction of no-action training rows (1.0: no downsampling);
        eval and calibration rows are never downsampled.
      logged_share: the logs' share of the feed's impressions; the 30-day counters count them all.
    """

    seed: int = 0
    n_users: int = 200_000
    n_pins: int = 500_000
    n_creators: int = 50_000
    n_topics: int = 32
    candidates_per_request: int = 20
    train_rows: int = 5_000_000
    eval_rows: int = 200_000
    calibration_rows: int = 200_000
    rows_per_shard: int = 100_000
    train_negative_rate: float = 1.0
    logged_share: float = 0.1

    def validate(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in _SHARES and not 0.0 < value <= 1.0:
                raise ConfigError(f"must be in (0, 1], got {value!r}", field=field.name)
            if field.name not in _SHARES and value < (0 if field.name == "seed" else 1):
                raise ConfigError(f"must be {'non-negative' if field.name == 'seed' else 'positive'}, got {value!r}",
                                  field=field.name)

    def rows(self, split: str) -> int:
        """Rows generated for a split, before any negative downsampling."""
        return {"train": self.train_rows, "eval": self.eval_rows, "calibration": self.calibration_rows}[split]

    def negative_rate(self, split: str) -> float:
        """Share of no-action rows kept: downsampling applies to train only."""
        return self.train_negative_rate if split == "train" else 1.0


@dataclasses.dataclass(frozen=True)
class _Users:
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
class _Pins:
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
class _World:
    """The in-memory tables every shard draws its requests from."""

    users: _Users
    pins: _Pins
    n_topics: int
    # 30-day counters: history key (HISTORY_KEYS) -> counter -> count per `_history_index` row
    history: dict[str, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class _ShardPlan:
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


def simulate(config: SimulatorConfig, output_dir: str, spec: Optional[Spec] = None) -> dict:
    """Writes the train, eval and calibration logs, the schema and metadata.json.

    Returns the metadata dict (also written to output_dir/metadata.json): the config, and per
    split the row count (after downsampling), shard files (relative to output_dir), label mean
    and mean true probability per task (on the task's segment rows), and the negative
    downsampling rate applied.
    """
    spec = spec or packaged_spec("homefeed")
    _check_spec(spec)
    schema = schema_from_spec(logged_data_feature_spec(spec))
    world = _build_world(config)
    if any(feature.name in HISTORY_FEATURES for feature in spec.features):
        world = dataclasses.replace(world, history=_history_counters(world, config))
    encoder = example_coder.RecordBatchToExamplesEncoder(schema)
    tf.io.gfile.makedirs(output_dir)
    write_schema(schema, os.path.join(output_dir, SCHEMA_FILE))
    splits = {split: _empty_split_stats(spec, config.negative_rate(split)) for split in SPLITS}
    for plan in tqdm(_plan_shards(config), desc="simulate", unit="shard"):
        shard = _simulate_shard(world, config, plan)
        _write_records(os.path.join(output_dir, plan.relative_path), _encode(encoder, spec, shard))
        _add_shard_stats(splits[plan.split], spec, shard, plan.relative_path)
    for split, stats in splits.items():
        _remove_stale_shards(output_dir, split, stats["shards"])
    metadata = {
        "config": dataclasses.asdict(config),
        "spec": spec.name,
        "schema": SCHEMA_FILE,
        "splits": {split: _finish_split_stats(stats) for split, stats in splits.items()},
    }
    metadata_text = json.dumps(metadata, indent=2, sort_keys=True) + "\n"
    write_text(metadata_text, os.path.join(output_dir, METADATA_FILE))
    return metadata


def _check_spec(spec: Spec) -> None:
    """The spec may name only columns the simulator produces, with the dtypes it produces."""
    problems = [
        f"feature {f.name!r} ({f.dtype})"
        for f in spec.features
        if SIMULATED_FEATURES.get(f.name) != f.dtype
    ]
    problems += [f"task {t.name!r}" for t in spec.tasks if t.name not in SIMULATED_TASKS]
    if spec.group_key not in (None, GROUP_KEY):
        problems.append(f"group key {spec.group_key!r}")
    if problems:
        raise ValueError(
            f"spec {spec.name!r} names {', '.join(problems)}, which the simulator does not produce; it "
            f"produces features {SIMULATED_FEATURES}, tasks {SIMULATED_TASKS}, group key {GROUP_KEY!r}"
        )


def _plan_shards(config: SimulatorConfig) -> list[_ShardPlan]:
    """Splits every split into shards; request ids are consecutive across all shards."""
    plans, next_request_id = [], 1
    for split_index, split in enumerate(SPLITS):
        total = config.rows(split)
        count = math.ceil(total / config.rows_per_shard)
        for index in range(count):
            rows = min(config.rows_per_shard, total - index * config.rows_per_shard)
            plans.append(_ShardPlan(split, split_index, index, count, rows, next_request_id))
            next_request_id += math.ceil(rows / config.candidates_per_request)
    return plans


def _rng(config: SimulatorConfig, *stream: int) -> np.random.Generator:
    """Independent random stream per purpose: (0,) for the world, (1 + split, shard) per shard."""
    return np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=stream))


# ----------------------------------------------------------------------------- world


def _build_world(config: SimulatorConfig) -> _World:
    rng = _rng(config, 0)
    topic_share = _zipf_weights(config.n_topics, exponent=0.8, offset=3.0)
    pins = _build_pins(rng, config, topic_share)
    topics_with_pins = np.bincount(pins.topic, minlength=config.n_topics) > 0
    users = _build_users(rng, config, topic_share, topics_with_pins)
    return _World(users=users, pins=pins, n_topics=config.n_topics)


def impression_latents(config: SimulatorConfig, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The hidden latents behind logged rows of `config`'s world, which the logs never carry.

    `columns` holds the rows' `pin_id` and `user_id`; returns per row the pin's quality,
    clickbait and watchability (0 for non-video pins), the user's engagement, hide
    propensity and video affinity, and the user's affinity to the pin's topic (`_affinity`).
    Analyses use them to check what a model can learn from the logs, e.g. that watchability and video affinity drive video_watch and barely any
    other action. Rebuilding the world from `config` draws the same world `simulate` did.
    """
    world = _build_world(config)
    pins, users = columns["pin_id"] - 1, columns["user_id"] - 1
    return {
        "quality": world.pins.quality[pins],
        "clickbait": world.pins.clickbait[pins],
        "watchability": world.pins.watchability[pins],
        "engagement": world.users.engagement[users],
        "hide_propensity": world.users.hide_propensity[users],
        "video_affinity": world.users.video_affinity[users],
        "topic_affinity": _affinity(world, users, pins),
    }


def _zipf_weights(n: int, exponent: float, offset: float) -> np.ndarray:
    """Normalised weights (rank + offset)^-exponent for ranks 0..n-1."""
    weights = (np.arange(n) + offset) ** -exponent
    return weights / weights.sum()


def _build_users(rng, config: SimulatorConfig, topic_share, topics_with_pins) -> _Users:
    """Users with a few favourite topics (sparse Dirichlet around the topics' popularity)."""
    n = config.n_users
    state = rng.choice(len(USER_STATES), size=n, p=USER_STATE_SHARES)
    preference = rng.dirichlet(3.0 * topic_share, size=n) * topics_with_pins
    preference = np.maximum(preference, 1e-12 * topics_with_pins)  # no all-zero row in tiny worlds
    activity = _STATE_ACTIVITY[state] * rng.lognormal(0.0, 0.6, size=n)
    return _Users(
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


def _build_pins(rng, config: SimulatorConfig, topic_share) -> _Pins:
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
    return _Pins(
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


# -------------------------------------------------------------------------- requests


def _impressions(world: _World, config: SimulatorConfig, rng, n_rows: int, first_request_id: int) -> dict:
    """Index arrays of `n_rows` impressions: whole requests of K candidates, the last cut short."""
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
    rows["age_days"] = world.pins.created_days_ago[rows["pin"]] + _AGE_WINDOW_DAYS * rng.random(n_rows)
    return rows


def _sample_cdf(cdf: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Indices drawn by inverting a cumulative weight array with uniforms scaled to its range."""
    return np.minimum(np.searchsorted(cdf, uniform * cdf[-1], side="right"), len(cdf) - 1)


def _retrieve(world: _World, rng, users: np.ndarray, k: int) -> np.ndarray:
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


def _preferred_topics(world: _World, rng, users: np.ndarray, k: int) -> np.ndarray:
    """(requests, k) topics drawn from each request's user topic preference."""
    cdf = np.cumsum(world.users.topic_preference[users], axis=1)
    uniform = rng.random((len(users), k))
    topics = (cdf[:, None, :] < uniform[:, :, None]).sum(axis=2)
    return np.minimum(topics, world.n_topics - 1)


def _pins_of_topics(pins: _Pins, rng, topics: np.ndarray) -> np.ndarray:
    """One pin per entry of `topics`, by popularity among that topic's pins."""
    start, end = pins.topic_cdf_start[topics], pins.topic_cdf_end[topics]
    target = start + rng.random(topics.shape) * (end - start)
    position = np.searchsorted(pins.popularity_cdf, target, side="right")
    return pins.by_topic[np.minimum(position, len(pins.by_topic) - 1)]


def _popular_pins(pins: _Pins, rng, n: int) -> np.ndarray:
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


def _rank(world: _World, rng, users: np.ndarray, pins: np.ndarray) -> np.ndarray:
    """Orders each request's candidates by a noisy production score into slots 0..K-1.

    The score (interest + 0.5 quality + noise) makes the slot correlated with relevance, so
    position bias and relevance are confounded as in real logs.
    """
    interest = _interest(world, np.broadcast_to(users[:, None], pins.shape), pins)
    score = interest + 0.5 * world.pins.quality[pins] + _RANKER_NOISE * rng.standard_normal(pins.shape)
    return np.take_along_axis(pins, np.argsort(-score, axis=1, kind="stable"), axis=1)


def _affinity(world: _World, users: np.ndarray, pins: np.ndarray) -> np.ndarray:
    """a = log1p(n_topics * preference[user, topic of pin]) - 1: about -1 to 2.5."""
    preference = world.users.topic_preference[users, world.pins.topic[pins]]
    return np.log1p(world.n_topics * preference) - 1.0


def _interest(world: _World, users: np.ndarray, pins: np.ndarray) -> np.ndarray:
    """i = g[user state] * a: affinity matters more for core users than for new ones."""
    return _STATE_AFFINITY_GAIN[world.users.state[users]] * _affinity(world, users, pins)


# ---------------------------------------------------------------- probabilities, labels


@dataclasses.dataclass(frozen=True)
class _Latents:
    """Per-impression inputs of the true probabilities, observed and hidden."""

    affinity: np.ndarray
    interest: np.ndarray
    quality: np.ndarray
    clickbait: np.ndarray
    watchability: np.ndarray
    engagement: np.ndarray
    hide_propensity: np.ndarray
    video_affinity: np.ndarray
    log_slot: np.ndarray
    log_age: np.ndarray
    hour_cycle: np.ndarray
    pin_type: np.ndarray
    state: np.ndarray
    device: np.ndarray


def _latents(world: _World, rows: dict) -> _Latents:
    """Looks up the user and pin latents of each impression and transforms slot, age, hour."""
    users, pins, user, pin = world.users, world.pins, rows["user"], rows["pin"]
    return _Latents(
        affinity=_affinity(world, user, pin),
        interest=_interest(world, user, pin),
        quality=pins.quality[pin],
        clickbait=pins.clickbait[pin],
        watchability=pins.watchability[pin],
        engagement=users.engagement[user] + _COUNTRY_ENGAGEMENT[users.country[user]],
        hide_propensity=users.hide_propensity[user],
        video_affinity=users.video_affinity[user],
        log_slot=np.log1p(rows["slot"]),
        log_age=np.log1p(rows["age_days"]),
        hour_cycle=np.cos(2 * np.pi * (rows["hour"] - 21) / 24),
        pin_type=pins.pin_type[pin],
        state=users.state[user],
        device=users.device[user],
    )


def _true_probabilities(world: _World, rows: dict) -> dict[str, np.ndarray]:
    """True probability of every action of each impression, rounded to float32.

    Notation: a topic affinity and i = g * a interest (`_affinity`, `_interest`), q pin
    quality, b pin clickbait, w video watchability, e user engagement (+ country offset),
    r user hide propensity, v user video affinity, s slot, A = log1p(pin age in days),
    c = cos(2 pi (hour - 21) / 24); T_*, D_*, S_* are the per pin type, device and user
    state effects defined at the top of the module.

      closeup     = sigmoid(-3.25 + i + 0.5 q + 0.2 a q + T_closeup + D_closeup + e
                            - 0.3 log1p(s) - 0.1 (A - 3) + 0.15 c)
      click       = sigmoid(-3.8 + 0.8 i + 0.4 q + 0.6 b + T_click + D_click + e
                            - 0.35 log1p(s) + 0.1 c)
      long_click  = click * sigmoid(-1.4 + 0.3 i + 0.9 q - 1.0 b + T_long_click)
      save        = sigmoid(-5.8 + 1.2 i + 0.6 q + T_save + S_save + e
                            - 0.25 log1p(s) - 0.06 (A - 4)^2)
      hide        = sigmoid(-6.6 + softplus(-2 i) - 0.6 q + 0.7 b + T_hide + S_hide + r)
      video_watch = sigmoid(-1.5 + 1.4 w + 0.8 v + 0.25 i + 0.2 q + D_video
                            - 0.15 log1p(s) + 0.2 c)   on video pins, 0 elsewhere

    Rounding to float32 (the truth columns' type) means labels are drawn from exactly the
    probabilities written; float rounding is monotone, so long_click <= click still holds.
    """
    x = _latents(world, rows)
    long_given_click = _sigmoid(
        -1.4 + 0.3 * x.interest + 0.9 * x.quality - 1.0 * x.clickbait + _TYPE_LONG_CLICK[x.pin_type]
    )
    probabilities = {
        "closeup": _sigmoid(_closeup_logit(x)),
        "click": _sigmoid(_click_logit(x)),
        "save": _sigmoid(_save_logit(x)),
        "hide": _sigmoid(_hide_logit(x)),
        "video_watch": np.where(x.pin_type == VIDEO, _sigmoid(_video_watch_logit(x)), 0.0),
    }
    probabilities["long_click"] = probabilities["click"] * long_given_click
    return {task: probabilities[task].astype(np.float32) for task in SIMULATED_TASKS}


def _closeup_logit(x: _Latents) -> np.ndarray:
    return (
        -3.25 + x.interest + 0.5 * x.quality + 0.2 * x.affinity * x.quality + _TYPE_CLOSEUP[x.pin_type]
        + _DEVICE_CLOSEUP[x.device] + x.engagement - 0.3 * x.log_slot - 0.1 * (x.log_age - 3.0)
        + 0.15 * x.hour_cycle
    )


def _click_logit(x: _Latents) -> np.ndarray:
    return (
        -3.8 + 0.8 * x.interest + 0.4 * x.quality + 0.6 * x.clickbait + _TYPE_CLICK[x.pin_type]
        + _DEVICE_CLICK[x.device] + x.engagement - 0.35 * x.log_slot + 0.1 * x.hour_cycle
    )


def _save_logit(x: _Latents) -> np.ndarray:
    return (
        -5.8 + 1.2 * x.interest + 0.6 * x.quality + _TYPE_SAVE[x.pin_type] + _STATE_SAVE[x.state]
        + x.engagement - 0.25 * x.log_slot - 0.06 * (x.log_age - 4.0) ** 2
    )


def _hide_logit(x: _Latents) -> np.ndarray:
    return (
        -6.6 + np.logaddexp(0.0, -2.0 * x.interest) - 0.6 * x.quality + 0.7 * x.clickbait
        + _TYPE_HIDE[x.pin_type] + _STATE_HIDE[x.state] + x.hide_propensity
    )


def _video_watch_logit(x: _Latents) -> np.ndarray:
    return (
        -1.5 + 1.4 * x.watchability + 0.8 * x.video_affinity + 0.25 * x.interest + 0.2 * x.quality
        + _DEVICE_VIDEO[x.device] - 0.15 * x.log_slot + 0.2 * x.hour_cycle
    )


def _sigmoid(logit: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logit))


def _draw_labels(rng, probabilities: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """0/1 labels with correlated actions and exact marginals (a Gaussian copula).

    One shared standard normal z per impression: u_k = Phi(rho z + sqrt(1 - rho^2) eps_k)
    is uniform, so label_k = [u_k < p_k] has probability exactly p_k, while actions of the
    same impression are positively correlated (hide uses -z: anti-correlated). long_click
    reuses click's u with p_long_click <= p_click, so long_click = 1 implies click = 1.
    """
    n = len(probabilities["click"])
    shared = rng.standard_normal(n)
    rho = _LABEL_CORRELATION

    def uniform(sign: float) -> np.ndarray:
        return ndtr(sign * rho * shared + math.sqrt(1 - rho**2) * rng.standard_normal(n))

    draws = {
        "closeup": uniform(1.0),
        "click": uniform(1.0),
        "save": uniform(1.0),
        "hide": uniform(-1.0),
        "video_watch": uniform(1.0),
    }
    draws["long_click"] = draws["click"]
    return {task: (draws[task] < probabilities[task]).astype(np.int64) for task in SIMULATED_TASKS}


# ----------------------------------------------------------------------- history


def history_rows(config: SimulatorConfig) -> int:
    """Impressions of the 30 days before the logs: the feed's daily traffic (all splits over
    their `_AGE_WINDOW_DAYS`, divided by the logs' share of it) times `_HISTORY_DAYS`."""
    logged = sum(config.rows(split) for split in SPLITS)
    return round(logged / config.logged_share / _AGE_WINDOW_DAYS * _HISTORY_DAYS)


def _history_counters(world: _World, config: SimulatorConfig) -> dict[str, dict[str, np.ndarray]]:
    """Engagement counters of the 30 days before the logs, per pin, user and user x topic.

    Production feeds log such long-horizon counters as features; they are noisy estimates
    of what the logs hide: a pin's quality, clickbait and watchability, a user's engagement,
    hide propensity and video affinity, and a user's topic preference (through what it was
    shown and did on each topic). The history is `history_rows(config)` impressions of the
    same world, drawn as the logs are (`_impressions`, `_true_probabilities`, `_draw_labels`)
    on day d ~ U(0, 30) before the logs; an impression of a pin created after day d never
    happened and is dropped. Then, for a key x (a pin, a user, or a user and a topic) and a
    counter t:

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
        rng = _rng(config, _HISTORY_STREAM, chunk)
        rows = _impressions(world, config, rng, min(config.rows_per_shard, total - start), 1)
        age_days = world.pins.created_days_ago[rows["pin"]] - _HISTORY_DAYS * rng.random(len(rows["pin"]))
        shown = age_days >= 0.0
        rows["age_days"] = np.maximum(age_days, 0.0)
        labels = _draw_labels(rng, _true_probabilities(world, rows))
        for key, index in _history_index(world, rows["user"], rows["pin"]).items():
            keys, row_key = np.unique(index, return_inverse=True)  # only the chunk's keys, not the whole array
            for counter, task in HISTORY_COUNTERS.items():
                counted = shown if task is None else shown * labels[task]
                history[key][counter][keys] += np.bincount(row_key, weights=counted, minlength=len(keys)).astype(np.int64)
    return history


def _history_index(world: _World, user: np.ndarray, pin: np.ndarray) -> dict[str, np.ndarray]:
    """Row of each impression in the counter arrays of every history key."""
    return {"pin": pin, "user": user, "user_topic": user * world.n_topics + world.pins.topic[pin]}


# ------------------------------------------------------------------------ shards


@dataclasses.dataclass(frozen=True)
class _Shard:
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


def _simulate_shard(world: _World, config: SimulatorConfig, plan: _ShardPlan) -> _Shard:
    rng = _rng(config, 1 + plan.split_index, plan.index)
    rows = _impressions(world, config, rng, plan.rows, plan.first_request_id)
    truths = _true_probabilities(world, rows)
    labels = _draw_labels(rng, truths)
    keep = _kept_rows(rng, labels, config.negative_rate(plan.split))
    return _Shard(
        features={name: values[keep] for name, values in _feature_columns(world, rows).items()},
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


def _feature_columns(world: _World, rows: dict) -> dict[str, np.ndarray]:
    """Observed columns of each impression, with the dtypes in `SIMULATED_FEATURES`."""
    users, pins, user, pin = world.users, world.pins, rows["user"], rows["pin"]
    topic_names = _names([f"topic_{t:02d}" for t in range(world.n_topics)])
    return {
        "user_id": users.ids[user],
        "country": _names(COUNTRIES)[users.country[user]],
        "user_state": _names(USER_STATES)[users.state[user]],
        "device": _names(DEVICES)[users.device[user]],
        "pin_id": pins.ids[pin],
        "pin_type": _names(PIN_TYPES)[pins.pin_type[pin]],
        "topic": topic_names[pins.topic[pin]],
        "creator_id": pins.creator_id[pin],
        "hour": rows["hour"],
        "pin_age_days": rows["age_days"].astype(np.float32),
        "slot": rows["slot"],
        **_history_columns(world, user, pin),
        GROUP_KEY: rows["request_id"],
    }


def _history_columns(world: _World, user: np.ndarray, pin: np.ndarray) -> dict[str, np.ndarray]:
    """The counters of each impression's pin, user and user x topic (none without a history)."""
    index = _history_index(world, user, pin)
    return {f"{key}_{counter}_30d": counts[index[key]]
            for key, counters in world.history.items() for counter, counts in counters.items()}


def _names(values) -> np.ndarray:
    return np.array([value.encode() for value in values])


def _encode(encoder, spec: Spec, shard: _Shard) -> list[bytes]:
    """Serialised tf.Examples of a shard, features in the spec's column order.

    tfx_bsl writes a row's features in hash-map order, which changes from one process to
    the next. Encoding one column at a time and concatenating each row's single-feature
    messages (protobuf merges concatenated messages into one) fixes the order, so a config
    always gives byte-identical files.
    """
    columns = [_encode_column(encoder, name, values) for name, values in shard.columns(spec).items()]
    return pc.binary_join_element_wise(*columns, b"").to_pylist()


def _encode_column(encoder, name: str, values: np.ndarray) -> pa.Array:
    """Single-feature tf.Examples of one column; each distinct value is encoded once.

    Most columns (labels, categories, ids of the in-memory tables) repeat a few values, so
    encoding the distinct values and gathering them is much faster than encoding every row.
    """
    distinct, row_to_distinct = np.unique(values, return_inverse=True)
    offsets = pa.array(np.arange(len(distinct) + 1, dtype=np.int32))
    batch = pa.RecordBatch.from_arrays([pa.ListArray.from_arrays(offsets, pa.array(distinct))], [name])
    return pa.array(encoder.encode(batch), type=pa.binary()).take(pa.array(row_to_distinct))


# ------------------------------------------------------------------- files, stats


def _temporary_path(path: str) -> str:
    """A hidden name beside `path` that no shard pattern matches."""
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")


def _write_records(path: str, records: list[bytes]) -> None:
    tf.io.gfile.makedirs(os.path.dirname(path))
    temporary = _temporary_path(path)
    with tf.io.TFRecordWriter(temporary) as writer:
        for record in records:
            writer.write(record)
    tf.io.gfile.rename(temporary, path, overwrite=True)


def _remove_stale_shards(output_dir: str, split: str, shards: list[str]) -> None:
    """Deletes shards of an earlier run with another shard count, so a glob reads this run only."""
    current = {os.path.basename(shard) for shard in shards}
    for path in tf.io.gfile.glob(os.path.join(output_dir, split, "part-*-of-*.tfrecord")):
        if os.path.basename(path) not in current:
            tf.io.gfile.remove(path)


def _segment_mask(task: Task, shard: _Shard) -> np.ndarray:
    """Rows on which the task is defined (all rows for a task without a segment)."""
    if task.segment is None:
        return np.ones(shard.rows, dtype=bool)
    values = shard.features[task.segment.feature]
    as_text = np.char.decode(values) if values.dtype.kind == "S" else values.astype(str)
    return np.isin(as_text, list(task.segment.values))


def _empty_split_stats(spec: Spec, negative_rate: float) -> dict:
    return {
        "rows": 0,
        "rows_before_downsampling": 0,
        "negative_downsampling_rate": negative_rate,
        "shards": [],
        "task_rows": {task.name: 0 for task in spec.tasks},
        "label_sum": {task.name: 0 for task in spec.tasks},
        "truth_sum": {task.name: 0.0 for task in spec.tasks},
    }


def _add_shard_stats(stats: dict, spec: Spec, shard: _Shard, path: str) -> None:
    stats["rows"] += shard.rows
    stats["rows_before_downsampling"] += shard.generated_rows
    stats["shards"].append(path)
    for task in spec.tasks:
        in_segment = _segment_mask(task, shard)
        stats["task_rows"][task.name] += int(in_segment.sum())
        stats["label_sum"][task.name] += int(shard.labels[task.name][in_segment].sum())
        stats["truth_sum"][task.name] += float(shard.truths[task.name][in_segment].sum(dtype=np.float64))


def _finish_split_stats(stats: dict) -> dict:
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

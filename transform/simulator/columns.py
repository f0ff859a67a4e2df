"""The columns the simulator can log: their names and dtypes, and their values per impression.

Every column a run writes is named by its `Spec` (features, task labels and truths, group
key); the generative model is that of the packaged `homefeed` spec, so a spec may name only
columns listed here, with these dtypes (`check_spec`).
"""
from __future__ import annotations

import numpy as np

from transform.simulator.behaviour import SIMULATED_TASKS
from transform.simulator.history import HISTORY_FEATURES, history_columns
from transform.simulator.world import COUNTRIES, DEVICES, PIN_TYPES, USER_STATES, World
from transform.spec import Spec

SIMULATED_FEATURES = {  # name: dtype of every feature column the simulator can write
    "user_id": "int64", "country": "string", "user_state": "string", "device": "string",
    "pin_id": "int64", "pin_type": "string", "topic": "string", "creator_id": "int64",
    "hour": "int64", "pin_age_days": "float", "slot": "int64",
    **{name: "int64" for name in HISTORY_FEATURES},
}
GROUP_KEY = "request_id"


def check_spec(spec: Spec) -> None:
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


def feature_columns(world: World, rows: dict) -> dict[str, np.ndarray]:
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
        **history_columns(world, user, pin),
        GROUP_KEY: rows["request_id"],
    }


def _names(values) -> np.ndarray:
    return np.array([value.encode() for value in values])

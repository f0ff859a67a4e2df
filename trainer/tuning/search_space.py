"""The hyperparameter search space: which `HParams` a search varies, and over which values.

A search space is a mapping entry -> domain, read from YAML or JSON. The packaged default
(`trainer/tuning/search_spaces/default.yaml`) is used unless a file is given; a file replaces it
whole. An entry is an `HParams` field name, `loss_weights.<task>` (the weight of that task's
loss, replacing the spec's `loss_weight`), or `loss_weights.*` (one such entry per task of
the spec). A domain is one of:

    {choice: [v1, v2, ...]}                       one of the values; a list value such as
                                                  [256, 128] is a tuple of layer widths
    {int: [low, high], step: 1}                   an integer in [low, high]
    {float: [low, high], sampling: linear | log}  a real number in [low, high]
    {fixed: value}                                every trial uses value

optionally with `when: {entry: [values]}`: the entry is searched only in trials where that
other (choice) entry takes one of the values (e.g. `num_experts` when `architecture` is
`mmoe`); in the other trials the base hyperparameters' value holds. Every mistake raises a
`SearchSpaceError` naming the file and the entry.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping

from trainer.hparams import HParams, hparams_from_dict
from transform.common.config import ConfigError, read_config_file
from transform.spec import Spec

PACKAGED_SEARCH_SPACE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "search_spaces", "default.yaml")
LOSS_WEIGHTS = "loss_weights"
TUNER_ENTRY_PREFIX = "tuner/"  # keras-tuner's own entries (Hyperband's epochs and rounds)
KINDS = ("choice", "int", "float", "fixed")
SAMPLINGS = ("linear", "log")
_OPTIONS = {"choice": {"when"}, "int": {"step", "when"}, "float": {"sampling", "when"}, "fixed": set()}


class SearchSpaceError(ConfigError):
    """A search space entry that cannot be searched; the message names the file and entry."""


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searched (or fixed) hyperparameter.

    Attributes:
      name: the entry: an HParams field or `loss_weights.<task>`.
      kind: `choice`, `int`, `float` or `fixed`.
      values: the choices (kind choice), or the one value (kind fixed).
      low, high, step, sampling: the range of an int or float entry.
      when: (parent entry, its values under which this entry is searched), or None.
    """

    name: str
    kind: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    step: int | None = None
    sampling: str = "linear"
    when: tuple[str, tuple] | None = None

    @property
    def labels(self) -> list:
        """The values (choices, or the fixed one) as the tuner holds them; see `label`."""
        return [label(value) for value in self.values]


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The dimensions of a search, in file order, and the file they came from."""

    dimensions: tuple[Dimension, ...]
    source: str

    def to_dict(self) -> dict:
        return {"source": self.source, "dimensions": [dataclasses.asdict(d) for d in self.dimensions]}


def label(value: Any) -> Any:
    """A value as a scalar for the tuner: a tuple of layer widths as its JSON text, e.g. "[256, 128]"."""
    return json.dumps(list(value)) if isinstance(value, (list, tuple)) else value


def load_search_space(spec: Spec, path: str | None = None) -> SearchSpace:
    """Reads and validates a search space file (the packaged default when `path` is None)."""
    path = path or PACKAGED_SEARCH_SPACE
    try:
        raw = read_config_file(path)
    except ConfigError as error:
        raise SearchSpaceError(str(error)) from error
    return search_space_from_dict(raw, spec, source=path)


def search_space_from_dict(raw: Any, spec: Spec, source: str = "<dict>") -> SearchSpace:
    """Builds and validates a search space from plain data; errors name `source` and the entry."""
    if not isinstance(raw, dict) or not raw:
        raise SearchSpaceError(f"{source}: a search space is a non-empty mapping of entry -> domain, "
                               f"e.g. {{dense_learning_rate: {{float: [0.0003, 0.01], sampling: log}}}}")
    dimensions = []
    for name, domain in raw.items():
        names = [f"{LOSS_WEIGHTS}.{task}" for task in spec.task_names] if name == f"{LOSS_WEIGHTS}.*" else [name]
        dimensions += [_dimension(entry, domain, spec, f"{source}: entry {entry!r}") for entry in names]
    by_name = {dimension.name: dimension for dimension in dimensions}
    if len(by_name) < len(dimensions):
        raise SearchSpaceError(f"{source}: an entry is declared twice (directly and through loss_weights.*)")
    for dimension in dimensions:
        _check_condition(dimension, by_name, f"{source}: entry {dimension.name!r}")
    return SearchSpace(tuple(dimensions), source)


def hparams_from_tuner_values(values: Mapping[str, Any], base: HParams | None = None) -> HParams:
    """The HParams of a trial: `base` with the trial's values (`keras_tuner.HyperParameters.values`).

    The values are what the tuner holds: every fixed entry and the searched entries active
    in the trial (a conditional entry is absent where its `when` does not hold, so the base
    value stays). The mapping needs no search space, so a trial's values alone (TFX's Tuner
    passes them to the Trainer) give the same HParams as the search did.
    """
    base = base or HParams()
    overrides = tuner_values_overrides(values)
    if LOSS_WEIGHTS in overrides:
        overrides[LOSS_WEIGHTS] = {**base.loss_weights, **overrides[LOSS_WEIGHTS]}
    return hparams_from_dict(overrides, base)


def tuner_values_overrides(values: Mapping[str, Any]) -> dict[str, Any]:
    """HParams overrides from tuner values: layer widths decoded from their JSON text,
    `loss_weights.<task>` gathered into `loss_weights`, keras-tuner's own `tuner/...` entries left out."""
    overrides, loss_weights = {}, {}
    for name, value in values.items():
        if name.startswith(TUNER_ENTRY_PREFIX):
            continue
        if isinstance(value, str) and value.startswith("["):
            value = tuple(json.loads(value))
        if name.startswith(f"{LOSS_WEIGHTS}."):
            loss_weights[name.split(".", 1)[1]] = value
        else:
            overrides[name] = value
    if loss_weights:
        overrides[LOSS_WEIGHTS] = loss_weights
    return overrides


def _dimension(name: str, domain: Any, spec: Spec, where: str) -> Dimension:
    value_type = _value_type(name, spec, where)
    if not isinstance(domain, dict):
        raise SearchSpaceError(f"{where}: a domain is a mapping with one of {list(KINDS)}, got {domain!r}")
    kinds = [key for key in domain if key in KINDS]
    if len(kinds) != 1:
        raise SearchSpaceError(f"{where}: give exactly one of {list(KINDS)}, got keys {sorted(domain)}")
    kind = kinds[0]
    unknown = sorted(set(domain) - {kind} - _OPTIONS[kind])
    if unknown:
        raise SearchSpaceError(f"{where}: unknown option(s) {unknown} for a {kind} entry; "
                               f"allowed: {sorted(_OPTIONS[kind])}")
    when = _when(domain.get("when"), where)
    if kind in ("choice", "fixed"):
        values = domain[kind] if kind == "choice" else [domain[kind]]
        if kind == "choice" and (not isinstance(values, list) or not values):
            raise SearchSpaceError(f"{where}: choice needs a non-empty list of values, got {values!r}")
        checked = tuple(_checked_value(name, value, value_type, where) for value in values)
        if len(set(checked)) < len(checked):
            raise SearchSpaceError(f"{where}: choice lists a value twice: {values!r}")
        return Dimension(name, kind, values=checked, when=when)
    return _range_dimension(name, kind, domain, value_type, when, where)


def _range_dimension(name: str, kind: str, domain: dict, value_type: type, when, where: str) -> Dimension:
    if value_type is not (int if kind == "int" else float):
        raise SearchSpaceError(f"{where}: {name} holds {value_type.__name__} values; a {kind} range does not fit it")
    bounds = domain[kind]
    number = int if kind == "int" else (int, float)
    if (not isinstance(bounds, list) or len(bounds) != 2
            or any(isinstance(b, bool) or not isinstance(b, number) for b in bounds)):
        raise SearchSpaceError(f"{where}: {kind} needs [low, high] of {kind} numbers, got {bounds!r}")
    low, high = bounds
    if low >= high:
        raise SearchSpaceError(f"{where}: low {low} must be below high {high}")
    step, sampling = domain.get("step"), domain.get("sampling", "linear")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 1):
        raise SearchSpaceError(f"{where}: step must be a positive integer, got {step!r}")
    if sampling not in SAMPLINGS:
        raise SearchSpaceError(f"{where}: sampling {sampling!r} is not one of {list(SAMPLINGS)}")
    if sampling == "log" and low <= 0:
        raise SearchSpaceError(f"{where}: log sampling needs low > 0, got {low}")
    for bound in (low, high):
        _checked_value(name, bound, value_type, where)
    return Dimension(name, kind, low=low, high=high, step=step, sampling=sampling, when=when)


def _value_type(name: str, spec: Spec, where: str) -> type:
    """The type of the entry's values: the HParams field's, float for a task loss weight."""
    if name.startswith(f"{LOSS_WEIGHTS}."):
        task = name.split(".", 1)[1]
        if task not in spec.task_names:
            raise SearchSpaceError(f"{where}: spec {spec.name!r} has no task {task!r}; "
                                   f"its tasks are {list(spec.task_names)}")
        return float
    defaults = dataclasses.asdict(HParams())
    if name == LOSS_WEIGHTS or name not in defaults:
        raise SearchSpaceError(f"{where}: not a hyperparameter; expected one of "
                               f"{sorted(set(defaults) - {LOSS_WEIGHTS})}"
                               f", {LOSS_WEIGHTS}.<task> or {LOSS_WEIGHTS}.*")
    return type(defaults[name])


def _checked_value(name: str, value: Any, value_type: type, where: str) -> Any:
    """`value` as the entry's type, checked by HParams itself; raises naming the entry."""
    if value_type is tuple:
        if not isinstance(value, list) or not value or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
            raise SearchSpaceError(f"{where}: {value!r} is not a list of positive layer widths, e.g. [256, 128]")
        value = tuple(value)
    elif value_type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    elif isinstance(value, bool) or not isinstance(value, value_type):
        raise SearchSpaceError(f"{where}: {value!r} is not a {value_type.__name__}")
    override = {LOSS_WEIGHTS: {name.split(".", 1)[1]: value}} if name.startswith(f"{LOSS_WEIGHTS}.") else {name: value}
    try:
        dataclasses.replace(HParams(), **override)
    except ConfigError as error:
        raise SearchSpaceError(f"{where}: {error}") from error
    return value


def _when(raw: Any, where: str) -> tuple[str, tuple] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or len(raw) != 1 or not isinstance(next(iter(raw.values())), list):
        raise SearchSpaceError(f"{where}: when needs one entry and its values, e.g. {{architecture: [mmoe, ple]}}, "
                               f"got {raw!r}")
    parent, values = next(iter(raw.items()))
    return parent, tuple(tuple(v) if isinstance(v, list) else v for v in values)


def _check_condition(dimension: Dimension, by_name: dict[str, Dimension], where: str) -> None:
    if dimension.when is None:
        return
    parent_name, values = dimension.when
    parent = by_name.get(parent_name)
    if parent is None or parent.kind != "choice":
        raise SearchSpaceError(f"{where}: when refers to {parent_name!r}, which is no choice entry of the space")
    if parent.when is not None:
        raise SearchSpaceError(f"{where}: when refers to {parent_name!r}, itself conditional; nest one level only")
    outside = [value for value in values if value not in parent.values]
    if outside:
        raise SearchSpaceError(f"{where}: when lists {outside}, which are not choices of {parent_name!r} "
                               f"({list(parent.values)})")

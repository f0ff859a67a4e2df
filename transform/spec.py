"""The one declaration of features, tasks and default utility weights.

Every stage (simulator, preprocessing_fn, model, calibration, utility, serving signature,
report) loops over a `Spec`; nothing else names a feature or a task. A spec is read from a
YAML or JSON file; the simulator's own spec ships with the package (`specs/homefeed.yaml`).
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Optional

import yaml

FEATURE_KINDS = ("id", "categorical", "numeric")
DTYPES = ("int64", "float", "string")
NUMERIC_SCALES = ("z", "log_z")
PACKAGED_SPECS = os.path.join(os.path.dirname(__file__), "specs")


class SpecError(ValueError):
    """A spec file that cannot be used; the message names the file and the field."""


@dataclasses.dataclass(frozen=True)
class Feature:
    """One raw input column and how it is preprocessed and embedded.

    Attributes:
      name: column name in the raw data, also the transformed feature's name.
      kind: `id` and `categorical` get a vocabulary with OOV buckets and an embedding;
        `numeric` is clipped, optionally log-scaled, then z-scored.
      dtype: raw type, one of int64, float, string.
      vocab_size: most frequent values kept in the vocabulary (id / categorical).
      oov_buckets: hash buckets for values outside the vocabulary.
      embedding_dim: embedding width (id / categorical).
      default: value used when the column is missing from a row.
      clip: (low, high) bounds applied before scaling (numeric).
      scale: `z` or `log_z` (log1p, then z-score) for numerics.
    """

    name: str
    kind: str
    dtype: str
    vocab_size: int = 0
    oov_buckets: int = 1
    embedding_dim: int = 8
    default: Any = None
    clip: Optional[tuple[float, float]] = None
    scale: str = "z"

    @property
    def is_categorical(self) -> bool:
        return self.kind in ("id", "categorical")

    @property
    def missing_value(self) -> Any:
        """The declared default, or a type-appropriate one."""
        if self.default is not None:
            return self.default
        return {"string": "", "int64": -1, "float": 0.0}[self.dtype]


@dataclasses.dataclass(frozen=True)
class Segment:
    """Rows where `feature` takes one of `values` (compared on the raw value as a string)."""

    feature: str
    values: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Task:
    """One predicted action.

    Attributes:
      name: task name; the serving output and the report use it.
      label: raw column holding the 0/1 label.
      loss_weight: weight of this head's loss in the training objective.
      utility_weight: default weight of the calibrated probability in the utility
        (negative for actions the feed should avoid, such as hide).
      segment: rows on which the action is defined (video_watch exists only for video
        pins); elsewhere the loss is masked and the calibrated probability is 0.
      truth: optional raw column with the true probability (simulated data only), read by
        the evaluation and never by preprocessing.
    """

    name: str
    label: str
    utility_weight: float
    loss_weight: float = 1.0
    segment: Optional[Segment] = None
    truth: Optional[str] = None

    @property
    def label_key(self) -> str:
        """Transformed feature holding the 0/1 label as a float."""
        return f"{self.name}__label"

    @property
    def segment_key(self) -> str:
        """Transformed feature holding 1.0 where the task is defined, else 0.0."""
        return f"{self.name}__in_segment"


@dataclasses.dataclass(frozen=True)
class Spec:
    """Features, tasks, and the raw columns used to slice reports.

    Attributes:
      name: spec name, written into reports and model cards.
      features: model inputs.
      tasks: predicted actions with their default utility weights.
      report_segments: raw feature names the report slices metrics by (e.g. pin_type).
      group_key: optional raw column naming the feed request a row belongs to.
    """

    name: str
    features: tuple[Feature, ...]
    tasks: tuple[Task, ...]
    report_segments: tuple[str, ...] = ()
    group_key: Optional[str] = None

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(f"spec {self.name!r} has no feature {name!r}")

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(task.name for task in self.tasks)

    @property
    def utility_weights(self) -> dict[str, float]:
        return {task.name: task.utility_weight for task in self.tasks}


def load_spec(path: str) -> Spec:
    """Reads a spec from a YAML or JSON file and validates it."""
    try:
        with open(path) as handle:
            raw = json.load(handle) if path.endswith(".json") else yaml.safe_load(handle)
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise SpecError(f"{path}: cannot read spec: {error}") from error
    return spec_from_dict(raw, source=path)


def packaged_spec(name: str = "homefeed") -> Spec:
    """A spec shipped with the package, by name (`homefeed` is the simulator's)."""
    return load_spec(os.path.join(PACKAGED_SPECS, f"{name}.yaml"))


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """The spec as plain data, for the resolved config written beside every run."""
    return dataclasses.asdict(spec)


def spec_from_dict(raw: Any, source: str = "<dict>") -> Spec:
    """Builds and validates a Spec from plain data; errors name `source` and the field."""
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: a spec is a mapping with keys name, features, tasks")
    features = tuple(
        _feature(item, f"{source}: features[{i}]") for i, item in enumerate(_list(raw, "features", source))
    )
    tasks = tuple(_task(item, f"{source}: tasks[{i}]") for i, item in enumerate(_list(raw, "tasks", source)))
    spec = Spec(
        name=str(raw.get("name", os.path.splitext(os.path.basename(source))[0])),
        features=features,
        tasks=tasks,
        report_segments=tuple(raw.get("report_segments", ())),
        group_key=raw.get("group_key"),
    )
    _check_references(spec, source)
    return spec


def _list(raw: dict, key: str, source: str) -> list:
    value = raw.get(key)
    if not isinstance(value, list) or not value:
        raise SpecError(f"{source}: {key!r} must be a non-empty list")
    return value


def _construct(cls, item: Any, where: str, **overrides):
    if not isinstance(item, dict):
        raise SpecError(f"{where}: expected a mapping, got {item!r}")
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(item) - known)
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {unknown}; expected some of {sorted(known)}")
    try:
        return cls(**{**item, **overrides})
    except TypeError as error:
        raise SpecError(f"{where}: {error}") from error


def _feature(item: Any, where: str) -> Feature:
    clip = item.get("clip") if isinstance(item, dict) else None
    feature = _construct(Feature, item, where, **({"clip": tuple(clip)} if clip is not None else {}))
    if feature.kind not in FEATURE_KINDS:
        raise SpecError(f"{where} ({feature.name}): kind {feature.kind!r} is not one of {FEATURE_KINDS}")
    if feature.dtype not in DTYPES:
        raise SpecError(f"{where} ({feature.name}): dtype {feature.dtype!r} is not one of {DTYPES}")
    if feature.is_categorical and feature.vocab_size <= 0:
        raise SpecError(f"{where} ({feature.name}): vocab_size must be positive for kind {feature.kind}")
    if feature.kind == "numeric":
        if feature.dtype == "string":
            raise SpecError(f"{where} ({feature.name}): a numeric feature cannot have dtype string")
        if feature.scale not in NUMERIC_SCALES:
            raise SpecError(f"{where} ({feature.name}): scale {feature.scale!r} is not one of {NUMERIC_SCALES}")
        if feature.clip is not None and (len(feature.clip) != 2 or feature.clip[0] >= feature.clip[1]):
            raise SpecError(f"{where} ({feature.name}): clip must be [low, high] with low < high")
    return feature


def _task(item: Any, where: str) -> Task:
    segment = item.get("segment") if isinstance(item, dict) else None
    overrides = {}
    if segment is not None:
        segment_item = dict(segment, values=tuple(str(v) for v in segment.get("values", ())))
        overrides["segment"] = _construct(Segment, segment_item, f"{where}.segment")
    task = _construct(Task, item, where, **overrides)
    if task.segment is not None and not task.segment.values:
        raise SpecError(f"{where} ({task.name}): segment.values must list at least one value")
    return task


def _check_references(spec: Spec, source: str) -> None:
    names = [feature.name for feature in spec.features]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SpecError(f"{source}: features declared twice: {duplicates}")
    task_names = list(spec.task_names)
    duplicates = sorted({name for name in task_names if task_names.count(name) > 1})
    if duplicates:
        raise SpecError(f"{source}: tasks declared twice: {duplicates}")
    for task in spec.tasks:
        if task.label in names:
            raise SpecError(f"{source}: task {task.name!r} uses feature column {task.label!r} as its label")
        if task.segment is not None and task.segment.feature not in names:
            raise SpecError(f"{source}: task {task.name!r} segment feature {task.segment.feature!r} is not a feature")
    for segment in spec.report_segments:
        if segment not in names:
            raise SpecError(f"{source}: report_segments names {segment!r}, which is not a feature")

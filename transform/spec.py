"""The one declaration of features, tasks and default utility weights.

Every stage (simulator, preprocessing_fn, model, calibration, utility, serving signature,
report) loops over a `Spec`; nothing else names a feature or a task. A spec is read from a
YAML or JSON file; the simulator's own spec ships with the package (`specs/homefeed.yaml`).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional

from transform.common.config import Config, SpecError, build, non_empty_list, read_config_file, string_tuple
from transform.source import InputConfig, Splits, check_source, data_root, input_from_dict, splits_from_dict

FEATURE_KINDS = ("id", "categorical", "numeric")
DTYPES = ("int64", "float", "string")
NUMERIC_SCALES = ("z", "log_z")
PACKAGED_SPECS = os.path.join(os.path.dirname(__file__), "specs")
LABEL_DTYPES = ("int64", "float", "string")

@dataclasses.dataclass(frozen=True)
class Feature(Config):
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
class Segment(Config):
    """Rows where `feature` takes one of `values` (compared on the raw value as a string)."""

    feature: str
    values: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Task(Config):
    """One predicted action.

    Attributes:
      name: task name; the serving output and the report use it.
      label: raw column holding the label; `label_dtype` is its raw type.
      positive_values: raw label values that mean 1 (string / int64 labels), e.g.
        ["50000+."]; every other value, and a missing label, means 0.
      threshold: a numeric label is 1 where it is greater than `threshold`. Without
        `positive_values` or `threshold` the label must already be 0/1.
      loss_weight: weight of this head's loss in the training objective.
      utility_weight: default weight of the calibrated probability in the utility
        (negative for actions the feed should avoid, such as hide).
      segment: rows on which the action is defined (video_watch exists only for video
        pins); elsewhere the loss is masked and the calibrated probability is 0.
      truth: optional raw column with the true probability (simulated data only), read by
        the evaluation and never by preprocessing.
      calibration_segments: categorical features whose values get their own offset in this
        head's calibrator (e.g. pin_type, user_state), so that calibration holds per segment
        and not only on average.
      calibration_segment_slopes: also fit a slope per segment value.
      calibration_knots: most hinge knots in the calibrator's curve of the logit (0: the
        plain logistic transform); fewer are used when the calibration split is small.
    """

    name: str
    label: str
    utility_weight: float
    label_dtype: str = "int64"
    positive_values: Optional[tuple[str, ...]] = None
    threshold: Optional[float] = None
    loss_weight: float = 1.0
    segment: Optional[Segment] = None
    truth: Optional[str] = None
    calibration_segments: tuple[str, ...] = ()
    calibration_segment_slopes: bool = False
    calibration_knots: int = 6

    @property
    def label_key(self) -> str:
        """Transformed feature holding the 0/1 label as a float."""
        return f"{self.name}__label"

    @property
    def segment_key(self) -> str:
        """Transformed feature holding 1.0 where the task is defined, else 0.0."""
        return f"{self.name}__in_segment"


@dataclasses.dataclass(frozen=True)
class Spec(Config):
    """Features, tasks, and the raw columns used to slice reports.

    Attributes:
      name: spec name, written into reports and model cards.
      features: model inputs.
      tasks: predicted actions with their default utility weights.
      report_segments: raw feature names the report slices metrics by (e.g. pin_type).
      group_key: optional raw column naming the feed request a row belongs to.
      input: where the raw rows come from and how to read them (`transform/source.py`).
      splits: which split each input row joins; required unless the input is the simulator.
    """

    name: str
    features: tuple[Feature, ...]
    tasks: tuple[Task, ...]
    report_segments: tuple[str, ...] = ()
    group_key: Optional[str] = None
    input: Optional[InputConfig] = None
    splits: Optional[Splits] = None

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


DEFAULT_SPEC = "homefeed"  # the packaged spec of the simulator's logs, used when none is named
SPEC_ENV = "FEEDRANK_SPEC"  # the spec TFX components use when their custom_config names none


def load_spec(path: Optional[str], data_root_dir: Optional[str] = None) -> Spec:
    """Reads a spec from a YAML or JSON file, or a packaged one by name, and validates it.

    No path (None or "") means the packaged DEFAULT_SPEC. Relative input paths resolve
    against `data_root_dir`, else $FEEDRANK_DATA_ROOT, else the spec file's directory.
    """
    if not path:
        return packaged_spec(data_root_dir=data_root_dir)
    packaged = os.path.join(PACKAGED_SPECS, f"{path}.yaml")
    if not os.path.exists(path) and os.path.sep not in path and os.path.exists(packaged):
        path = packaged
    return spec_from_dict(read_config_file(path), source=path, root=data_root(path, data_root_dir))


def spec_from_config(custom_config: dict | None) -> Spec:
    """The spec a TFX component's `custom_config["spec"]` names, else $FEEDRANK_SPEC, else DEFAULT_SPEC.

    Transform, Tuner and Trainer each call this on the custom_config they are given; give them
    the same spec (one shared custom_config, or FEEDRANK_SPEC set in the image).
    """
    return load_spec((custom_config or {}).get("spec") or os.environ.get(SPEC_ENV))


def packaged_spec(name: str = DEFAULT_SPEC, data_root_dir: Optional[str] = None) -> Spec:
    """A spec shipped with the package, by name (`homefeed` is the simulator's)."""
    return load_spec(os.path.join(PACKAGED_SPECS, f"{name}.yaml"), data_root_dir)


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """The spec as plain data in the file's own shape: `spec_from_dict` reads it back to an equal spec."""
    return spec.to_dict()


def spec_from_dict(raw: Any, source: str = "<dict>", root: Optional[str] = None) -> Spec:
    """Builds and validates a Spec from plain data; errors name `source` and the field.

    Relative paths in `input` and `splits` resolve against `root` (kept as given when None).
    """
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: a spec is a mapping with keys name, features, tasks")
    features = tuple(
        _feature(item, f"{source}: features[{i}]") for i, item in enumerate(non_empty_list(raw, "features", source))
    )
    tasks = tuple(
        _task(item, f"{source}: tasks[{i}]") for i, item in enumerate(non_empty_list(raw, "tasks", source))
    )
    spec = build(
        Spec, raw, source,
        name=str(raw.get("name", os.path.splitext(os.path.basename(source))[0])),
        features=features,
        tasks=tasks,
        input=None if raw.get("input") is None else input_from_dict(raw["input"], f"{source}: input", root),
        splits=None if raw.get("splits") is None else splits_from_dict(raw["splits"], f"{source}: splits", root),
    )
    check_source(spec.input, spec.splits, source)
    _check_references(spec, source)
    return spec


def _feature(item: Any, where: str) -> Feature:
    clip = item.get("clip") if isinstance(item, dict) else None
    feature = build(Feature, item, where, **({"clip": tuple(clip)} if clip is not None else {}))
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
        overrides["segment"] = build(Segment, segment_item, f"{where}.segment")
    if isinstance(item, dict) and "calibration_segments" in item:
        overrides["calibration_segments"] = tuple(item["calibration_segments"] or ())
    if isinstance(item, dict) and item.get("positive_values") is not None:
        overrides["positive_values"] = string_tuple(item["positive_values"], f"{where}.positive_values")
    task = build(Task, item, where, **overrides)
    if not isinstance(task.calibration_knots, int) or task.calibration_knots < 0:
        raise SpecError(f"{where} ({task.name}): calibration_knots must be an integer >= 0, "
                        f"got {task.calibration_knots!r}")
    if task.segment is not None and not task.segment.values:
        raise SpecError(f"{where} ({task.name}): segment.values must list at least one value")
    _check_label_mapping(task, f"{where} ({task.name})")
    return task


def _check_label_mapping(task: Task, where: str) -> None:
    """positive_values for string (or int64) labels, threshold for numeric ones, never both."""
    if task.label_dtype not in LABEL_DTYPES:
        raise SpecError(f"{where}: label_dtype {task.label_dtype!r} is not one of {LABEL_DTYPES}")
    if task.positive_values is not None and task.threshold is not None:
        raise SpecError(f"{where}: give positive_values or threshold, not both")
    if task.label_dtype == "string" and not task.positive_values:
        raise SpecError(f"{where}: a string label needs positive_values (the values that mean 1)")
    if task.positive_values is not None:
        if task.label_dtype == "float":
            raise SpecError(f"{where}: positive_values needs a string or int64 label; use threshold for float")
        if not task.positive_values:
            raise SpecError(f"{where}: positive_values must list at least one value")
        if task.label_dtype == "int64" and not all(value.lstrip("-").isdigit() for value in task.positive_values):
            raise SpecError(
                f"{where}: positive_values {list(task.positive_values)} are not all integers (label_dtype int64)"
            )
    if task.threshold is not None and (
        task.label_dtype == "string" or isinstance(task.threshold, bool) or not isinstance(task.threshold, (int, float))
    ):
        raise SpecError(f"{where}: threshold must be a number, on an int64 or float label")


def _check_references(spec: Spec, source: str) -> None:
    names = [feature.name for feature in spec.features]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SpecError(f"{source}: features declared twice: {duplicates}")
    task_names = list(spec.task_names)
    duplicates = sorted({name for name in task_names if task_names.count(name) > 1})
    if duplicates:
        raise SpecError(f"{source}: tasks declared twice: {duplicates}")
    label_dtypes: dict[str, str] = {}
    for task in spec.tasks:
        if task.label in names:
            raise SpecError(f"{source}: task {task.name!r} uses feature column {task.label!r} as its label")
        if label_dtypes.setdefault(task.label, task.label_dtype) != task.label_dtype:
            raise SpecError(f"{source}: tasks read label column {task.label!r} with different label_dtype values")
        if task.segment is not None and task.segment.feature not in names:
            raise SpecError(f"{source}: task {task.name!r} segment feature {task.segment.feature!r} is not a feature")
    categorical = {feature.name for feature in spec.features if feature.is_categorical}
    for task in spec.tasks:
        for name in task.calibration_segments:
            if name not in categorical:
                raise SpecError(
                    f"{source}: task {task.name!r} calibration_segments names {name!r}, "
                    f"which is not an id or categorical feature"
                )
    for segment in spec.report_segments:
        if segment not in names:
            raise SpecError(f"{source}: report_segments names {segment!r}, which is not a feature")

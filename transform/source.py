"""The data source a spec declares: where the raw rows are, how to read them, which split each joins.

    input:
      format: csv                     # csv | tfrecord (tf.Example) | simulator
      files: [logs/*.csv.gz]          # glob patterns; relative ones resolve against the data root
      column_names: [...]             # csv without a header line; else each file's header names them
      delimiter: ","                  # csv; values are stripped of surrounding whitespace
      missing_values: ["?"]           # csv values meaning "missing" (the empty value always does)
      schema: input_schema.pbtxt      # optional tensorflow_metadata Schema; inferred when absent
    splits:                           # train, eval, calibration required; test optional
      hash_key: user_id               # optional: rows sharing it share a split; default: whole row
      train:       {files: day=0[1-6]/*.csv.gz, fraction: 0.9}
      calibration: {files: day=0[1-6]/*.csv.gz, fraction: 0.1}
      eval:        {column: day, values: [7]}

A split rule takes the rows of its `files` (default: `input.files`) whose `column` is one of
`values` (default: all), and of those a `fraction` picked by a hash of `hash_key`. Rules
with the same files and column filter share the hash range [0, 1) in declaration order
(train [0, 0.9), calibration [0.9, 1.0) above); a row joins the first rule it matches and a
row matching none is left out. Relative paths resolve against the data root: the
`--data-root` flag, else $FEEDRANK_DATA_ROOT, else the spec file's directory.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional

from transform.common.config import Config, SpecError, build, string_tuple
from transform.splits import OPTIONAL_SPLITS, REQUIRED_SPLITS

INPUT_FORMATS = ("csv", "tfrecord", "simulator")
HASH_KEY = "hash_key"
DATA_ROOT_ENV = "FEEDRANK_DATA_ROOT"


@dataclasses.dataclass(frozen=True)
class InputConfig(Config):
    """Where the raw rows are and how to read them.

    Attributes:
      format: `csv`, `tfrecord` (tf.Example records; `.gz` files are read as GZIP), or
        `simulator` (the built-in simulator writes the splits itself).
      files: glob patterns of the input files, resolved against the data root.
      column_names: CSV columns in file order, for files without a header line.
      header: CSV files start with a header line naming the columns (skipped when
        `column_names` is also given); default: true without `column_names`.
      delimiter: CSV field delimiter, one character.
      missing_values: CSV values that mean "missing" once stripped of surrounding whitespace;
        the empty value always does.
      schema: optional tensorflow_metadata Schema (text proto) of the input columns; when
        absent one is inferred from a sample of the input and saved beside the ingested data.
    """

    format: str
    files: tuple[str, ...] = ()
    column_names: tuple[str, ...] = ()
    header: bool = True
    delimiter: str = ","
    missing_values: tuple[str, ...] = ()
    schema: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class SplitRule(Config):
    """The rows of one split: of `files`, where `column` is in `values`, a hashed `fraction`."""

    split: str
    files: tuple[str, ...] = ()
    column: Optional[str] = None
    values: tuple[str, ...] = ()
    fraction: Optional[float] = None

    @property
    def group(self) -> tuple:
        """Rules of one group divide the same rows between them by hash."""
        return self.files, self.column, self.values


@dataclasses.dataclass(frozen=True)
class Splits(Config):
    """Split rules in declaration order, and the column whose hash divides rows (None: the row)."""

    rules: tuple[SplitRule, ...]
    hash_key: Optional[str] = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(rule.split for rule in self.rules)

    def to_dict(self) -> dict:
        """The file's own shape, `{hash_key, <split>: {files, column, values, fraction}}`."""
        rules = {rule.split: {key: value for key, value in rule.to_dict().items() if key != "split"}
                 for rule in self.rules}
        return {HASH_KEY: self.hash_key, **rules}

    def columns(self) -> tuple[str, ...]:
        """Input columns the split rules read."""
        named = [self.hash_key, *(rule.column for rule in self.rules)]
        return tuple(dict.fromkeys(name for name in named if name))


def data_root(spec_path: Optional[str], explicit: Optional[str] = None) -> Optional[str]:
    """The directory relative input paths resolve against: flag, environment, spec's directory."""
    root = explicit or os.environ.get(DATA_ROOT_ENV)
    if root:
        return root
    return os.path.dirname(os.path.abspath(spec_path)) if spec_path else None


def input_from_dict(raw: Any, where: str, root: Optional[str]) -> InputConfig:
    """Parses the `input` section; paths are resolved against `root`."""
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a mapping with a 'format', got {raw!r}")
    column_names = string_tuple(raw.get("column_names"), f"{where}.column_names")
    overrides = {
        "files": _patterns(raw.get("files"), f"{where}.files", root),
        "column_names": column_names,
        "header": raw.get("header", not column_names),
        "missing_values": string_tuple(raw.get("missing_values"), f"{where}.missing_values"),
        "schema": _resolve(raw["schema"], root) if raw.get("schema") else None,
    }
    config = build(InputConfig, raw, where, **overrides)
    if config.format not in INPUT_FORMATS:
        raise SpecError(f"{where}.format: {config.format!r} is not one of {INPUT_FORMATS}")
    if config.format == "csv" and (not isinstance(config.delimiter, str) or len(config.delimiter) != 1):
        raise SpecError(f"{where}.delimiter: expected one character, got {config.delimiter!r}")
    if config.format == "csv" and not config.header and not config.column_names:
        raise SpecError(f"{where}: csv without a header line needs column_names")
    if config.format == "simulator" and config.files:
        raise SpecError(f"{where}.files: the simulator writes its own files; remove 'files'")
    return config


def splits_from_dict(raw: Any, where: str, root: Optional[str]) -> Splits:
    """Parses the `splits` section: a rule per split name, plus the optional hash key."""
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a mapping of split name -> rule")
    allowed = (*REQUIRED_SPLITS, *OPTIONAL_SPLITS)
    names = [name for name in raw if name != HASH_KEY]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise SpecError(f"{where}: unknown split(s) {unknown}; expected {list(allowed)} and optionally {HASH_KEY!r}")
    missing = [name for name in REQUIRED_SPLITS if name not in raw]
    if missing:
        raise SpecError(f"{where}: required split(s) {missing} are not declared")
    rules = tuple(_rule(name, raw[name], f"{where}.{name}", root) for name in names)
    _check_fractions(rules, where)
    return Splits(rules=rules, hash_key=raw.get(HASH_KEY))


def check_source(config: Optional[InputConfig], splits: Optional[Splits], source: str) -> None:
    """The input and the splits agree: every rule has files to read; the simulator needs neither."""
    if config is None:
        if splits is not None:
            raise SpecError(f"{source}: 'splits' needs an 'input' section to split")
        return
    if config.format == "simulator":
        if splits is not None:
            raise SpecError(f"{source}: splits: the simulator writes its own train/eval/calibration splits")
        return
    if splits is None:
        raise SpecError(f"{source}: input format {config.format!r} needs a 'splits' section")
    for rule in splits.rules:
        if not rule.files and not config.files:
            raise SpecError(f"{source}: splits.{rule.split} names no files and input.files is empty")


def hash_ranges(splits: Splits) -> dict[str, tuple[float, float]]:
    """Split -> [low, high) of the row hash in [0, 1): consecutive within a group of rules."""
    ranges, used = {}, {}
    for rule in splits.rules:
        low = used.get(rule.group, 0.0)
        high = 1.0 if rule.fraction is None else low + rule.fraction
        ranges[rule.split], used[rule.group] = (low, high), high
    return ranges


def _rule(name: str, raw: Any, where: str, root: Optional[str]) -> SplitRule:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a mapping with files, column/values and/or fraction ({{}}: all rows)")
    overrides = {
        "split": name,
        "files": _patterns(raw.get("files"), f"{where}.files", root),
        "values": string_tuple(raw.get("values"), f"{where}.values"),
    }
    rule = build(SplitRule, raw, where, **overrides)
    if bool(rule.column) != bool(rule.values):
        raise SpecError(f"{where}: 'column' and 'values' go together")
    if rule.fraction is not None and not (
        isinstance(rule.fraction, (int, float)) and not isinstance(rule.fraction, bool) and 0 < rule.fraction <= 1
    ):
        raise SpecError(f"{where}.fraction: expected a number in (0, 1], got {rule.fraction!r}")
    return rule


def _check_fractions(rules: tuple[SplitRule, ...], where: str) -> None:
    groups: dict[tuple, list[SplitRule]] = {}
    for rule in rules:
        groups.setdefault(rule.group, []).append(rule)
    for group in groups.values():
        names = [rule.split for rule in group]
        if len(group) > 1 and any(rule.fraction is None for rule in group):
            raise SpecError(f"{where}: splits {names} read the same rows; each needs a fraction")
        total = sum(rule.fraction or 0.0 for rule in group)
        if total > 1.0 + 1e-9:
            raise SpecError(f"{where}: fractions of splits {names} add up to {total:g} > 1")


def _patterns(value: Any, where: str, root: Optional[str]) -> tuple[str, ...]:
    return tuple(_resolve(pattern, root) for pattern in string_tuple(value, where))


def _resolve(path: str, root: Optional[str]) -> str:
    if root is None or "://" in path or os.path.isabs(path):
        return path
    return os.path.join(root, path)

"""Typed configuration: frozen dataclasses, checked one way whether built in code or read from a file.

Every part of a run's configuration (the data config `Spec` and its features, tasks, input and
splits; the simulator's world; the model and training hyperparameters; the job options; the
`RunConfig` that holds them all) is a frozen dataclass deriving from `Config`:
- on construction each field is checked against its type annotation, then `validate()`
  checks ranges and relations between fields;
- `build(cls, raw, where)` makes one from plain YAML/JSON data: an unknown key is refused with
  the closest known key suggested, lists become tuples, integers become floats where a float
  is declared, and nested configs are built the same way;
- every failure is a `ConfigError` whose message starts with `where` (the file and the path of
  the field, e.g. `census.yaml: features[3].vocab_size`) and gives the value at fault;
- `to_dict()` gives the plain data back, as written beside every run and every export.
Fields holding live objects rather than settings (a distribution strategy) are declared with
`metadata=RUNTIME`: neither checked nor saved.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import numbers
import sys
import types
import typing
from typing import Any, Mapping

import yaml

RUNTIME = {"runtime": True}


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the file, the field and the value.

    `field` is the path of the offending field below the object being built (None when the
    message already says where); `build` prefixes it with where that object came from.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.message, self.field = message, field

    def located(self, where: str) -> "ConfigError":
        """The same error, its location prefixed by `where`."""
        return type(self)(f"{field_path(where, self.field) if self.field else where}: {self.message}")


SpecError = ConfigError  # the name importers of the data config know


class Config:
    """Base of every configuration dataclass: type checks on construction, then `validate()`."""

    def __post_init__(self):
        for name, expected in field_types(type(self)).items():
            object.__setattr__(self, name, _coerce(expected, getattr(self, name), name, nested=False))
        check_types(self)
        self.validate()

    def validate(self) -> None:
        """Ranges and relations between fields; raises ConfigError naming the field."""

    def to_dict(self) -> dict:
        """The settings as plain data (tuples as lists, nested configs as mappings), runtime fields left out."""
        return {field.name: _plain(getattr(self, field.name)) for field in dataclasses.fields(self)
                if not field.metadata.get("runtime")}


def build(cls: type, raw: Any, where: str, **overrides):
    """`cls` from the mapping `raw` (plain YAML/JSON data) and `overrides` (already typed values).

    Raises ConfigError prefixed with `where` for a non-mapping, an unknown key (naming the
    closest known one), a missing required field, a value of the wrong type or out of range.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {sorted(_settings(cls))}, got {raw!r}")
    check_keys(raw, _settings(cls), where)
    values = {key: _coerce(field_types(cls)[key], value, field_path(where, key))
              for key, value in raw.items() if key not in overrides}
    try:
        return cls(**values, **overrides)
    except ConfigError as error:
        raise error.located(where) from error
    except TypeError as error:
        raise ConfigError(f"{where}: {error}") from error


def check_keys(raw: Mapping, known, where: str) -> None:
    """Raises ConfigError for the first key of `raw` not in `known`, naming the closest known one."""
    for key in raw:
        if key not in known:
            raise ConfigError(f"{where}: unknown field {key!r}{suggestion(str(key), known)}; "
                              f"expected some of {sorted(known)}")


def field_path(where: str, key: str) -> str:
    """Where a field of the object at `where` is: `file: key` at a file's top, else `file: a.b.key`."""
    return f"{where}.{key}" if ": " in where else f"{where}: {key}"


def suggestion(name: str, known) -> str:
    """`" (did you mean 'x'?)"` for the known name closest to `name`, or "" when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def read_config_file(path: str) -> Any:
    """The plain data of a YAML or JSON file (by its suffix); unreadable or malformed: ConfigError naming it."""
    try:
        with open(path) as handle:
            return json.load(handle) if path.endswith(".json") else yaml.safe_load(handle)
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from error


def check_types(config) -> None:
    """Raises ConfigError naming the first field whose value does not match its annotation."""
    for name, expected in field_types(type(config)).items():
        value = getattr(config, name)
        if not _matches(expected, value):
            raise ConfigError(f"expected {_describe(expected)}, got {value!r}", field=name)


@functools.lru_cache(maxsize=None)
def field_types(cls: type) -> dict[str, Any]:
    """The evaluated annotation of each settings field of `cls` (runtime fields left out)."""
    namespace = vars(sys.modules[cls.__module__])
    return {field.name: eval(field.type, namespace) if isinstance(field.type, str) else field.type
            for field in dataclasses.fields(cls) if not field.metadata.get("runtime")}


def _settings(cls: type) -> set[str]:
    return set(field_types(cls))


def _coerce(expected: Any, value: Any, where: str, nested: bool = True) -> Any:
    """Plain data shaped to `expected`: lists to tuples, numbers to the declared int or float (an
    int field keeps a fractional value, for the type check to refuse) and, when `nested`,
    mappings to nested configs (built with their location `where`)."""
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if value is None:
        return value
    if isinstance(expected, type) and issubclass(expected, Config):
        return build(expected, value, where) if nested and isinstance(value, Mapping) else value
    if expected in (int, float) and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return expected(value) if expected is float or isinstance(value, numbers.Integral) else value
    if origin in (typing.Union, types.UnionType):
        member = next(arg for arg in args if arg is not type(None))
        return _coerce(member, value, where, nested) if len(args) == 2 else value
    if origin is tuple and isinstance(value, list):
        items = args[:1] * len(value) if args[-1:] == (Ellipsis,) else args
        if len(items) != len(value):
            return tuple(value)
        return tuple(_coerce(item, element, f"{where}[{i}]", nested)
                     for i, (item, element) in enumerate(zip(items, value)))
    if origin is dict and isinstance(value, Mapping):
        return {key: _coerce(args[1], element, field_path(where, key), nested) for key, element in value.items()}
    return value


def _matches(expected: Any, value: Any) -> bool:
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if expected is Any:
        return True
    if expected is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_matches(arg, value) for arg in args)
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        items = args[:1] * len(value) if args[-1:] == (Ellipsis,) else args
        return len(items) == len(value) and all(_matches(item, element) for item, element in zip(items, value))
    if origin is dict:
        return isinstance(value, dict) and all(
            _matches(args[0], key) and _matches(args[1], element) for key, element in value.items())
    return isinstance(value, origin or expected)


def _describe(expected: Any) -> str:
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is tuple:
        if args[-1:] == (Ellipsis,):
            return f"a list of {_PLURALS.get(args[0], 'values')}"
        return f"a list of {len(args)} values"
    if origin is dict:
        return f"a mapping of {_describe(args[0])} -> {_describe(args[1])}"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}
    return names.get(expected, getattr(expected, "__name__", str(expected)))


_PLURALS = {bool: "true/false values", int: "integers", float: "numbers", str: "strings"}


def _plain(value: Any) -> Any:
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def non_empty_list(raw: dict, key: str, source: str) -> list:
    """`raw[key]`, which must be a non-empty list."""
    value = raw.get(key)
    if not isinstance(value, list) or not value:
        raise SpecError(f"{source}: {key!r} must be a non-empty list")
    return value


def string_tuple(value: Any, where: str) -> tuple[str, ...]:
    """A scalar or a list of scalars as a tuple of strings (values are compared as text)."""
    if value is None:
        return ()
    values = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(item, (dict, list)) for item in values):
        raise SpecError(f"{where}: expected a value or a list of values, got {value!r}")
    return tuple(str(item) for item in values)

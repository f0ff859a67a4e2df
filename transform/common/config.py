"""Frozen declaration dataclasses built from plain YAML/JSON data, with errors that name the field.

Shared by the spec (`transform/spec.py`) and the data source it declares
(`transform/source.py`), so that every part of a config file fails the same way: a
`SpecError` whose message starts with the file and the path of the offending field.
"""
from __future__ import annotations

import dataclasses
from typing import Any


class SpecError(ValueError):
    """A spec file that cannot be used; the message names the file and the field."""


def construct(cls, item: Any, where: str, **overrides):
    """`cls(**item, **overrides)`; an unknown or missing field raises naming `where`."""
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

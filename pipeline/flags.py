"""Command-line flags made from configuration fields: one flag per field, its help from the field's docs.

A flag `--train-rows` sets the field `train_rows` of its section (e.g. the simulator's world);
its type and default come from the dataclass, its help text from the `Attributes:` section of
the class docstring, so a flag says what its field says. A flag left out leaves the value the
run config file (or the default) gives: flags default to None and only given ones apply.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import typing

from transform.common.config import Config, ConfigError, field_types

_ATTRIBUTE = re.compile(r"^ {6}([\w, ]+): (.*)$")


def add_config_flags(parser: argparse.ArgumentParser, cls: type[Config], names: tuple[str, ...], title: str,
                     defaults: Config | None = None) -> None:
    """Adds `--<name>` for each field of `cls` in `names`, under a group titled `title`.

    The help shows the value the flag replaces: the field of `defaults`, else the class default.
    """
    group = parser.add_argument_group(title)
    docs, types = attribute_docs(cls), field_types(cls)
    defaults = defaults.to_dict() if defaults is not None else _defaults(cls)
    for name in names:
        kind = _scalar(types[name])
        default = "none" if defaults[name] is None else defaults[name]
        group.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None,
                           metavar=kind.__name__.upper(),
                           help=f"{docs.get(name, name.replace('_', ' '))} (default: {default})".replace("%", "%%"))


def config_overrides(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    """The fields among `names` whose flags were given."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def with_flags(config: Config, args: argparse.Namespace, names: tuple[str, ...]) -> Config:
    """`config` with the given flags applied; a bad value raises naming the flag."""
    overrides = config_overrides(args, names)
    try:
        return dataclasses.replace(config, **overrides)
    except ConfigError as error:
        flag = f"--{(error.field or '').replace('_', '-')}"
        raise ConfigError(f"{flag}: {error.message}") from error


def attribute_docs(cls: type) -> dict[str, str]:
    """field -> its description in the class docstring's `Attributes:` section, on one line.

    An entry reads `      name: text` (or `      a, b: text`), continued on lines indented deeper.
    """
    docs: dict[str, str] = {}
    names: list[str] = []
    lines = (cls.__doc__ or "").split("\n")
    inside = False
    for line in lines:
        if line.strip() == "Attributes:":
            inside = True
            continue
        if not inside:
            continue
        if not line.strip():
            break
        entry = _ATTRIBUTE.match(line)
        if entry:
            names = [name.strip() for name in entry.group(1).split(",")]
            docs.update({name: entry.group(2).strip() for name in names})
        else:
            docs.update({name: f"{docs[name]} {line.strip()}" for name in names})
    return docs


def _defaults(cls: type) -> dict[str, object]:
    defaults = {}
    for field in dataclasses.fields(cls):
        has_factory = field.default_factory is not dataclasses.MISSING
        defaults[field.name] = field.default_factory() if has_factory else field.default
    return defaults


def _scalar(expected) -> type:
    """The flag's type: the field's own, or the non-None member of an Optional."""
    members = [arg for arg in typing.get_args(expected) if arg is not type(None)] or [expected]
    return members[0]

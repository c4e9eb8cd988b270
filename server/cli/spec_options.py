"""Command-line options from ``DatasetSpec``'s fields: one ``--field-name`` per field.

``peaksql.core.spec.DatasetSpec`` is the one list of dataset fields, so the options are read
from it (``dataclasses.fields`` and the type hints), not written out here: a field added to
the spec is an option of ``peaksql describe`` at once. Choices come from the spec module's
registries (:data:`REGISTRIES`: a tuple of names, a mapping by name, or an object with
``names()``), the sampling fields form one mutually exclusive group, and the help texts below
only add words to fields they know. Values left unset are not passed, so the spec's own
defaults and validation apply.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from peaksql.core import spec as spec_module
from peaksql.core.spec import DatasetSpec

#: Field -> names of the spec module's registry of its choices, tried in order.
REGISTRIES: dict[str, tuple[str, ...]] = {
    "label": ("LABEL_MODES", "LABELS", "LABEL_REGISTRY"),
}
#: Registries whose names are the sampling fields (at most one of them may be given).
SAMPLING_REGISTRIES = ("SAMPLINGS", "SAMPLING_REGISTRY")
#: Words for the fields this module knows; any other field gets a generic help text.
FIELD_HELP = {
    "seq_length": "window length in bases",
    "where": "constraint, SQL WHERE syntax, e.g. \"chromosome != 'chr8' AND condition = 'liver'\"",
    "stride": "tile each chromosome: starts 0, S, 2S, … (default: seq_length)",
    "random": "N windows drawn uniformly (from --seed)",
    "around_intervals": "one window centred on each matching interval's summit or midpoint",
    "max_jitter": "around intervals: shift each window by a seeded offset up to this",
    "label": "label mode",
    "fraction": "label 'fraction': covered fraction needed for a positive",
    "inner_range": "label only the centred inner range of this many bases (0: all)",
    "conditions": "label columns in this order (names, space- or comma-separated; "
    "default: every condition with a matching interval)",
    "max_n_fraction": "drop windows with a larger fraction of N",
    "seed": "seed of random windows and jitter",
}
#: Prefix of the argparse destinations, so that spec fields never clash with other options.
DEST_PREFIX = "spec_"


def registry_names(registry: object) -> list[str]:
    """The names a registry holds: a mapping's keys, ``names()``, or the items of a tuple."""
    if isinstance(registry, Mapping):
        return [str(k) for k in registry]
    names = getattr(registry, "names", None)
    if callable(names):
        return [str(n) for n in names()]
    if isinstance(registry, Iterable) and not isinstance(registry, str | bytes):
        return [str(n) for n in registry]
    return []


def _registry(candidates: Iterable[str]) -> list[str] | None:
    for name in candidates:
        if hasattr(spec_module, name):
            return registry_names(getattr(spec_module, name))
    return None


def sampling_fields() -> set[str]:
    """The spec fields that choose a sampling (one at most), from the spec's registry."""
    fields = {f.name for f in dataclasses.fields(DatasetSpec)}
    return set(_registry(SAMPLING_REGISTRIES) or ()) & fields


def _plain(hint: Any) -> tuple[Any, bool]:
    """(the type without ``None``, whether it is a tuple of it) of a field's type hint."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        return _plain(rest[0]) if len(rest) == 1 else (str, False)
    if origin in (tuple, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return (args[0] if args else str), True
    return hint, False


def _help(field: dataclasses.Field) -> str:
    text = FIELD_HELP.get(field.name, f"DatasetSpec.{field.name}")
    if field.default is dataclasses.MISSING:
        return text if field.default_factory is not dataclasses.MISSING else f"{text} (required)"
    if field.default in (None, "", False):
        return text
    return f"{text} (default {field.default})"


def _option(field: dataclasses.Field, hint: Any) -> dict[str, Any]:
    """``add_argument`` keywords of one field."""
    kind, many = _plain(hint)
    keywords: dict[str, Any] = {"dest": DEST_PREFIX + field.name, "help": _help(field)}
    if kind is bool and not many:
        action = argparse.BooleanOptionalAction if field.default is True else "store_true"
        return {**keywords, "action": action, "default": None}
    keywords["type"] = kind if kind in (int, float, str) else str
    keywords["metavar"] = {int: "N", float: "X"}.get(kind, "TEXT")
    if many:
        keywords["nargs"] = "+"
    choices = _registry(REGISTRIES.get(field.name, ()))
    if choices:
        keywords["choices"], keywords["metavar"] = choices, "{" + ",".join(choices) + "}"
    if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
        keywords["required"] = True
    return keywords


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    """One option per DatasetSpec field, in a group; sampling fields mutually exclusive."""
    hints = typing.get_type_hints(DatasetSpec)
    group = parser.add_argument_group(
        "dataset spec", "the fields of peaksql.DatasetSpec (client.dataset's arguments)"
    )
    samplings = sampling_fields()
    exclusive = group.add_mutually_exclusive_group()
    for field in dataclasses.fields(DatasetSpec):
        if not field.init:
            continue
        target = exclusive if field.name in samplings else group
        flag = "--" + field.name.replace("_", "-")
        target.add_argument(flag, **_option(field, hints[field.name]))


def spec_from_args(args: argparse.Namespace) -> DatasetSpec:
    """The DatasetSpec of the options given (the others keep the spec's defaults)."""
    given: dict[str, Any] = {}
    for field in dataclasses.fields(DatasetSpec):
        value = getattr(args, DEST_PREFIX + field.name, None)
        if value is None:
            continue
        if isinstance(value, list):  # "a,b c" -> ("a", "b", "c")
            value = tuple(part for item in value for part in str(item).split(",") if part)
        given[field.name] = value
    return DatasetSpec(**given)


def spec_fields(spec: DatasetSpec) -> dict[str, Any]:
    """A spec as JSON-ready values, by field name."""
    return {
        f.name: list(v) if isinstance(v := getattr(spec, f.name), tuple) else v
        for f in dataclasses.fields(spec)
    }

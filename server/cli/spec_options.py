"""Command-line options from ``DatasetSpec``'s keywords: one ``--keyword-name`` each.

``peaksql.core.spec.DatasetSpec`` is the one list of dataset fields, so the options are read
from it (its fields and type hints, and its sampling keywords and parameters from the
proto's ``oneof sampling``, as the spec itself reads them), not written out here: a field or
sampling added to the spec is an option of ``peaksql describe`` at once. Choices come from
the registries (:data:`REGISTRIES`), the sampling keywords form one mutually exclusive
group, and the help texts below only add words to keywords they know. Values left unset are
not passed, so the spec's own defaults and validation apply.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from peaksql.core.label_modes import LABEL_MODES
from peaksql.core.spec import SAMPLING_PARAMETERS, SAMPLINGS, DatasetSpec

#: Field -> the registry of its choices (a mapping by name).
REGISTRIES: dict[str, Mapping[str, object]] = {"label": LABEL_MODES}
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
    choices = list(REGISTRIES.get(field.name, ()))
    if choices:
        keywords["choices"], keywords["metavar"] = choices, "{" + ",".join(choices) + "}"
    if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
        keywords["required"] = True
    return keywords


#: proto scalar types -> the Python type of their option.
_PROTO_TYPES = {
    FieldDescriptor.CPPTYPE_UINT64: int,
    FieldDescriptor.CPPTYPE_UINT32: int,
    FieldDescriptor.CPPTYPE_INT64: int,
    FieldDescriptor.CPPTYPE_INT32: int,
    FieldDescriptor.CPPTYPE_DOUBLE: float,
    FieldDescriptor.CPPTYPE_FLOAT: float,
    FieldDescriptor.CPPTYPE_BOOL: bool,
    FieldDescriptor.CPPTYPE_STRING: str,
}


def _sampling_option(name: str) -> dict[str, Any]:
    """Keywords of a sampling keyword (``--stride N``) or a sampling parameter (``--max-jitter``).

    Read from the proto: a sampling whose message has a parameter of its own name takes
    that parameter's value; one without (``around_intervals``) is a switch.
    """
    keywords: dict[str, Any] = {"dest": DEST_PREFIX + name, "help": FIELD_HELP.get(name, name)}
    owner = SAMPLINGS.get(name) or SAMPLINGS[SAMPLING_PARAMETERS[name]]
    parameter = owner.fields_by_name.get(name)
    if parameter is None:
        return {**keywords, "action": "store_true", "default": None}
    kind = _PROTO_TYPES.get(parameter.cpp_type, str)
    return {**keywords, "type": kind, "metavar": {int: "N", float: "X"}.get(kind, "TEXT")}


def _spec_fields() -> list[dataclasses.Field]:
    """The dataclass fields a user sets directly (the sampling is set by its keywords)."""
    return [
        f
        for f in dataclasses.fields(DatasetSpec)
        if f.init and f.name not in ("sampling", "sampling_args")
    ]


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    """One option per DatasetSpec keyword, in a group; sampling keywords mutually exclusive."""
    hints = typing.get_type_hints(DatasetSpec)
    group = parser.add_argument_group(
        "dataset spec", "the keywords of peaksql.DatasetSpec (client.dataset's arguments)"
    )
    for field in _spec_fields():
        group.add_argument("--" + field.name.replace("_", "-"), **_option(field, hints[field.name]))
    exclusive = group.add_mutually_exclusive_group()
    for name in SAMPLINGS:
        exclusive.add_argument("--" + name.replace("_", "-"), **_sampling_option(name))
    for name in SAMPLING_PARAMETERS:
        if name not in SAMPLINGS:
            group.add_argument("--" + name.replace("_", "-"), **_sampling_option(name))


def spec_keywords() -> list[str]:
    """Every keyword an option sets: the spec's fields, samplings and sampling parameters."""
    return [f.name for f in _spec_fields()] + list(
        dict.fromkeys([*SAMPLINGS, *SAMPLING_PARAMETERS])
    )


def spec_from_args(args: argparse.Namespace) -> DatasetSpec:
    """The DatasetSpec of the options given (the others keep the spec's defaults)."""
    given: dict[str, Any] = {}
    for name in spec_keywords():
        value = getattr(args, DEST_PREFIX + name, None)
        if value is None:
            continue
        if isinstance(value, list):  # "a,b c" -> ("a", "b", "c")
            value = tuple(part for item in value for part in str(item).split(",") if part)
        given[name] = value
    return DatasetSpec(**given)


def spec_fields(spec: DatasetSpec) -> dict[str, Any]:
    """A spec as JSON-ready values: its fields, with the sampling as keyword and parameters."""
    values: dict[str, Any] = {
        f.name: list(v) if isinstance(v := getattr(spec, f.name), tuple) else v
        for f in _spec_fields()
    }
    values["sampling"] = spec.sampling
    values.update(spec.sampling_kwargs)
    return values

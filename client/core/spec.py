"""Dataset specs: what a client asks for, as a plain dataclass and as its protobuf message.

A spec is deterministic: the same spec gives the same windows and labels on any server.
The order of an epoch (shuffle, seed, epoch, rank) is not part of the spec: it belongs to
the stream, so that every order of one dataset shares one server-side plan.

``DatasetSpec`` is the one list of dataset fields: its proto message, ``peaksql.Dataset``,
``peaksql.torch.TorchDataset``, ``Client.dataset`` and the server's plan key all follow its
``dataclasses.fields``. Each field names its place in ``pb.DatasetSpec`` (``metadata``) and
is read, written and range-checked through the message's descriptor. Samplings have no code
here: they are the proto's ``oneof sampling``, read by reflection (see ``SAMPLINGS``); label
modes come from ``peaksql.core.label_modes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from peaksql.core import training
from peaksql.core.errors import InvalidArgument
from peaksql.core.label_modes import (
    MISSING,
    check_label_options,
    check_missing,
    describe_label_modes,
    get_label_mode,
)
from peaksql.v1 import peaksql_pb2 as pb

_ONEOF = "sampling"
#: sampling name -> its parameter message: the fields of the proto's ``oneof sampling``.
SAMPLINGS: dict[str, Descriptor] = {
    f.name: f.message_type for f in pb.DatasetSpec.DESCRIPTOR.oneofs_by_name[_ONEOF].fields
}
#: parameter keyword -> its sampling. A parameter named like its sampling (``stride``) is the
#: value of the sampling's keyword; a sampling without one takes ``True`` (``around_intervals``).
SAMPLING_PARAMETERS: dict[str, str] = {
    p.name: name for name, message in SAMPLINGS.items() for p in message.fields
}
#: The sampling of a spec that names none: tiling, ``stride = seq_length``.
DEFAULT_SAMPLING = "stride"

_INTEGER_BITS = {
    FieldDescriptor.CPPTYPE_UINT64: 64,
    FieldDescriptor.CPPTYPE_UINT32: 32,
    FieldDescriptor.CPPTYPE_INT64: 63,
    FieldDescriptor.CPPTYPE_INT32: 31,
}
_UNSIGNED = (FieldDescriptor.CPPTYPE_UINT64, FieldDescriptor.CPPTYPE_UINT32)
_FLOATS = (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT)


def _in_proto(path: str) -> dict[str, str]:
    """Field metadata: where the field lives in ``pb.DatasetSpec`` (dotted, or the oneof)."""
    return {"proto": path}


@dataclass(frozen=True, init=False)
class DatasetSpec:
    """Windows of ``seq_length`` bases over the regions ``where`` selects, labelled per condition.

    Keywords: every field, plus one keyword per sampling and per sampling parameter, e.g.
    ``DatasetSpec(seq_length=1000, stride=500)``, ``DatasetSpec(seq_length=1000, random=10_000)``
    or ``DatasetSpec(seq_length=1000, around_intervals=True, max_jitter=50)``; read back as
    ``spec.stride`` (None under another sampling), ``spec.around_intervals``, ``spec.max_jitter``.
    Without one the windows tile each chromosome (``stride = seq_length``).

    ``missing`` says what a label that cannot be known becomes: one whose column (condition)
    has no interval at all on the window's assembly, e.g. a mouse window of a condition with
    human intervals only. ``"zero"`` (default): 0, as before, bool labels. ``"mask"``: labels
    travel as float32 with NaN there (every base of the column, for ``per_base``), so that
    multi-species training can mask the loss (``~isnan(y)``) instead of learning false
    negatives. ``Describe`` lists each column's assemblies.
    """

    seq_length: int
    where: str = ""
    #: The chosen sampling (a field name of the proto's ``oneof sampling``) ...
    sampling: str = field(default=DEFAULT_SAMPLING, metadata=_in_proto(_ONEOF))
    #: ... and its parameters: (name, value) for every field of its message, in proto order.
    sampling_args: tuple[tuple[str, Any], ...] = field(default=(), metadata=_in_proto(_ONEOF))
    label: str = field(default="any", metadata=_in_proto("label.mode"))
    fraction: float = field(default=0.5, metadata=_in_proto("label.fraction"))
    inner_range: int = field(default=0, metadata=_in_proto("label.inner_range"))
    #: Bins, signal aggregation and transform, classes, float wire form (``label_modes``).
    bin_size: int = field(default=0, metadata=_in_proto("label.bin_size"))
    aggregate: str = field(default="mean", metadata=_in_proto("label.aggregate"))
    signal_gaps: str = field(default="zero", metadata=_in_proto("label.signal_gaps"))
    scale: tuple[float, ...] = field(default=(), metadata=_in_proto("label.scale"))
    clip_min: float | None = field(default=None, metadata=_in_proto("label.clip_min"))
    clip_max: float | None = field(default=None, metadata=_in_proto("label.clip_max"))
    transform: str = field(default="", metadata=_in_proto("label.transform"))
    one_hot_classes: bool = field(default=False, metadata=_in_proto("label.one_hot_classes"))
    label_wire_dtype: str = field(default="float32", metadata=_in_proto("label.wire_dtype"))
    conditions: tuple[str, ...] = ()
    max_n_fraction: float | None = None
    seed: int = 0
    missing: str = field(default="zero", metadata=_in_proto("label.missing"))
    exclude: tuple[str, ...] = ()
    exclude_fraction: float = 0.0
    negatives_per_positive: float | None = None
    gc_matched: bool = False
    reverse_complement: str = ""
    max_shift: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        given = _bind(args, kwargs)
        training.normalise(given)
        chosen = {name: kwargs.pop(name) for name in SAMPLINGS if name in kwargs}
        params = {name: kwargs.pop(name) for name in SAMPLING_PARAMETERS if name in kwargs}
        if kwargs:
            raise TypeError(
                f"DatasetSpec() got an unexpected keyword argument {next(iter(kwargs))!r}"
            )
        chosen = {name: value for name, value in chosen.items() if _is_chosen(name, value)}
        if len(chosen) > 1:
            raise InvalidArgument(f"choose one sampling, not {' and '.join(chosen)}")
        for f in fields(self):
            if f.metadata.get("proto") != _ONEOF:
                value = given.get(f.name, f.default)
                object.__setattr__(self, f.name, _field_value(f.name, _path(f), value))
        name, sampling_args = _sampling(given, chosen, params, self.seq_length)
        object.__setattr__(self, "sampling", name)
        object.__setattr__(self, "sampling_args", sampling_args)
        if self.inner_range > self.seq_length:
            raise InvalidArgument(
                f"inner_range must be between 0 and seq_length ({self.seq_length}), "
                f"got {self.inner_range}"
            )
        mode = get_label_mode(self.label)
        check_label_options(self)
        if mode.check is not None:
            mode.check(self)
        check_missing(self.missing)
        training.check(self)

    def __getattr__(self, name: str) -> Any:
        """A sampling keyword or parameter read back (only names that are no field get here)."""
        if name in SAMPLINGS:
            if _valued(name):
                return self.sampling_kwargs[name] if self.sampling == name else None
            return self.sampling == name
        owner = SAMPLING_PARAMETERS.get(name)
        if owner is None or name.startswith("_"):
            raise AttributeError(f"'DatasetSpec' object has no attribute {name!r}")
        if self.sampling == owner:
            return self.sampling_kwargs[name]
        return SAMPLINGS[owner].fields_by_name[name].default_value

    @property
    def sampling_kwargs(self) -> dict[str, Any]:
        """The chosen sampling's parameters by name."""
        return dict(self.sampling_args)

    @classmethod
    def keywords(cls) -> tuple[str, ...]:
        """Every keyword the constructor takes: fields, samplings, sampling parameters."""
        names = [f.name for f in fields(cls)] + list(SAMPLINGS) + list(SAMPLING_PARAMETERS)
        return tuple(dict.fromkeys(names))

    def to_proto(self) -> pb.DatasetSpec:
        message = pb.DatasetSpec()
        for f in fields(self):
            path, value = _path(f), getattr(self, f.name)
            if path == _ONEOF or value is None:
                continue
            parent, leaf = _parent(message, path)
            if _repeated(_descriptor(path)):
                getattr(parent, leaf).extend(value)
            else:
                setattr(parent, leaf, value)
        sampling = getattr(message, self.sampling)
        sampling.SetInParent()
        for name, value in self.sampling_args:
            setattr(sampling, name, value)
        return message

    @classmethod
    def from_proto(cls, message: pb.DatasetSpec) -> DatasetSpec:
        """The spec of a message; absent fields (and empty strings) take the field defaults."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            path = _path(f)
            if path != _ONEOF and _present(message, path):
                parent, leaf = _parent(message, path)
                value = getattr(parent, leaf)
                values[f.name] = tuple(value) if _repeated(_descriptor(path)) else value
        name = message.WhichOneof(_ONEOF)
        if name is not None:
            sampling = getattr(message, name)
            values["sampling"] = name
            values["sampling_args"] = tuple(
                (p.name, getattr(sampling, p.name)) for p in SAMPLINGS[name].fields
            )
        return cls(**values)


def _valued(sampling: str) -> bool:
    """Whether the sampling's keyword takes a value (it has a parameter of its own name)."""
    return sampling in SAMPLINGS[sampling].fields_by_name


def _is_chosen(sampling: str, value: Any) -> bool:
    """``stride=None``, ``around_intervals=False``: the keyword does not choose its sampling."""
    return value is not None if _valued(sampling) else bool(value)


def _repeated(descriptor: FieldDescriptor) -> bool:
    if hasattr(descriptor, "is_repeated"):  # protobuf >= 6; ``label`` is gone in 7
        return bool(descriptor.is_repeated)
    return bool(descriptor.label == FieldDescriptor.LABEL_REPEATED)


def _path(f: Any) -> str:
    return str(f.metadata.get("proto", f.name))


def _descriptor(path: str) -> FieldDescriptor:
    """The field descriptor at a dotted path of ``pb.DatasetSpec``."""
    message: Descriptor = pb.DatasetSpec.DESCRIPTOR
    *parents, leaf = path.split(".")
    for part in parents:
        message = message.fields_by_name[part].message_type
    return message.fields_by_name[leaf]


def _parent(message: Message, path: str) -> tuple[Message, str]:
    *parents, leaf = path.split(".")
    for part in parents:
        message = getattr(message, part)
    return message, leaf


def _present(message: Message, path: str) -> bool:
    """Whether the message sets the field: its parents present, its value not a default."""
    *parents, leaf = path.split(".")
    for part in parents:
        if not message.HasField(part):
            return False
        message = getattr(message, part)
    descriptor = message.DESCRIPTOR.fields_by_name[leaf]
    if descriptor.has_presence:
        return message.HasField(leaf)
    return getattr(message, leaf) != ""  # proto3 has no unset string: "" reads as the default


def _bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The field values given, positional ones by field order; popped from ``kwargs``."""
    names = [f.name for f in fields(DatasetSpec)]
    if len(args) > len(names):
        raise TypeError(f"DatasetSpec() takes at most {len(names)} positional arguments")
    given = dict(zip(names, args, strict=False))
    for name in names:
        if name in kwargs:
            if name in given:
                raise TypeError(f"DatasetSpec() got multiple values for argument {name!r}")
            given[name] = kwargs.pop(name)
    if "seq_length" not in given:
        raise TypeError("DatasetSpec() missing required argument: 'seq_length'")
    return given


def _sampling(
    given: dict[str, Any], chosen: dict[str, Any], params: dict[str, Any], seq_length: int
) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """The sampling and its complete, checked parameters.

    A sampling keyword replaces any ``sampling``/``sampling_args`` given (so
    ``dataclasses.replace(spec, random=10)`` switches); parameters of a sampling that is not
    the chosen one are ignored, as they always were (``max_jitter=0`` beside ``stride``).
    """
    args: dict[str, Any]
    if chosen:
        [(name, value)] = chosen.items()
        args = {name: value} if _valued(name) else {}
    elif "sampling" in given:
        name, args = given["sampling"], dict(given.get("sampling_args", ()))
    else:
        name, args = DEFAULT_SAMPLING, {DEFAULT_SAMPLING: seq_length}
    if name not in SAMPLINGS:
        raise InvalidArgument(f"unknown sampling {name!r}; choose one of {', '.join(SAMPLINGS)}")
    message = SAMPLINGS[name]
    args.update(
        {p: v for p, v in params.items() if SAMPLING_PARAMETERS[p] == name and v is not None}
    )
    unknown = sorted(set(args) - set(message.fields_by_name))
    if unknown:
        raise InvalidArgument(
            f"sampling {name!r} has no parameter {unknown[0]!r}; "
            f"it takes {', '.join(message.fields_by_name) or 'none'}"
        )
    return name, tuple(
        (p.name, _value(p.name, p, args.get(p.name, p.default_value))) for p in message.fields
    )


def _field_value(name: str, path: str, value: Any) -> Any:
    descriptor = _descriptor(path)
    if value is None and descriptor.has_presence:
        return None
    if _repeated(descriptor):
        return tuple(_value(name, descriptor, item) for item in value)
    return _value(name, descriptor, value)


def _value(name: str, descriptor: FieldDescriptor, value: Any) -> Any:
    """``value`` as the field's Python type, within the field's range (its ``minimum``)."""
    kind = descriptor.cpp_type
    if kind in _INTEGER_BITS:
        return _integer(name, descriptor, value)
    if kind in _FLOATS:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InvalidArgument(f"{name} must be a number, got {value!r}") from None
    if kind == FieldDescriptor.CPPTYPE_BOOL:
        return bool(value)
    if kind == FieldDescriptor.CPPTYPE_STRING and not isinstance(value, str):
        raise InvalidArgument(f"{name} must be a string, got {value!r}")
    return value


def _integer(name: str, descriptor: FieldDescriptor, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or number != value:
        raise InvalidArgument(f"{name} must be an integer, got {value!r}")
    options = descriptor.GetOptions()
    minimum = None
    if options.HasExtension(pb.minimum):
        minimum = options.Extensions[pb.minimum]
    elif descriptor.cpp_type in _UNSIGNED:
        minimum = 0
    if minimum is not None and number < minimum:
        wanted = "positive" if minimum == 1 else f">= {minimum}"
        raise InvalidArgument(f"{name} must be {wanted}, got {number}")
    bits = _INTEGER_BITS[descriptor.cpp_type]
    if number >= 1 << bits or number < -(1 << bits):
        raise InvalidArgument(f"{name} must be < 2**{bits}, got {number}")
    return number


def describe_samplings() -> str:
    """One line per sampling: its keyword and parameters (for docstrings and help)."""
    lines = []
    for name, message in SAMPLINGS.items():
        value = f"{name}=<{name}>" if _valued(name) else f"{name}=True"
        extra = [f"{p.name}=..." for p in message.fields if p.name != name]
        lines.append(f"- ``{', '.join([value, *extra])}``")
    return "\n".join(lines)


def _indented(lines: str) -> str:
    return "\n".join(f"    {line}" for line in lines.splitlines())


DatasetSpec.__doc__ = (
    f"{DatasetSpec.__doc__}\n    Samplings (the proto's ``oneof sampling``):\n\n"
    f"{_indented(describe_samplings())}\n\n"
    f"    Label modes (``label``, from ``peaksql.core.label_modes``):\n\n"
    f"{_indented(describe_label_modes())}\n\n"
    f"    Missing labels (``missing``):\n\n"
    f"{_indented(chr(10).join(f'- ``{k}``: {v}' for k, v in MISSING.items()))}\n"
)

"""Every request checked at the edge, before the engine sees it: INVALID_ARGUMENT naming the field.

Protobuf gives integers up to 2**64 - 1 and any double; the engine computes in int64 and
assumes finite fractions. So each field is range-checked here (a seq_length of 2**63 would
otherwise surface as an OverflowError, INTERNAL; a NaN max_n_fraction would silently keep no
window). Bytes that do not parse (e.g. invalid UTF-8 in a ``string`` field, which protobuf
refuses while deserializing) become an ``Undecodable`` request instead of gRPC's INTERNAL
"Exception deserializing request!", and ``check`` refuses it as INVALID_ARGUMENT.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from peaksql.core.errors import InvalidArgument
from peaksql.server.engine.windows import MAX_LISTED_WINDOWS
from peaksql.v1 import peaksql_pb2 as pb

#: Longest window, stride or jitter in bases (2**40: beyond any chromosome, far from int64).
MAX_BASES = 1 << 40
#: Largest epoch, cursor position and batch count (int64 arithmetic downstream).
MAX_COUNT = (1 << 63) - 1
#: Most ranks one epoch may be shared between.
MAX_WORLD_SIZE = 1 << 20
SERVICE = pb.DESCRIPTOR.services_by_name["PeakSQL"]


@dataclass(frozen=True)
class Undecodable:
    """A request whose bytes are not a valid message of its type."""

    type_name: str
    reason: str


def deserializer(message_class: type[Message]) -> Callable[[bytes], Any]:
    """``message_class.FromString`` that returns ``Undecodable`` instead of raising."""

    def parse(data: bytes) -> Any:
        try:
            return message_class.FromString(data)
        except (DecodeError, UnicodeDecodeError, ValueError) as error:
            return Undecodable(message_class.DESCRIPTOR.full_name, str(error)[:200])

    return parse


def _serialized(message: Any) -> bytes:
    """A streamed message as it goes out: streams serialize on the batch pool (``streams``)."""
    return message if isinstance(message, bytes) else message.SerializeToString()


def method_handlers(servicer: Any) -> grpc.GenericRpcHandler:
    """The PeakSQL service's handlers on ``servicer``, with ``deserializer`` for requests."""
    handlers = {}
    for method in SERVICE.methods:
        request_class = getattr(pb, method.input_type.name)
        response_class = getattr(pb, method.output_type.name)
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=deserializer(request_class),
            response_serializer=(
                _serialized if method.server_streaming else response_class.SerializeToString
            ),
        )
    return grpc.method_handlers_generic_handler(SERVICE.full_name, handlers)


def _integer(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidArgument(f"{name} must be between {low:,} and {high:,}, got {value:,}")


def _fraction(name: str, value: float, low_open: bool = False) -> None:
    if math.isnan(value) or not (0 < value <= 1 if low_open else 0 <= value <= 1):
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise InvalidArgument(f"{name} must be a number in {interval}, got {value!r}")


def check_spec(spec: pb.DatasetSpec, prefix: str = "spec") -> None:
    """Range checks of every numeric field of a dataset spec."""
    _integer(f"{prefix}.seq_length", spec.seq_length, 1, MAX_BASES)
    sampling = spec.WhichOneof("sampling")
    if sampling is not None:  # every sampling's integers (minimums: peaksql.core.spec)
        high = MAX_LISTED_WINDOWS if sampling == "random" else MAX_BASES
        for field, value in getattr(spec, sampling).ListFields():
            if isinstance(value, int) and not isinstance(value, bool):
                _integer(f"{prefix}.{sampling}.{field.name}", value, 0, high)
    _check_label(spec.label, spec.seq_length, f"{prefix}.label")
    if spec.HasField("max_n_fraction"):
        _fraction(f"{prefix}.max_n_fraction", spec.max_n_fraction)


def _check_label(label: pb.LabelSpec, seq_length: int, prefix: str) -> None:
    """Range checks of the label fields: inner range, fraction, bins, transform numbers."""
    _integer(f"{prefix}.inner_range", label.inner_range, 0, seq_length)
    _fraction(f"{prefix}.fraction", label.fraction)
    if label.mode in ("fraction", "class"):
        _fraction(f"{prefix}.fraction", label.fraction, low_open=True)
    _integer(f"{prefix}.bin_size", label.bin_size, 0, label.inner_range or seq_length)
    for index, value in enumerate(label.scale):
        _finite(f"{prefix}.scale[{index}]", value)
    for name in ("clip_min", "clip_max"):
        if label.HasField(name):
            _finite(f"{prefix}.{name}", getattr(label, name))


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a finite number, got {value!r}")


def check_cursor(cursor: pb.Cursor) -> None:
    """Range checks of a stream's cursor: epoch, rank of world_size, windows delivered."""
    _integer("cursor.epoch", cursor.epoch, 0, MAX_COUNT)
    _integer("cursor.world_size", cursor.world_size, 0, MAX_WORLD_SIZE)
    _integer("cursor.rank", cursor.rank, 0, max(cursor.world_size, 1) - 1)
    _integer("cursor.delivered", cursor.delivered, 0, MAX_COUNT)
    _integer("cursor.offset", cursor.offset, 0, MAX_COUNT)


def check(request: Any) -> Any:
    """``request`` if every field is in range; else INVALID_ARGUMENT naming the field."""
    if isinstance(request, Undecodable):
        raise InvalidArgument(f"the request is not a valid {request.type_name}: {request.reason}")
    if isinstance(request, (pb.DescribeRequest, pb.StreamRequest, pb.GetWindowsRequest)):
        check_spec(request.spec)
    if isinstance(request, pb.StreamRequest):
        check_cursor(request.cursor)
        if request.first_batch_size > request.batch_size:
            raise InvalidArgument(
                f"first_batch_size {request.first_batch_size} is over batch_size "
                f"{request.batch_size}"
            )
        _integer("max_batches", request.max_batches, 0, MAX_COUNT)
    return request

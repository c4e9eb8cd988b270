"""A built batch as its ``Batch`` message (``batch_message``) or as the message's bytes on the
wire (``batch_bytes``, what streams send).

``batch_bytes`` copies each large array once. Setting a bytes field and serializing copies a
131 kbp × 8 batch's 512 KB of sequences three times (``tobytes``, into the message, out of
it), and on the batch pool each copy is a fresh allocation the kernel pages in again.
Protobuf parsers accept fields in any order, so the two large fields are written as
length-delimited fields here and the rest is serialized by protobuf:

    key(sequences) len | sequences | key(labels) len | key(data) len | data | shape, dtype
    | batch_size, seq_length, coordinates, cursor

``pb.Batch.FromString(batch_bytes(b, ...)) == batch_message(b, ...)`` (tests/test_stream_turns.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from peaksql.core.wire import pack_labels
from peaksql.server.engine.batches import BatchData
from peaksql.v1 import peaksql_pb2 as pb

_SEQUENCES = pb.Batch.DESCRIPTOR.fields_by_name["sequences"].number
_LABELS = pb.Batch.DESCRIPTOR.fields_by_name["labels"].number
_DATA = pb.Tensor.DESCRIPTOR.fields_by_name["data"].number
_LENGTH_DELIMITED = 2  # protobuf wire type of bytes and message fields


def batch_message(batch: BatchData, seq_length: int, include_coordinates: bool) -> pb.Batch:
    """Encode a built batch as its wire message (one bytes field per array)."""
    data, shape, dtype = pack_labels(batch.labels)
    message = _small_fields(batch, seq_length, include_coordinates)
    message.sequences = batch.sequences.tobytes()
    message.labels.CopyFrom(pb.Tensor(data=data, shape=shape, dtype=dtype))
    return message


def batch_bytes(batch: BatchData, seq_length: int, include_coordinates: bool) -> bytes:
    """``batch_message(...).SerializeToString()``, with the sequences and the label data
    copied once, straight into the result."""
    data, shape, dtype = pack_labels(batch.labels)
    sequences = np.ascontiguousarray(batch.sequences)
    tensor_rest = pb.Tensor(shape=shape, dtype=dtype).SerializeToString()
    data_head = _field_head(_DATA, len(data))
    tensor_size = len(data_head) + len(data) + len(tensor_rest)
    rest = _small_fields(batch, seq_length, include_coordinates).SerializeToString()
    parts: list[Any] = [
        _field_head(_SEQUENCES, sequences.nbytes),
        sequences,
        _field_head(_LABELS, tensor_size),
        data_head,
        data,
        tensor_rest,
        rest,
    ]
    return b"".join(parts)


def _field_head(number: int, size: int) -> bytes:
    """The key and length of a length-delimited field (two varints)."""
    return _varint(number << 3 | _LENGTH_DELIMITED) + _varint(size)


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL_VARINTS[value]
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL_VARINTS = [bytes((value,)) for value in range(0x80)]


def _small_fields(batch: BatchData, seq_length: int, include_coordinates: bool) -> pb.Batch:
    """The batch's message without its sequences and labels."""
    message = pb.Batch(batch_size=batch.batch_size, seq_length=seq_length)
    if include_coordinates:
        message.coordinates.window_index = batch.window_indices.astype("<i8").tobytes()
        message.coordinates.region_index = batch.regions.astype("<i8").tobytes()
        message.coordinates.start = batch.starts.astype("<i8").tobytes()
        if batch.strands is not None:
            message.coordinates.strand = batch.strands.astype(np.uint8).tobytes()
    if batch.cursor is not None:
        c = batch.cursor
        message.cursor.CopyFrom(
            pb.Cursor(
                epoch=c.epoch,
                rank=c.rank,
                world_size=c.world_size,
                delivered=c.delivered,
                offset=c.offset,
            )
        )
    return message

"""``Dataset``: an iterable of (x, y) batches streamed from a PeakSQL server.

x is (B, L, 4) one-hot in the caller's dtype and ambiguity policy (``peaksql.core.wire``),
or (B, L) tokens under ``encoding="tokens"`` (``peaksql.core.encodings``);
y is the labels, (B, C) or, for a label mode such as ``per_base``, (B, C, inner_range).
A background thread keeps ``prefetch`` decoded batches ready so the training loop does
not wait on the network. Iterating covers the rest of the current epoch and then moves to
the next one; ``state_dict`` records what the loop has consumed (not what was prefetched),
so a resumed run continues exactly.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from contextlib import closing
from math import prod
from typing import Any

import numpy as np

from peaksql.client import Description, StreamCanceller
from peaksql.core.allocator import reuse_message_buffers
from peaksql.core.elastic import resume_position
from peaksql.core.encodings import decode_tokens, get_encoding
from peaksql.core.errors import InvalidArgument, ResourceExhausted
from peaksql.core.label_targets import label_bits
from peaksql.core.prefetch import read_ahead
from peaksql.core.shards import num_positions
from peaksql.core.spec import DatasetSpec
from peaksql.core.wire import get_policy, packed_row_bytes, unpack_labels, unpack_sequences
from peaksql.v1 import peaksql_pb2 as pb

_END = object()


#: Bytes a stream message aims at (packed bases, labels and coordinates together). A
#: message costs about a millisecond beyond its bytes (serialization, the hand-offs
#: between the server's event loop, its pool and the client's reader), so small batches
#: travel many to a message and are split by the client. Chosen by a sweep of 8 signal
#: tracks x 32 bins, 1 kbp windows, remote: 0.75 MB 218k, 1.5 MB 247k, 3 MB 289k, 6 MB
#: 290k windows/s; bool labels gain too (362k -> 503k from 0.75 to 3 MB).
MESSAGE_BYTES = 4 << 20
#: Most windows one message asks for (the server's default max_batch_size is 65,536).
MAX_WINDOWS_PER_MESSAGE = 16_384
#: Coordinates of one window on the wire: window, region and start (int64), and a strand byte.
COORDINATE_BYTES = 25


class Dataset:
    """Batches of one dataset spec, for one rank of ``world_size``.

    The spec comes as keywords, those of ``peaksql.DatasetSpec`` (``seq_length``, ``where``,
    a sampling such as ``stride=``/``random=``/``around_intervals=True``, ``label``,
    ``inner_range``, ``conditions``, ``seed``, …): see its docstring for every sampling and
    label mode. The other keywords say how batches travel and decode: ``encoding`` is
    ``"one_hot"`` (default) or a token encoding (``"tokens"``, ``"iupac_tokens"``: x is (B, L)
    integers in ``dtype``, see ``peaksql.core.encodings``). ``seed`` seeds the spec (random
    windows, jitter, negatives, shifts, strands) and the epoch order alike. Training-ready
    fields (``exclude``, ``negatives_per_positive``, ``gc_matched``, ``reverse_complement``,
    ``max_shift``) make the epoch a subset or a doubling of the windows: ``len`` and
    ``num_windows_per_epoch`` count the epoch's (``epoch_windows``); coordinates gain a strand
    column under ``reverse_complement``.
    """

    def __init__(
        self,
        client: Any,
        *,
        batch_size: int = 128,
        shuffle: bool = False,
        epoch: int = 0,
        policy: str = "zeros",
        dtype: Any = np.float32,
        label_dtype: Any = np.float32,
        rank: int = 0,
        world_size: int = 1,
        equal_shares: bool = False,
        include_coordinates: bool = False,
        packed: bool = False,
        prefetch: int = 4,
        encoding: str = "one_hot",
        **spec: Any,
    ) -> None:
        get_policy(policy)
        get_encoding(encoding)
        if not 0 <= rank < world_size:
            raise InvalidArgument(f"rank must be in [0, world_size={world_size}), got {rank}")
        if batch_size <= 0:
            raise InvalidArgument(f"batch_size must be positive, got {batch_size}")
        self.client = client
        self.spec = DatasetSpec(**spec)
        self.seed = self.spec.seed
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.policy = policy
        self.dtype = np.dtype(dtype)
        self.label_dtype = np.dtype(label_dtype)
        if self.spec.missing == "mask" and self.label_dtype.kind != "f":
            raise InvalidArgument(
                f"missing='mask' marks unknown labels NaN: label_dtype must be floating, "
                f"not {self.label_dtype}"
            )
        self.rank = rank
        self.world_size = world_size
        self.equal_shares = equal_shares
        self.include_coordinates = include_coordinates
        self.packed = packed
        self.prefetch = max(1, prefetch)
        self.encoding = encoding
        self.epoch = epoch
        self.delivered = 0
        self.offset = 0  # epoch positions done before an elastic resume (core.elastic)
        self._description: Description | None = None
        self._shape: Description | None = None

    @classmethod
    def keywords(cls) -> tuple[str, ...]:
        """Every keyword the constructor takes: its own and those of ``DatasetSpec``."""
        own = inspect.signature(cls.__init__).parameters.values()
        names = [p.name for p in own if p.kind is inspect.Parameter.KEYWORD_ONLY]
        return (*names, *DatasetSpec.keywords())

    # -- metadata --------------------------------------------------------------------------
    def describe(self) -> Description:
        """The server's view of the spec: windows, regions, label columns, positives."""
        if self._description is None:
            self._description = self.client.describe(self.spec)
        return self._description

    def _cheap_description(self) -> Description:
        """Windows and label columns, without counting positives (fast at genome scale)."""
        if self._description is not None:
            return self._description
        if self._shape is None:
            self._shape = self.client.describe(self.spec, count_positives=False)
        return self._shape

    @property
    def num_windows(self) -> int:
        return self._cheap_description().num_windows

    @property
    def label_columns(self) -> tuple[str, ...]:
        return self._cheap_description().label_columns

    @property
    def epoch_windows(self) -> int:
        """Windows of one epoch: ``num_windows`` but for balanced negatives (the epoch's
        subset) and reverse_complement "both" (every window twice)."""
        return self._cheap_description().epoch_windows

    def num_windows_per_epoch(self) -> int:
        """Windows this rank sees per epoch."""
        return num_positions(self.epoch_windows, self.rank, self.world_size, self.equal_shares)

    def __len__(self) -> int:
        """Batches this rank gets per epoch."""
        return -(-self.num_windows_per_epoch() // self.batch_size)

    # -- epochs and resume -----------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its beginning at the next iteration."""
        self.epoch = int(epoch)
        self.delivered = 0
        self.offset = 0

    def state_dict(self) -> dict[str, Any]:
        """Where the loop is: enough to resume exactly, in this or another process."""
        return {
            "epoch": self.epoch,
            "delivered": self.delivered,
            "rank": self.rank,
            "world_size": self.world_size,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "batch_size": self.batch_size,
            "equal_shares": self.equal_shares,
            "offset": self.offset,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where ``state`` (from ``state_dict``) stopped; the batch size may differ,
        the order may not (the cursor counts windows of that order). A state of another rank
        or world size (a job restarted on more or fewer GPUs) continues the epoch when it was
        saved under ``equal_shares`` (DDP ranks in lockstep: ``peaksql.core.elastic``), and
        is refused otherwise."""
        for key in ("seed", "shuffle", "equal_shares"):
            if key in state and state[key] != getattr(self, key):
                raise InvalidArgument(
                    f"state was saved with {key}={state[key]!r}, this dataset has "
                    f"{key}={getattr(self, key)!r}"
                )
        self.epoch, self.delivered, self.offset = resume_position(state, self.rank, self.world_size)

    # -- data ------------------------------------------------------------------------------
    def _request(self, windows_per_message: int) -> pb.StreamRequest:
        """The stream's request: its first message one batch (the first batch comes as soon
        as the server has built it), the others ``windows_per_message``."""
        return pb.StreamRequest(
            spec=self.spec.to_proto(),
            batch_size=windows_per_message,
            first_batch_size=min(self.batch_size, windows_per_message),
            shuffle=self.shuffle,
            seed=self.seed,
            cursor=pb.Cursor(
                epoch=self.epoch,
                rank=self.rank,
                world_size=self.world_size,
                delivered=self.delivered,
                offset=self.offset,
            ),
            equal_shares=self.equal_shares,
            include_coordinates=self.include_coordinates,
        )

    def window_bytes(self) -> int:
        """Bytes one window takes in a message: packed bases, labels in the server's label
        shape (``Describe``, without counting positives) and coordinates when asked."""
        labels = prod(self._cheap_description().label_shape) * label_bits(self.spec)
        coordinates = COORDINATE_BYTES if self.include_coordinates else 0
        return packed_row_bytes(self.spec.seq_length) + -(-labels // 8) + coordinates

    def windows_per_message(self) -> int:
        """A multiple of ``batch_size`` filling about ``MESSAGE_BYTES``."""
        batches = max(1, MESSAGE_BYTES // (self.batch_size * self.window_bytes()))
        batches = min(batches, max(1, MAX_WINDOWS_PER_MESSAGE // self.batch_size))
        return self.batch_size * batches

    def message_sizes(self) -> list[int]:
        """Windows per message to ask for, largest first: ``windows_per_message``, then
        halved (in whole batches) each time a server's limits refuse it, down to one batch."""
        sizes, size = [], self.windows_per_message()
        while size > self.batch_size:
            sizes.append(size)
            size = size // 2 // self.batch_size * self.batch_size
        return [*sizes, self.batch_size]

    def _decode_rows(self, rows: np.ndarray, seq_length: int, decode_seed: int) -> np.ndarray:
        """Packed rows (B, ceil(L/2)) -> x: one-hot (B, L, 4), or a copy of the rows if packed."""
        if self.packed:
            return rows.copy()
        if self.encoding != "one_hot":
            return decode_tokens(rows, seq_length, self.encoding, self.dtype)
        return unpack_sequences(
            rows,
            rows.shape[0],
            seq_length,
            policy=self.policy,
            dtype=self.dtype,
            seed=decode_seed,
        )

    def _split(
        self, batch: pb.Batch, delivered: int
    ) -> Iterator[tuple[tuple[np.ndarray, ...], int]]:
        """One message -> its batches of ``batch_size`` as (arrays, delivered after each).

        Each batch is decoded with the seed of its own position, so the arrays do not depend
        on how many batches shared a message.
        """
        size = batch.batch_size
        packed = np.frombuffer(batch.sequences, np.uint8).reshape(size, -1)
        y = self._labels(batch)
        coordinates = self._coordinates(batch) if self.include_coordinates else None
        for begin in range(0, size, self.batch_size):
            end = min(begin + self.batch_size, size)
            x = self._decode_rows(
                packed[begin:end], batch.seq_length, self._decode_seed(delivered + begin)
            )
            arrays: tuple[np.ndarray, ...] = (x, y[begin:end])
            if coordinates is not None:
                arrays += (coordinates[begin:end],)
            yield arrays, delivered + end

    @staticmethod
    def _coordinates(batch: pb.Batch) -> np.ndarray:
        c = batch.coordinates
        columns = [np.frombuffer(b, dtype="<i8") for b in (c.window_index, c.region_index, c.start)]
        if c.strand:  # reverse_complement: a fourth column, 1 on the reverse strand
            columns.append(np.frombuffer(c.strand, dtype=np.uint8).astype(np.int64))
        return np.stack(columns, axis=1)

    def decode(self, batch: pb.Batch, decode_seed: int) -> tuple[np.ndarray, ...]:
        """A Batch message -> (x, y) or (x, y, coordinates) numpy arrays, as one batch.

        With ``packed=True`` x stays in wire layout, (B, ceil(L/2)) uint8, for decoding
        elsewhere (e.g. on the GPU by ``peaksql.torch``).
        """
        packed = np.frombuffer(batch.sequences, np.uint8).reshape(batch.batch_size, -1)
        x = self._decode_rows(packed, batch.seq_length, decode_seed)
        y = self._labels(batch)
        if not self.include_coordinates:
            return x, y
        return x, y, self._coordinates(batch)

    def _labels(self, batch: pb.Batch) -> np.ndarray:
        """The batch's labels as ``label_dtype``; float16 wire labels stay float16 when
        ``packed`` (the device decodes them: half the bytes to copy, cast there)."""
        y = unpack_labels(batch.labels.data, tuple(batch.labels.shape), batch.labels.dtype)
        if self.packed and y.dtype == np.float16 and self.label_dtype.kind == "f":
            return y
        return y.astype(self.label_dtype, copy=False)

    def _decode_seed(self, delivered: int) -> int:
        return (self.seed * 1_000_003 + self.epoch) * 1_000_000_007 + delivered

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        """The rest of the current epoch; afterwards the dataset moves to the next epoch.

        Small batches travel several to a gRPC message (``windows_per_message``) and are
        split here: the same windows, in the same batches, for a fraction of the per-message
        cost. A server whose limits refuse such messages is asked for half as many windows a
        message, down to one batch (``message_sizes``).
        """
        reuse_message_buffers()
        canceller = StreamCanceller()

        def batches() -> Iterator[tuple[tuple[np.ndarray, ...], int]]:
            delivered = self.delivered
            sizes = self.message_sizes()
            for attempt, windows in enumerate(sizes):
                request = self._request(windows)
                try:
                    with closing(self.client.stream(request, canceller)) as messages:
                        for message in messages:
                            yield from self._split(message, delivered)
                            delivered = message.cursor.delivered
                    return
                except ResourceExhausted:
                    if delivered != self.delivered or attempt == len(sizes) - 1:
                        raise

        with read_ahead(batches(), self.prefetch, on_stop=canceller.cancel) as ahead:
            for arrays, delivered in ahead:
                self.delivered = delivered
                yield arrays
        self.epoch += 1
        self.delivered = 0
        self.offset = 0

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        """One window by index (map-style): x (L, 4), y (C,)."""
        n = self.num_windows
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"window index {index} out of range for {n} windows")
        return tuple(a[0] for a in self.get_batch([index]))

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, ...]:
        """The given windows as one batch, in the given order."""
        batch = self.client.get_windows(self.spec, indices, self.include_coordinates)
        return self.decode(batch, self._decode_seed(int(indices[0]) if len(indices) else 0))

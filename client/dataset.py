"""``Dataset``: an iterable of (x, y) batches streamed from a PeakSQL server.

x is (B, L, 4) one-hot in the caller's dtype and ambiguity policy; y is (B, C) labels (or
(B, C, inner_range) for ``per_base``). A background thread keeps ``prefetch`` decoded
batches ready so the training loop does not wait on the network. Iterating covers the
rest of the current epoch and then moves to the next one; ``state_dict`` records what the
loop has consumed (not what was prefetched), so a resumed run continues exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from typing import Any

import numpy as np

from peaksql.client import StreamCanceller
from peaksql.errors import InvalidArgument
from peaksql.prefetch import read_ahead
from peaksql.spec import DatasetSpec
from peaksql.v1 import peaksql_pb2 as pb
from peaksql.wire import POLICIES, unpack_labels, unpack_sequences

_END = object()


def num_positions(num_windows: int, rank: int, world_size: int, equal: bool) -> int:
    """Windows rank ``rank`` of ``world_size`` sees in one epoch (see server order.py)."""
    if equal:
        return -(-num_windows // world_size)
    return max(0, -(-(num_windows - rank) // world_size))


class Dataset:
    """Batches of one dataset spec, for one rank of ``world_size``.

    Sampling: ``stride`` (default: ``seq_length``, tiling), ``random=N`` windows, or
    ``around_intervals=True`` (centred on each matching interval, ``max_jitter``). Labels:
    ``label`` in any/all/fraction/summit/per_base over the centred ``inner_range``.
    """

    def __init__(
        self,
        client: Any,
        *,
        seq_length: int,
        where: str = "",
        stride: int | None = None,
        random: int | None = None,
        around_intervals: bool = False,
        max_jitter: int = 0,
        label: str = "any",
        fraction: float = 0.5,
        inner_range: int = 0,
        conditions: Sequence[str] = (),
        max_n_fraction: float | None = None,
        batch_size: int = 128,
        shuffle: bool = False,
        seed: int = 0,
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
    ) -> None:
        if policy not in POLICIES:
            raise InvalidArgument(f"unknown policy {policy!r}; choose one of {POLICIES}")
        if not 0 <= rank < world_size:
            raise InvalidArgument(f"rank must be in [0, world_size={world_size}), got {rank}")
        if batch_size <= 0:
            raise InvalidArgument(f"batch_size must be positive, got {batch_size}")
        self.client = client
        self.spec = DatasetSpec(
            seq_length=seq_length,
            where=where,
            stride=stride,
            random=random,
            around_intervals=around_intervals,
            max_jitter=max_jitter,
            label=label,
            fraction=fraction,
            inner_range=inner_range,
            conditions=tuple(conditions),
            max_n_fraction=max_n_fraction,
            seed=seed,
        )
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.policy = policy
        self.dtype = np.dtype(dtype)
        self.label_dtype = np.dtype(label_dtype)
        self.rank = rank
        self.world_size = world_size
        self.equal_shares = equal_shares
        self.include_coordinates = include_coordinates
        self.packed = packed
        self.prefetch = max(1, prefetch)
        self.epoch = epoch
        self.delivered = 0
        self._description = None
        self._shape = None

    # -- metadata --------------------------------------------------------------------------
    def describe(self):  # type: ignore[no-untyped-def]
        """The server's view of the spec: windows, regions, label columns, positives."""
        if self._description is None:
            self._description = self.client.describe(self.spec)
        return self._description

    def _cheap_description(self):  # type: ignore[no-untyped-def]
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

    def num_windows_per_epoch(self) -> int:
        """Windows this rank sees per epoch."""
        return num_positions(self.num_windows, self.rank, self.world_size, self.equal_shares)

    def __len__(self) -> int:
        """Batches this rank gets per epoch."""
        return -(-self.num_windows_per_epoch() // self.batch_size)

    # -- epochs and resume -----------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its beginning at the next iteration."""
        self.epoch = int(epoch)
        self.delivered = 0

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
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where ``state`` (from ``state_dict``) stopped; the batch size may differ,
        the shard and the order may not (the cursor counts windows of that order)."""
        for key in ("rank", "world_size", "seed", "shuffle", "equal_shares"):
            if key in state and state[key] != getattr(self, key):
                raise InvalidArgument(
                    f"state was saved with {key}={state[key]!r}, this dataset has "
                    f"{key}={getattr(self, key)!r}"
                )
        self.epoch = int(state["epoch"])
        self.delivered = int(state["delivered"])

    # -- data ------------------------------------------------------------------------------
    def _request(self) -> pb.StreamRequest:
        return pb.StreamRequest(
            spec=self.spec.to_proto(),
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            seed=self.seed,
            cursor=pb.Cursor(
                epoch=self.epoch,
                rank=self.rank,
                world_size=self.world_size,
                delivered=self.delivered,
            ),
            equal_shares=self.equal_shares,
            include_coordinates=self.include_coordinates,
        )

    def decode(self, batch: pb.Batch, decode_seed: int) -> tuple[np.ndarray, ...]:
        """A Batch message -> (x, y) or (x, y, coordinates) numpy arrays.

        With ``packed=True`` x stays in wire layout, (B, ceil(L/2)) uint8, for decoding
        elsewhere (e.g. on the GPU by ``peaksql.torch``).
        """
        if self.packed:
            x = np.frombuffer(batch.sequences, np.uint8).reshape(batch.batch_size, -1).copy()
        else:
            x = unpack_sequences(
                batch.sequences,
                batch.batch_size,
                batch.seq_length,
                policy=self.policy,
                dtype=self.dtype,
                seed=decode_seed,
            )
        y = unpack_labels(batch.labels.data, tuple(batch.labels.shape), batch.labels.dtype)
        y = y.astype(self.label_dtype, copy=False)
        if not self.include_coordinates:
            return x, y
        c = batch.coordinates
        coordinates = np.stack(
            [np.frombuffer(b, dtype="<i8") for b in (c.window_index, c.region_index, c.start)],
            axis=1,
        )
        return x, y, coordinates

    def _decode_seed(self, delivered: int) -> int:
        return (self.seed * 1_000_003 + self.epoch) * 1_000_000_007 + delivered

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        """The rest of the current epoch; afterwards the dataset moves to the next epoch."""
        request = self._request()
        canceller = StreamCanceller()

        def decoded() -> Iterator[tuple[tuple[np.ndarray, ...], int]]:
            delivered = request.cursor.delivered
            with closing(self.client.stream(request, canceller)) as batches:
                for batch in batches:
                    yield self.decode(batch, self._decode_seed(delivered)), batch.cursor.delivered
                    delivered = batch.cursor.delivered

        with read_ahead(decoded(), self.prefetch, on_stop=canceller.cancel) as ahead:
            for arrays, delivered in ahead:
                self.delivered = delivered
                yield arrays
        self.epoch += 1
        self.delivered = 0

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

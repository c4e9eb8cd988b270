"""JAX adapter: PeakSQL batches as ``jax.Array``, one shard of each epoch per JAX process.

    data = peaksql.jax.JaxDataset("server:50051", seq_length=1000, stride=500,
                                  shuffle=True, seed=0, batch_size=128)
    for epoch in range(10):
        data.set_epoch(epoch)
        for x, y in data:          # jax.Array on the default device, transfer overlapped
            params = train_step(params, x, y)

The stream is decoded by numpy (``peaksql.Dataset``, the one decode path of the client) and
put on the device with ``jax.device_put``, which is asynchronous: ``device_prefetch``
batches are put ahead of the one the loop holds, so the host-to-device copy of the next
batch overlaps the step on the current one.

Sharding: ``rank``/``world_size`` default to ``jax.process_index()``/``jax.process_count()``,
so on a multi-host job each process streams a disjoint part of every epoch. With
``sharding`` (e.g. ``NamedSharding(mesh, PartitionSpec("data"))``) each process's batch
becomes its part of one global array (``jax.make_array_from_process_local_data``), the
pattern of multi-host data-parallel SPMD; on one host it splits the batch across the local
devices. SPMD steps need the same number of batches of the same shape in every process:
with several processes ``equal_shares`` defaults to True (every rank gets ceil(N/W)
windows, wrapping to the start of the epoch) and ``drop_last`` drops a short last batch.
Coordinates (``include_coordinates=True``) stay on the host as numpy.

Epochs and resume follow ``peaksql.Dataset``: iterating covers the rest of the current
epoch and moves to the next; ``state_dict`` counts the batches the loop received, not those
prefetched to the device, so a restarted job continues exactly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import numpy as np

from peaksql.client import Client, Description
from peaksql.dataset import Dataset

#: Keyword arguments that configure the client rather than the dataset.
CLIENT_ARGS = ("token", "token_file", "root_certificates", "certificate_chain", "private_key")


def to_device(
    array: np.ndarray, device: Any = None, sharding: jax.sharding.Sharding | None = None
) -> jax.Array:
    """A host batch -> a ``jax.Array``: this process's part of a global array with
    ``sharding``, else on ``device`` (default: JAX's default device)."""
    if sharding is not None:
        return jax.make_array_from_process_local_data(sharding, array)
    return jax.device_put(array, device)


class JaxDataset:
    """Batches of ``peaksql.Dataset`` as (x, y) ``jax.Array`` pairs (coordinates: numpy).

    Keyword arguments other than the client's (``token``, TLS files) go to
    ``peaksql.Dataset``: ``seq_length``, ``where``, ``batch_size``, ``shuffle``, ``seed``,
    ``dtype`` (a numpy dtype; ``jax.numpy.bfloat16`` works too), ...
    """

    def __init__(
        self,
        address: str | Sequence[str] | Client,
        *,
        rank: int | None = None,
        world_size: int | None = None,
        device: Any = None,
        sharding: jax.sharding.Sharding | None = None,
        device_prefetch: int = 2,
        drop_last: bool = False,
        **dataset_args: Any,
    ) -> None:
        client_args = {k: dataset_args.pop(k) for k in CLIENT_ARGS if k in dataset_args}
        self.client = address if isinstance(address, Client) else Client(address, **client_args)
        self.rank = jax.process_index() if rank is None else rank
        self.world_size = jax.process_count() if world_size is None else world_size
        dataset_args.setdefault("equal_shares", self.world_size > 1)
        self.dataset = Dataset(
            self.client, rank=self.rank, world_size=self.world_size, **dataset_args
        )
        self.device = device
        self.sharding = sharding
        self.device_prefetch = max(0, device_prefetch)
        self.drop_last = drop_last
        self._state = self.dataset.state_dict()

    def __len__(self) -> int:
        """Batches per epoch for this process (without a short last one if ``drop_last``)."""
        dataset = self.dataset
        if self.drop_last:
            return dataset.num_windows_per_epoch() // dataset.batch_size
        return len(dataset)

    def describe(self) -> Description:
        """The server's view of the spec (windows, regions, label columns, positives)."""
        return self.dataset.describe()

    @property
    def epoch(self) -> int:
        return int(self._state["epoch"])

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its beginning at the next iteration."""
        self.dataset.set_epoch(epoch)
        self._state = self.dataset.state_dict()

    def state_dict(self) -> dict[str, Any]:
        """Where the loop is (batches it received): resume with ``load_state_dict``."""
        return dict(self._state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where ``state`` stopped (same shard and order; see ``Dataset``)."""
        self.dataset.load_state_dict(state)
        self._state = self.dataset.state_dict()

    def _put(self, arrays: tuple[np.ndarray, ...]) -> tuple[Any, ...]:
        x, y, *rest = arrays
        put = (to_device(x, self.device, self.sharding), to_device(y, self.device, self.sharding))
        return put + tuple(rest)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        """The rest of the current epoch as device arrays; then the dataset moves on."""
        dataset, batch_size = self.dataset, self.dataset.batch_size
        dataset.load_state_dict(self._state)
        ahead: deque[tuple[tuple[Any, ...], dict[str, Any]]] = deque()
        for arrays in dataset:
            if self.drop_last and arrays[0].shape[0] < batch_size:
                continue
            ahead.append((self._put(arrays), dataset.state_dict()))
            if len(ahead) > self.device_prefetch:
                batch, self._state = ahead.popleft()
                yield batch
        while ahead:
            batch, self._state = ahead.popleft()
            yield batch
        self._state = dataset.state_dict()  # the next epoch, from its beginning

    def close(self) -> None:
        """Close the gRPC channel."""
        self.client.close()

"""PyTorch adapter: an IterableDataset that splits a PeakSQL stream by DDP rank and worker.

    data = peaksql.torch.TorchDataset("server:50051", seq_length=1000, ..., device="cuda")
    for x, y in peaksql.torch.DeviceLoader(data, num_workers=2): ...   # x, y on the GPU

Worker ``w`` of ``K`` on DDP rank ``r`` of ``W`` streams rank ``r*K + w`` of ``W*K``: the
workers and ranks share out each epoch with no window twice. Each worker opens its own
gRPC channel (channels do not survive fork). With ``device="cuda"`` batches travel packed
to the device and are decoded there (8x less host-to-device traffic than uint8 one-hot).

CUDA cannot start in a forked DataLoader worker, so the workers of a ``DeviceLoader`` only
stream packed batches (into pinned memory); the training process copies them to the device
without blocking and decodes there. Worker processes also keep gRPC and unpacking off the
training process's GIL. A plain ``DataLoader`` works for CPU tensors (``device=None``), or
for ``device="cuda"`` with ``num_workers=0``; give ``TorchDataset(num_workers=K)`` the
loader's worker count so that ``len()`` counts each worker's last partial batch.
The only module of the client that imports torch.
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from peaksql.client import Client
from peaksql.core.encodings import get_encoding
from peaksql.core.shards import num_positions
from peaksql.core.wire import POLICY_REGISTRY, byte_table, get_policy
from peaksql.dataset import Dataset

_TORCH_DTYPES = {
    torch.float32: np.float32,
    torch.float16: np.float16,
    torch.uint8: np.uint8,
    torch.int8: np.int8,
    torch.int16: np.int16,
    torch.int32: np.int32,
    torch.int64: np.int64,
}
_tables: dict[tuple[str, torch.dtype, str], torch.Tensor] = {}


def unpack_on_device(
    packed: torch.Tensor,
    seq_length: int,
    *,
    policy: str = "zeros",
    dtype: torch.dtype = torch.float32,
    encoding: str = "one_hot",
) -> torch.Tensor:
    """(B, ceil(L/2)) uint8 packed bases on any device -> (B, L, 4) one-hot there, or
    (B, L) tokens under a token ``encoding`` (``peaksql.core.encodings``).

    One-hot: one gather from a 256 x 8 table (a byte -> its two decoded bases) cached per
    device; a policy that draws per base (``random``) needs the host and is not offered here.
    Tokens: the two nibbles of each byte index a 16-entry table on the device.
    """
    token_table = get_encoding(encoding).token_table
    if token_table is not None:
        key = (encoding, dtype, str(packed.device))
        table = _tables.get(key)
        if table is None:
            table = torch.from_numpy(np.array(token_table)).to(packed.device, dtype)
            _tables[key] = table
        nibbles = torch.stack((packed >> 4, packed & 15), dim=2).reshape(packed.shape[0], -1)
        return table[nibbles[:, :seq_length].long()]
    if get_policy(policy).resolve is not None:
        tables = [p.name for p in POLICY_REGISTRY.values() if p.resolve is None]
        raise ValueError(
            f"policy {policy!r} draws per base on the host; use one of {', '.join(tables)}"
        )
    key = (policy, dtype, str(packed.device))
    table = _tables.get(key)
    if table is None:
        host = byte_table(policy, _TORCH_DTYPES.get(dtype, np.float32))
        table = torch.from_numpy(host).to(packed.device, dtype)
        _tables[key] = table
    decoded = table[packed.long()]
    return decoded.reshape(packed.shape[0], 2 * packed.shape[1], 4)[:, :seq_length]


def _distributed() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class TorchDataset(IterableDataset):
    """Batches as torch tensors; use with ``DataLoader(..., batch_size=None)``.

    ``rank``/``world_size`` default to torch.distributed's when it is initialised. Keyword
    arguments of ``peaksql.Client`` (``CLIENT_ARGS``) open each worker's client; every other
    goes to ``peaksql.Dataset`` (``Dataset.keywords()``), checked here, not in a worker.
    """

    #: Every keyword-only argument of ``Client``, read from its signature.
    CLIENT_ARGS: tuple[str, ...] = tuple(
        p.name
        for p in inspect.signature(Client.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    )

    def __init__(
        self,
        address: str | Sequence[str],
        *,
        device: str | torch.device | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        dtype: torch.dtype = torch.float32,
        num_workers: int = 0,
        **dataset_args: Any,
    ) -> None:
        super().__init__()
        self.address = address
        self.client_args = {k: dataset_args.pop(k) for k in self.CLIENT_ARGS if k in dataset_args}
        unknown = [k for k in dataset_args if k not in Dataset.keywords()]
        if unknown:
            raise TypeError(f"TorchDataset() got an unexpected keyword argument {unknown[0]!r}")
        self.dataset_args = dataset_args
        self.device = torch.device(device) if device is not None else None
        self.dtype = dtype
        self.rank, self.world_size = rank, world_size
        self.num_workers = num_workers
        self.epoch = int(dataset_args.pop("epoch", 0))
        self._client: Client | None = None
        self._client_pid: int | None = None
        #: Yield packed bases on the host (set for a DeviceLoader's workers).
        self._host_packed = False

    def _dataset(self, rank: int, world_size: int) -> Dataset:
        if self._client is None or self._client_pid != os.getpid():
            self._client = Client(self.address, **self.client_args)
            self._client_pid = os.getpid()
        return Dataset(
            self._client,
            rank=rank,
            world_size=world_size,
            epoch=self.epoch,
            packed=self._on_device() or self._host_packed,
            dtype=_TORCH_DTYPES.get(self.dtype, np.float32),
            **self.dataset_args,
        )

    def _shard(self) -> tuple[int, int]:
        ddp_rank, ddp_world = _distributed()
        rank = ddp_rank if self.rank is None else self.rank
        world = ddp_world if self.world_size is None else self.world_size
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        return rank * workers + worker, world * workers

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for spawned workers without the parent's client (channels do not travel)."""
        state = self.__dict__.copy()
        state["_client"] = state["_client_pid"] = None
        return state

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` at the next iteration (call before each epoch, as with DDP samplers)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Batches per epoch over every worker of this rank (``num_workers`` of the loader)."""
        ddp_rank, ddp_world = _distributed()
        rank = ddp_rank if self.rank is None else self.rank
        world = ddp_world if self.world_size is None else self.world_size
        workers = max(1, self.num_workers)
        first = self._dataset(rank * workers, world * workers)
        num_windows = first.num_windows
        return sum(
            -(
                -num_positions(num_windows, rank * workers + w, world * workers, first.equal_shares)
                // first.batch_size
            )
            for w in range(workers)
        )

    def _check_worker(self) -> None:
        info = get_worker_info()
        if info is None:
            return
        if self.num_workers and info.num_workers != self.num_workers:
            raise ValueError(
                f"TorchDataset(num_workers={self.num_workers}) runs in a DataLoader with "
                f"num_workers={info.num_workers}: give both the same number"
            )
        if self._on_device() and not self._host_packed:
            raise RuntimeError(
                f"TorchDataset(device={str(self.device)!r}) cannot decode in a DataLoader "
                "worker process (CUDA does not start in a forked process): use "
                "peaksql.torch.DeviceLoader(dataset, num_workers=...) instead of DataLoader"
            )

    def _on_device(self) -> bool:
        return self.device is not None and self.device.type != "cpu"

    def decode(self, x: torch.Tensor, seq_length: int) -> torch.Tensor:
        """Packed bases (B, ceil(L/2)) uint8 -> one-hot (B, L, 4) on this dataset's device."""
        x = x.to(self.device or "cpu", non_blocking=True)
        policy = self.dataset_args.get("policy", "zeros")
        encoding = self.dataset_args.get("encoding", "one_hot")
        return unpack_on_device(x, seq_length, policy=policy, dtype=self.dtype, encoding=encoding)

    def labels_on_device(self, y: torch.Tensor) -> torch.Tensor:
        """Labels to this dataset's device; float16 wire labels become ``label_dtype`` there
        (float16 -> device -> float32: half the bytes over PCIe)."""
        y = y.to(self.device or "cpu", non_blocking=True)
        wanted = np.dtype(self.dataset_args.get("label_dtype", np.float32))
        if y.dtype == torch.float16 and wanted != np.float16:
            y = y.to(torch.from_numpy(np.zeros(0, wanted)).dtype)
        return y

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        self._check_worker()
        dataset = self._dataset(*self._shard())
        seq_length = dataset.spec.seq_length
        for arrays in dataset:
            x, y, *rest = (torch.from_numpy(np.asarray(a)) for a in arrays)
            if self._host_packed:
                pass  # a DeviceLoader moves and decodes in the training process
            elif dataset.packed:
                x = self.decode(x, seq_length)
                y = self.labels_on_device(y)
            elif x.dtype != self.dtype:  # a dtype numpy lacks (bfloat16): decoded as float32
                x = x.to(self.dtype)
            yield (x, y, *rest)


class DeviceLoader:
    """A DataLoader whose workers stream packed batches and whose training process decodes.

    Workers (processes, so gRPC never holds the training loop's GIL) put packed bases and
    labels into (pinned, for CUDA) memory: 8x fewer bytes through the worker queues than
    uint8 one-hot; each batch is copied to ``dataset.device`` (or kept on the host) without
    blocking and decoded there by one table gather. ``len()`` is exact for any
    ``num_workers``. A policy that draws per base (``random``) is decoded in the workers.
    """

    def __init__(
        self,
        dataset: TorchDataset,
        *,
        num_workers: int = 2,
        prefetch_factor: int = 4,
        pin_memory: bool | None = None,
    ) -> None:
        self.dataset = dataset
        self._workers = copy.copy(dataset)
        self._workers.num_workers = num_workers
        policy = get_policy(dataset.dataset_args.get("policy", "zeros"))
        self._workers._host_packed = policy.resolve is None
        device = dataset.device or torch.device("cpu")
        self._loader = DataLoader(
            self._workers,
            batch_size=None,
            num_workers=num_workers,
            pin_memory=device.type == "cuda" if pin_memory is None else pin_memory,
            prefetch_factor=prefetch_factor if num_workers else None,
        )

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` at the next iteration."""
        self.dataset.set_epoch(epoch)
        self._workers.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self._workers)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        seq_length = int(self.dataset.dataset_args["seq_length"])
        for x, y, *rest in self._loader:
            if self._workers._host_packed:
                x = self.dataset.decode(x, seq_length)
                y = self.dataset.labels_on_device(y)
            yield (x, y, *rest)

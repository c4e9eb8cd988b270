"""PyTorch adapter: an IterableDataset that splits a PeakSQL stream by DDP rank and worker.

    loader = DataLoader(peaksql.torch.TorchDataset("server:50051", seq_length=1000, ...),
                        batch_size=None, num_workers=2)

Worker ``w`` of ``K`` on DDP rank ``r`` of ``W`` streams rank ``r*K + w`` of ``W*K``: the
workers and ranks share out each epoch with no window twice. Each worker opens its own
gRPC channel (channels do not survive fork). With ``device="cuda"`` batches travel packed
to the device and are decoded there (8x less host-to-device traffic than uint8 one-hot).
The only module of the client that imports torch.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from peaksql.client import Client
from peaksql.core.encodings import get_encoding
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
        self.epoch = int(dataset_args.pop("epoch", 0))
        self._client: Client | None = None
        self._client_pid: int | None = None

    def _dataset(self, rank: int, world_size: int) -> Dataset:
        if self._client is None or self._client_pid != os.getpid():
            self._client = Client(self.address, **self.client_args)
            self._client_pid = os.getpid()
        on_device = self.device is not None and self.device.type != "cpu"
        return Dataset(
            self._client,
            rank=rank,
            world_size=world_size,
            epoch=self.epoch,
            packed=on_device,
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
        rank, world = self._shard()
        return len(self._dataset(rank, world))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        dataset = self._dataset(*self._shard())
        seq_length = dataset.spec.seq_length
        for arrays in dataset:
            x, y, *rest = (torch.from_numpy(np.asarray(a)) for a in arrays)
            if dataset.packed:
                x = x.to(self.device, non_blocking=True)
                x = unpack_on_device(
                    x,
                    seq_length,
                    policy=dataset.policy,
                    dtype=self.dtype,
                    encoding=dataset.encoding,
                )
                y = y.to(self.device, non_blocking=True)
            elif x.dtype != self.dtype:  # a dtype numpy lacks (bfloat16): decoded as float32
                x = x.to(self.dtype)
            yield (x, y, *rest)

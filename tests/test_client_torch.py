"""The PyTorch adapter: ranks x DataLoader workers share out each epoch exactly once, tensors
equal the numpy decode, and decoding on the device equals ``unpack_sequences``.

The server runs as a subprocess: DataLoader workers are forked, and a process that forks
must not hold a running gRPC server.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

import peaksql
from peaksql.core.wire import unpack_sequences
from peaksql.dataset import Dataset
from peaksql.torch import DeviceLoader, TorchDataset, unpack_on_device
from tests.adapter_helpers import served_catalog

SEQ_LENGTH = 101
ARGS = {"seq_length": SEQ_LENGTH, "stride": 37, "batch_size": 9, "include_coordinates": True}


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from served_catalog(tmp_path_factory, "torch")


@pytest.fixture(scope="module")
def num_windows(address: str) -> int:
    with peaksql.Client(address) as client:
        return Dataset(client, **ARGS).num_windows


def epoch_indices(loader: DataLoader) -> list[int]:
    return [int(i) for _, _, c in loader for i in c[:, 0]]


@pytest.mark.parametrize("world_size", [1, 2])
def test_ranks_and_workers_cover_each_epoch_exactly_once(
    address: str, num_windows: int, world_size: int
) -> None:
    for epoch in (0, 1):
        seen: list[int] = []
        for rank in range(world_size):
            data = TorchDataset(
                address, rank=rank, world_size=world_size, shuffle=True, seed=3, **ARGS
            )
            data.set_epoch(epoch)
            seen += epoch_indices(DataLoader(data, batch_size=None, num_workers=2))
        assert sorted(seen) == list(range(num_windows))


def test_set_epoch_changes_the_order_the_loader_sees(address: str) -> None:
    data = TorchDataset(address, rank=0, world_size=1, shuffle=True, seed=3, **ARGS)
    loader = DataLoader(data, batch_size=None, num_workers=2)
    first, again = epoch_indices(loader), epoch_indices(loader)
    data.set_epoch(1)
    second = epoch_indices(loader)
    assert first == again != second
    assert sorted(first) == sorted(second)


def test_a_worker_streams_the_shard_of_rank_times_workers(address: str) -> None:
    # worker w of K on rank r of W is rank r*K + w of W*K: compare the loader's batches
    # with the numpy Dataset of each such shard, interleaved as the loader yields them.
    world, workers = 2, 2
    data = TorchDataset(address, rank=1, world_size=world, shuffle=True, seed=5, **ARGS)
    got = list(DataLoader(data, batch_size=None, num_workers=workers))
    with peaksql.Client(address) as client:
        shards = [
            list(
                Dataset(
                    client,
                    rank=1 * workers + w,
                    world_size=world * workers,
                    shuffle=True,
                    seed=5,
                    **ARGS,
                )
            )
            for w in range(workers)
        ]
    expected = [b for pair in zip(*shards, strict=False) for b in pair]
    expected += shards[0][len(shards[1]) :] + shards[1][len(shards[0]) :]
    assert len(got) == len(expected)
    for (x, y, c), (ex, ey, ec) in zip(got, expected, strict=True):
        assert isinstance(x, torch.Tensor) and x.dtype == torch.float32
        np.testing.assert_array_equal(x.numpy(), ex)
        np.testing.assert_array_equal(y.numpy(), ey)
        np.testing.assert_array_equal(c.numpy(), ec)


def test_len_and_dtypes_in_the_main_process(address: str) -> None:
    data = TorchDataset(
        address, rank=0, world_size=1, dtype=torch.float16, policy="uniform", **ARGS
    )
    batches = list(data)
    assert len(data) == len(batches)
    x, y, _ = batches[0]
    assert x.dtype == torch.float16 and x.shape == (9, SEQ_LENGTH, 4) and y.shape[0] == 9


def test_bfloat16_is_honoured(address: str) -> None:
    data = TorchDataset(address, rank=0, world_size=1, dtype=torch.bfloat16, **ARGS)
    x, _, _ = next(iter(data))
    assert x.dtype == torch.bfloat16


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 4),
    seq_length=st.integers(1, 33),
    policy=st.sampled_from(["zeros", "uniform", "mask"]),
    dtype=st.sampled_from([torch.float32, torch.float16, torch.uint8]),
    seed=st.integers(0, 2**32 - 1),
)
def test_unpack_on_device_equals_unpack_sequences(
    batch: int, seq_length: int, policy: str, dtype: torch.dtype, seed: int
) -> None:
    if policy == "uniform" and dtype == torch.uint8:
        dtype = torch.float32
    rng = np.random.default_rng(seed)
    masks = rng.integers(0, 16, size=(batch, seq_length + seq_length % 2), dtype=np.uint8)
    if seq_length % 2:
        masks[:, -1] = 0  # the pad nibble of an odd length
    packed = (masks[:, 0::2] << 4) | masks[:, 1::2]
    np_dtype = {torch.float32: np.float32, torch.float16: np.float16, torch.uint8: np.uint8}[dtype]
    expected = unpack_sequences(packed, batch, seq_length, policy=policy, dtype=np_dtype)
    got = unpack_on_device(torch.from_numpy(packed), seq_length, policy=policy, dtype=dtype)
    assert got.dtype == dtype and got.shape == (batch, seq_length, 4)
    np.testing.assert_array_equal(got.numpy(), expected)


def test_unpack_on_device_of_an_empty_batch() -> None:
    got = unpack_on_device(torch.zeros((0, 3), dtype=torch.uint8), 5)
    assert got.shape == (0, 5, 4)


def test_unpack_on_device_refuses_the_random_policy() -> None:
    with pytest.raises(ValueError, match="random"):
        unpack_on_device(torch.zeros((1, 2), dtype=torch.uint8), 4, policy="random")


def test_packed_transfer_decodes_like_the_host(address: str) -> None:
    # device="cpu" keeps the host decode; a packed dataset decoded by unpack_on_device must
    # give the same tensors (the path CUDA takes).
    with peaksql.Client(address) as client:
        host = list(Dataset(client, policy="uniform", **ARGS))
        packed = list(Dataset(client, policy="uniform", packed=True, **ARGS))
    for (x, y, _), (p, py, _) in zip(host, packed, strict=True):
        assert p.dtype == np.uint8 and p.shape == (x.shape[0], (SEQ_LENGTH + 1) // 2)
        decoded = unpack_on_device(torch.from_numpy(p), SEQ_LENGTH, policy="uniform")
        np.testing.assert_array_equal(decoded.numpy(), x)
        np.testing.assert_array_equal(py, y)


def test_pickles_without_its_client_for_spawned_workers(address: str) -> None:
    import pickle

    data = TorchDataset(address, rank=0, world_size=1, **ARGS)
    expected = len(data)  # opens a client in this process
    copy = pickle.loads(pickle.dumps(data))
    assert copy._client is None
    assert len(list(copy)) == expected


@pytest.mark.parametrize("workers", [0, 2, 3])
def test_len_counts_each_workers_last_batch(address: str, workers: int) -> None:
    # 9-window batches over K worker shards: K partial batches, not one
    data = TorchDataset(address, num_workers=workers, **ARGS)
    batches = list(DataLoader(data, batch_size=None, num_workers=workers))
    assert len(data) == len(batches)
    assert len(DeviceLoader(TorchDataset(address, **ARGS), num_workers=workers)) == len(batches)


def test_a_worker_count_other_than_the_datasets_is_refused(address: str) -> None:
    data = TorchDataset(address, num_workers=3, **ARGS)
    with pytest.raises(ValueError, match=r"num_workers=3\) runs in a DataLoader with"):
        list(DataLoader(data, batch_size=None, num_workers=2))


def test_a_device_dataset_in_plain_workers_says_to_use_the_device_loader(address: str) -> None:
    # refused before any CUDA call, so this runs on a machine without a GPU
    data = TorchDataset(address, device="cuda", **ARGS)
    with pytest.raises(RuntimeError, match=r"use peaksql\.torch\.DeviceLoader"):
        list(DataLoader(data, batch_size=None, num_workers=2))


@pytest.mark.parametrize("policy", ["zeros", "uniform", "random"])
def test_device_loader_gives_the_batches_of_the_worker_loader(address: str, policy: str) -> None:
    # workers send packed bases (host decode for "random"); the training process decodes
    plain = TorchDataset(address, policy=policy, shuffle=True, seed=5, **ARGS)
    device = DeviceLoader(
        TorchDataset(address, policy=policy, shuffle=True, seed=5, **ARGS), num_workers=2
    )
    device.set_epoch(1)
    plain.set_epoch(1)
    expected = list(DataLoader(plain, batch_size=None, num_workers=2))
    got = list(device)
    assert len(got) == len(expected) == len(device)
    for (x, y, c), (ex, ey, ec) in zip(got, expected, strict=True):
        assert x.dtype == torch.float32 and x.shape == ex.shape
        torch.testing.assert_close(x, ex)
        torch.testing.assert_close(y, ey)
        torch.testing.assert_close(c, ec)


def test_example_script_trains() -> None:
    script = Path(__file__).resolve().parents[1] / "examples" / "train_pytorch.py"
    command = [sys.executable, str(script), "--epochs", "1", "--max-steps", "3"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "validation loss" in done.stdout

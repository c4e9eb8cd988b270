"""The JAX adapter: device arrays equal the numpy ``Dataset`` byte for byte, shards default to
the JAX process, epochs move on, ``state_dict`` counts what the loop received (not what was
prefetched to the device), a sharding assembles global arrays; the example script trains.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from peaksql.jax import JaxDataset
from tests.adapter_helpers import ARGS, assert_same, numpy_epoch, served_catalog

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from served_catalog(tmp_path_factory, "jax")


def test_device_arrays_equal_the_numpy_dataset_and_epochs_move_on(address: str) -> None:
    data = JaxDataset(address, policy="uniform", **ARGS)
    assert (data.rank, data.world_size) == (jax.process_index(), jax.process_count())
    for epoch in range(2):
        assert data.epoch == epoch
        got = list(data)
        assert all(isinstance(a, jax.Array) for batch in got for a in batch)
        assert len(got) == len(data)
        assert_same(got, numpy_epoch(address, epoch, policy="uniform"))
    assert data.epoch == 2
    data.set_epoch(0)
    assert_same(list(data), numpy_epoch(address, 0, policy="uniform"))
    data.close()


def test_shards_and_coordinates(address: str) -> None:
    got = []
    for rank in range(2):
        data = JaxDataset(address, rank=rank, world_size=2, include_coordinates=True, **ARGS)
        batches = list(data)
        assert isinstance(batches[0][2], np.ndarray)  # coordinates stay on the host
        assert_same(
            batches,
            numpy_epoch(
                address, rank=rank, world_size=2, equal_shares=True, include_coordinates=True
            ),
        )
        got += [int(i) for *_, c in batches for i in c[:, 0]]
    num_windows = data.dataset.num_windows
    assert set(got) == set(range(num_windows))  # every window of the epoch
    assert len(got) - num_windows <= 1  # equal shares: at most W - 1 windows twice


def test_state_counts_received_batches_not_prefetched_ones(address: str) -> None:
    expected = numpy_epoch(address)
    data = JaxDataset(address, device_prefetch=3, **ARGS)
    iterator = iter(data)
    head = [next(iterator) for _ in range(4)]
    state = data.state_dict()
    assert state["epoch"] == 0 and state["delivered"] == 4 * ARGS["batch_size"]
    resumed = JaxDataset(address, **ARGS)
    resumed.load_state_dict(state)
    assert_same(head + list(resumed), expected)
    assert resumed.state_dict()["epoch"] == 1 and resumed.state_dict()["delivered"] == 0
    # the abandoned loop resumes where it stopped, in the same object
    assert_same(list(data), expected[4:])


def test_sharding_and_drop_last(address: str) -> None:
    mesh = Mesh(np.array(jax.devices()), ("data",))
    sharding = NamedSharding(mesh, PartitionSpec("data"))
    data = JaxDataset(address, sharding=sharding, drop_last=True, **ARGS)
    expected = [b for b in numpy_epoch(address) if len(b[0]) == ARGS["batch_size"]]
    got = list(data)
    assert len(data) == len(got) == len(expected)
    assert all(x.sharding == sharding for x, _ in got)
    assert_same(got, expected)


def test_example_script_trains() -> None:
    command = [sys.executable, str(EXAMPLES / "train_jax.py"), "--epochs", "1", "--max-steps", "3"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "validation loss" in done.stdout

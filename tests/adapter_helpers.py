"""Shared by the adapter tests (torch, keras, jax): a served catalog in a subprocess (a
process that forks DataLoader workers must not hold a running gRPC server), the numpy
``Dataset``'s epoch as the reference, and byte-for-byte batch comparison."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import peaksql
from peaksql.dataset import Dataset
from tests.servers import ServerProcess, build_catalog

#: The adapters' common dataset: 101-bp windows, 9 a batch, shuffled.
ARGS = {"seq_length": 101, "stride": 37, "batch_size": 9, "shuffle": True, "seed": 3}


def served_catalog(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[str]:
    """A module fixture's body: build the test catalog and serve it from a subprocess."""
    folder = tmp_path_factory.mktemp(name)
    db_url, data_dir = f"sqlite:///{folder / 'catalog.db'}", folder / "data"
    data_dir.mkdir()
    build_catalog(db_url, data_dir)
    with ServerProcess.start(db_url, data_dir) as server:
        yield server.address


def numpy_epoch(address: str, epoch: int = 0, **overrides: object) -> list[tuple[np.ndarray, ...]]:
    """Every batch of one epoch of ``ARGS`` (with ``overrides``) from the numpy Dataset."""
    with peaksql.Client(address) as client:
        return list(Dataset(client, epoch=epoch, **{**ARGS, **overrides}))


def assert_same(got: list[tuple[object, ...]], expected: list[tuple[np.ndarray, ...]]) -> None:
    """Same batches, same arrays: dtype, shape and bytes."""
    assert len(got) == len(expected)
    for batch, reference in zip(got, expected, strict=True):
        assert len(batch) == len(reference)
        for a, b in zip(batch, reference, strict=True):
            a = np.asarray(a)
            assert a.dtype == b.dtype and a.shape == b.shape
            assert a.tobytes() == b.tobytes()

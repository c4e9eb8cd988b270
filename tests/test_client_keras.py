"""The Keras adapter: ``dataset[i]`` is batch i of the numpy ``Dataset`` byte for byte, in any
access order and from threads; ``model.fit`` sees every window of an epoch once and a new
order each epoch; ``state_dict`` resumes; the example scripts train.

The server runs as a subprocess (Keras may fork workers); Keras uses its torch backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ.setdefault("KERAS_BACKEND", "torch")

import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
import pytest

import peaksql
from peaksql.core.errors import InvalidArgument
from peaksql.dataset import Dataset
from peaksql.keras import KerasDataset
from tests.adapter_helpers import ARGS, assert_same, numpy_epoch, served_catalog

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from served_catalog(tmp_path_factory, "keras")


def rows(batches: list[tuple[np.ndarray, ...]]) -> list[bytes]:
    """Each window of an epoch as bytes (its one-hot bases and labels), sorted."""
    return sorted(x[i].tobytes() + y[i].tobytes() for x, y in batches for i in range(len(x)))


def test_batches_equal_the_numpy_dataset_in_order(address: str) -> None:
    data = KerasDataset(address, policy="random", **ARGS)
    expected = numpy_epoch(address, policy="random")
    assert len(data) == len(expected)
    assert_same([data[i] for i in range(len(data))], expected)


def test_any_order_and_threads_give_the_same_batches(address: str) -> None:
    expected = numpy_epoch(address, epoch=2)
    data = KerasDataset(address, epoch=2, **ARGS)
    order = np.random.default_rng(0).permutation(len(data))
    got = dict(zip(order, (data[int(i)] for i in order), strict=True))
    assert_same([got[i] for i in range(len(data))], expected)
    assert_same([data[-1]], expected[-1:])
    with pytest.raises(IndexError):
        data[len(data)]
    threaded = KerasDataset(address, epoch=2, workers=4, **ARGS)
    with ThreadPoolExecutor(4) as pool:
        assert_same(list(pool.map(threaded.__getitem__, range(len(data)))), expected)
    assert len(threaded._readers) <= threaded.open_streams


def test_epochs_cover_every_window_once_and_differ(address: str) -> None:
    data = KerasDataset(address, **ARGS)
    tiled = rows(numpy_epoch(address, shuffle=False))
    epochs = []
    for epoch in range(2):
        assert data.epoch == epoch
        epochs.append([data[i] for i in range(len(data))])
        data.on_epoch_end()
        assert_same(epochs[-1], numpy_epoch(address, epoch=epoch))
        assert rows(epochs[-1]) == tiled  # every window of the epoch exactly once
    assert epochs[0][0][0].tobytes() != epochs[1][0][0].tobytes()
    again = KerasDataset(address, **ARGS)  # same seed: same data
    assert_same([again[i] for i in range(len(again))], epochs[0])
    other = KerasDataset(address, **{**ARGS, "seed": 4})
    assert other[0][0].tobytes() != epochs[0][0][0].tobytes()


def test_on_epoch_end_waits_for_the_whole_epoch(address: str) -> None:
    # Keras calls on_epoch_end before the first epoch and after steps_per_epoch < len steps.
    data = KerasDataset(address, **ARGS)
    data.on_epoch_end()
    assert data.epoch == 0
    data[0], data[1]
    data.on_epoch_end()
    assert data.epoch == 0 and not data._readers
    for i in range(2, len(data)):
        data[i]
    data.on_epoch_end()
    assert data.epoch == 1
    data.set_epoch(5)
    assert data.state_dict()["epoch"] == 5 and data.state_dict()["delivered"] == 0


class Recording(KerasDataset):
    """Records (epoch, index) of every batch Keras asks for."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.log: list[tuple[int, int]] = []

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        self.log.append((self.epoch, index))
        return super().__getitem__(index)


def model(num_labels: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((ARGS["seq_length"], 4)),
            keras.layers.Conv1D(4, 9, activation="relu"),
            keras.layers.GlobalMaxPooling1D(),
            keras.layers.Dense(num_labels),
        ]
    )


@pytest.mark.parametrize("shuffle", [False, True])
def test_fit_sees_each_batch_of_each_epoch_once(address: str, shuffle: bool) -> None:
    data = Recording(address, **ARGS)
    net = model(len(data.dataset.label_columns))
    net.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    net.fit(data, epochs=2, shuffle=shuffle, verbose=0)
    for epoch in range(2):
        indices = [i for e, i in data.log if e == epoch]
        if epoch == 0 and len(indices) == len(data) + 1:
            indices = indices[1:]  # fit peeks at one batch to build its train step
        assert sorted(indices) == list(range(len(data)))
        assert (indices == sorted(indices)) != shuffle or len(data) == 1
    assert {e for e, _ in data.log} == {0, 1}
    assert data.epoch == 2 and data.state_dict()["delivered"] == 0
    assert not data._readers  # streams closed at the end of each epoch


def test_fit_with_worker_processes_moves_through_epochs(address: str) -> None:
    # the batches are served in Keras's worker processes; the parent still sees the epoch end
    data = KerasDataset(address, workers=2, use_multiprocessing=True, **ARGS)
    net = model(len(data.dataset.label_columns))
    net.compile(optimizer="sgd", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    net.fit(data, epochs=2, shuffle=False, verbose=0)
    assert data.epoch == 2 and data.state_dict()["delivered"] == 0


def test_resume_mid_epoch(address: str) -> None:
    data = KerasDataset(address, **ARGS)
    full = [data[i] for i in range(len(data))]
    data.on_epoch_end()
    for i in range(3):
        data[i]
    state = data.state_dict()
    assert state["epoch"] == 1 and state["delivered"] == 3 * ARGS["batch_size"]
    resumed = KerasDataset(address, **ARGS)
    resumed.load_state_dict(state)
    assert len(resumed) == len(data) - 3
    expected = numpy_epoch(address, epoch=1)
    assert_same([resumed[i] for i in range(len(resumed))], expected[3:])
    resumed.on_epoch_end()  # then whole epochs again
    assert resumed.epoch == 2 and len(resumed) == len(full)
    # a numpy Dataset's state resumes too, with another batch size
    with peaksql.Client(address) as client:
        numpy = Dataset(client, **{**ARGS, "batch_size": 5})
        iterator = iter(numpy)
        next(iterator), next(iterator)
        state = numpy.state_dict()
        rest = list(iterator)
    other = KerasDataset(address, **{**ARGS, "batch_size": 5})
    other.load_state_dict(state)
    assert_same([other[i] for i in range(len(other))], rest)
    with pytest.raises(InvalidArgument, match="seed"):
        KerasDataset(address, **{**ARGS, "seed": 9}).load_state_dict(state)


def test_refuses_coordinates_and_pickles_without_its_client(address: str) -> None:
    with pytest.raises(InvalidArgument, match="sample weights"):
        KerasDataset(address, include_coordinates=True, **ARGS)
    data = KerasDataset(address, **ARGS)
    first = data[0]
    copy = pickle.loads(pickle.dumps(data))
    assert copy._client is None and not copy._readers
    assert_same([copy[0]], [first])
    data.close()
    assert_same([data[0]], [first])  # reopens


@pytest.mark.parametrize("script", ["train_keras.py", "keras_2020.py"])
def test_example_script_trains(address: str, script: str) -> None:
    command = [sys.executable, str(EXAMPLES / script), "--epochs", "1", "--max-steps", "3"]
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "loss" in done.stdout

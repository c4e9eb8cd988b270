"""Keras 3 adapter: a ``keras.utils.PyDataset`` of PeakSQL batches, for any Keras backend.

    train = peaksql.keras.KerasDataset("server:50051", seq_length=1000, stride=500,
                                       shuffle=True, seed=0, batch_size=128)
    model.fit(train, epochs=10, shuffle=False)

Why map-style by cursor. Keras consumes a PyDataset by index: ``model.fit`` asks for
``dataset[i]`` for ``i`` in ``range(len(dataset))``, in order with ``shuffle=False`` but in a
random permutation with its default ``shuffle=True``; with ``workers > 1`` threads (or
processes) ask concurrently, and the TensorFlow backend reads a few batches ahead to learn
their shapes. Serving "the next batch of the stream" whatever the index would therefore
lose or repeat batches. The epoch's window order is decided by the server from (seed,
epoch) and is not known to the client, but the stream starts at any cursor: batch ``i`` of
epoch ``e`` is the first batch of a stream opened at ``delivered = i * batch_size`` of
epoch ``e``, the same windows decoded with the same seeds as the ``i``-th batch of
``peaksql.Dataset`` (byte for byte). So ``dataset[i]`` is exact for any access pattern, and
in-order access is as fast as the numpy ``Dataset``: an open stream that stands at ``i``
serves it and moves on (and keeps its read-ahead). An index out of order opens a stream
there (one round trip and a message of read-ahead). Keras's own ``shuffle`` only permutes
whole batches of windows the server already shuffled, with Python's unseeded ``random``:
pass ``shuffle=False`` to ``fit`` for speed and reproducible runs.

Epochs. ``on_epoch_end`` moves to the next epoch once every batch of the current one has
been served: Keras also calls it before the first epoch and around each ``evaluate`` and
continues one pass over several of its epochs when ``steps_per_epoch < len(dataset)``,
neither of which must skip or reorder the data. ``set_epoch`` sets it explicitly.

Resume. ``state_dict`` is the underlying ``Dataset``'s (epoch, windows delivered): the
windows before the first batch not yet served. After ``load_state_dict`` the current epoch
is its remainder (``len`` counts those batches; the next epochs are whole). Keras restarts
its epochs from the first step, so resume at an epoch boundary with
``fit(..., initial_epoch=state["epoch"])``, or fit the remainder on its own first.

Each process opens its own gRPC channel (channels do not survive fork), and the batches
served are flagged in shared memory, so ``use_multiprocessing=True`` works and its epochs
still move on; the ``Dataset`` already reads ahead in a background thread, so
``workers=1`` (the default) is usually the fastest.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import context
from typing import Any

import numpy as np
from keras.utils import PyDataset

from peaksql.client import Client
from peaksql.core.errors import InvalidArgument
from peaksql.dataset import Dataset

#: Keyword arguments that configure the client rather than the dataset.
CLIENT_ARGS = ("token", "token_file", "root_certificates", "certificate_chain", "private_key")


@dataclass
class _Reader:
    """An open stream of one epoch whose next batch is batch ``index``."""

    epoch: int
    index: int
    iterator: Iterator[tuple[np.ndarray, ...]]


class KerasDataset(PyDataset):
    """PeakSQL batches as a Keras ``PyDataset``: ``dataset[i]`` is (x, y) numpy arrays.

    Keyword arguments other than the client's (``token``, TLS files) and Keras's
    (``workers``, ``use_multiprocessing``, ``max_queue_size``) go to ``peaksql.Dataset``.
    ``rank``/``world_size`` shard each epoch across data-parallel processes.
    """

    def __init__(
        self,
        address: str | Sequence[str],
        *,
        rank: int = 0,
        world_size: int = 1,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
        open_streams: int | None = None,
        **dataset_args: Any,
    ) -> None:
        super().__init__(
            workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size
        )
        if dataset_args.get("include_coordinates"):
            raise InvalidArgument(
                "KerasDataset cannot include coordinates: Keras reads a third element as "
                "sample weights (use peaksql.Dataset to see coordinates)"
            )
        self.address = address
        self.client_args = {k: dataset_args.pop(k) for k in CLIENT_ARGS if k in dataset_args}
        self.dataset_args = {**dataset_args, "rank": rank, "world_size": world_size}
        self.epoch = int(self.dataset_args.pop("epoch", 0))
        #: Window of the current epoch where its batch 0 starts (non-zero after a resume).
        self.start = 0
        #: Most streams kept open for indices asked out of order (each holds a server thread).
        self.open_streams = max(2, workers) if open_streams is None else max(1, open_streams)
        self._served: Any = None  # RawArray of flags, shared with Keras's worker processes
        self._meta: Dataset | None = None
        self._fresh_process()

    # -- per process state ----------------------------------------------------------------
    def _fresh_process(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._readers: list[_Reader] = []

    def _check_process(self) -> None:
        if self._pid != os.getpid():  # forked: the parent's channel and threads are not ours
            self._fresh_process()
            self._meta = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (spawned workers) without the client, the lock or open streams."""
        state = self.__dict__.copy()
        for key in ("_lock", "_client", "_readers", "_meta"):
            state.pop(key)
        if context.get_spawning_popen() is None:  # shared memory travels only to new processes
            state["_served"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._meta = None
        self._fresh_process()

    def _new_dataset(self) -> Dataset:
        if self._client is None:
            self._client = Client(self.address, **self.client_args)
        return Dataset(self._client, epoch=self.epoch, **self.dataset_args)

    @property
    def dataset(self) -> Dataset:
        """A ``peaksql.Dataset`` of the same spec and shard (metadata: ``describe``, len)."""
        self._check_process()
        if self._meta is None:
            self._meta = self._new_dataset()
        return self._meta

    # -- PyDataset ------------------------------------------------------------------------
    def __len__(self) -> int:
        """Batches left in the current epoch: all of them unless resumed mid-epoch."""
        dataset = self.dataset
        remaining = max(0, dataset.num_windows_per_epoch() - self.start)
        return -(-remaining // dataset.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        """Batch ``index`` of the current epoch: (x, y) as ``peaksql.Dataset`` decodes it."""
        size = len(self)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError(f"batch index {index} out of range for {size} batches")
        with self._lock:
            reader = self._take_reader(index)
            try:
                arrays = next(reader.iterator)
            except BaseException:
                _close(reader)
                raise
            self._flags()[index] = 1
            reader.index += 1
            if reader.index < size:
                self._readers.append(reader)
                while len(self._readers) > self.open_streams:
                    _close(self._readers.pop(0))
            else:
                _close(reader)
        return arrays

    def _take_reader(self, index: int) -> _Reader:
        """The open stream standing at ``index`` of this epoch, else one opened there."""
        for k, reader in enumerate(self._readers):
            if reader.epoch == self.epoch and reader.index == index:
                return self._readers.pop(k)
        dataset = self._new_dataset()
        state = dataset.state_dict()
        state["delivered"] = self.start + index * dataset.batch_size
        dataset.load_state_dict(state)
        return _Reader(self.epoch, index, iter(dataset))

    def on_epoch_end(self) -> None:
        """Close open streams; move to the next epoch once all of this one was served."""
        self._check_process()
        with self._lock:
            self._close_readers()
            if sum(self._flags()[: len(self)]) >= len(self):
                self._advance(self.epoch + 1, 0)

    # -- epochs and resume ----------------------------------------------------------------
    def _flags(self) -> Any:
        """One byte per batch of an epoch, set once served, in memory that Keras's worker
        processes share (forked, or spawned with it): the parent decides when the epoch is
        complete, whichever process served the batches."""
        if self._served is None:
            dataset = self.dataset
            batches = -(-dataset.num_windows_per_epoch() // dataset.batch_size)
            self._served = multiprocessing.RawArray(ctypes.c_ubyte, max(1, batches))
        return self._served

    def _advance(self, epoch: int, start: int) -> None:
        self.epoch, self.start = int(epoch), int(start)
        flags = self._flags()
        ctypes.memset(flags, 0, ctypes.sizeof(flags))

    def set_epoch(self, epoch: int) -> None:
        """Serve ``epoch`` from its beginning."""
        self._check_process()
        with self._lock:
            self._close_readers()
            self._advance(epoch, 0)

    def state_dict(self) -> dict[str, Any]:
        """The ``Dataset`` state of the windows served so far: resume with ``load_state_dict``."""
        dataset = self.dataset
        flags, size = self._flags(), len(self)
        done = 0
        while done < size and flags[done]:
            done += 1
        delivered = min(self.start + done * dataset.batch_size, dataset.num_windows_per_epoch())
        epoch = self.epoch
        if done and done >= size:
            epoch, delivered = epoch + 1, 0
        return {**dataset.state_dict(), "epoch": epoch, "delivered": delivered}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue at ``state`` (from this class or ``peaksql.Dataset``): same shard and order."""
        self.dataset.load_state_dict(state)  # checks rank, world_size, seed, shuffle
        with self._lock:
            self._close_readers()
            self._advance(state["epoch"], state["delivered"])

    def close(self) -> None:
        """Cancel open streams and close the channel (reopened if used again)."""
        self._check_process()
        with self._lock:
            self._close_readers()
            if self._client is not None:
                self._client.close()
            self._client, self._meta = None, None

    def _close_readers(self) -> None:
        while self._readers:
            _close(self._readers.pop())


def _close(reader: _Reader) -> None:
    """Stop a reader's stream: closing its generator cancels the call and its read-ahead."""
    close = getattr(reader.iterator, "close", None)
    if close is not None:
        close()

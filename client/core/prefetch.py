"""Read-ahead on a helper thread: the next items are made while the current one is used.

The server builds the next batch (numba, GIL released) while gRPC sends the current one;
the client receives and decodes the next batch while the training step runs.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Protocol, TypeVar, runtime_checkable

T = TypeVar("T")
_DONE = object()


@runtime_checkable
class _Closable(Protocol):
    """What ``contextlib.closing`` takes: a generator, a stream with ``close()``."""

    def close(self) -> None: ...


@contextmanager
def read_ahead(
    items: Iterator[T], depth: int, on_stop: Callable[[], None] | None = None
) -> Iterator[Iterator[T]]:
    """Produce ``items`` on a helper thread, up to ``depth`` ahead of the consumer.

    Leaving the ``with`` (finished, broken off or failed) stops the producer: ``on_stop`` is
    called first (e.g. to cancel a network call the producer is blocked in), then the
    producer ends after at most one more item. A producer error is raised in the consumer.
    ``depth <= 0`` uses no thread.
    """
    if depth <= 0:
        yield items
        return
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            with closing(items) if isinstance(items, _Closable) else _nothing():
                for item in items:
                    if not put(item):
                        return
            put(_DONE)
        except BaseException as error:  # re-raised in the consumer
            put(error)

    def consume() -> Iterator[T]:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    worker = threading.Thread(target=produce, name="peaksql-read-ahead", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stop.set()
        if on_stop is not None:
            on_stop()
        worker.join()


@contextmanager
def _nothing() -> Iterator[None]:
    yield

"""Open streams cost no thread: batches are built on a bounded pool, shared fairly by bytes.

    FairScheduler.run(caller, Chunks) -> [serialized Batch, ...] -> IdleLimit.write_all

A stream is an asyncio task (``serve_stream``). It asks ``FairScheduler.run`` for a turn on
the pool; the scheduler runs at most ``workers`` builds at a time on its thread pool (numba
kernels release the GIL) and, when a thread frees, gives it to the waiting caller that has
been sent the fewest bytes (start-time fair queueing: a caller that was idle restarts at the
current virtual time, so it cannot bank credit). A turn builds and serializes a chunk of
messages (``Chunks``: one message first, then twice as many each turn, up to ``TURN_BYTES``
or ``TURN_SECONDS``), because a hop to the pool and back costs more than a small batch; the
chunk's bytes are charged to the caller. The next chunk is built while this one is written,
one message at a time: a client that stops reading holds at most two chunks and no CPU, and
after ``stream_idle_seconds`` without taking a message its stream ends DEADLINE_EXCEEDED
(``IdleLimit``: one timer per stream, not one per message). A stream that ends or is
cancelled stops its build at the next message.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from typing import Any, TypeVar

import grpc

from peaksql.core.errors import PeakSQLError

T = TypeVar("T")
#: A turn stops building once its chunk holds this many bytes (at least one message)...
TURN_BYTES = 256 * 1024
#: ... or once it has built for this long.
TURN_SECONDS = 0.005


class StreamIdle(PeakSQLError):
    """A stream whose client read nothing for longer than the server's idle limit."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


async def in_thread(executor: Executor, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on ``executor``, in a copy of this task's context (its request id)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, contextvars.copy_context().run, fn, *args)


class Chunks:
    """The pool side of one stream: each call takes the next chunk of ``messages``, which
    builds and serializes them (so that both happen on the pool, not on the event loop).

    Called by one thread at a time (a stream asks for its next chunk only once it has the
    previous one). ``finished`` once ``messages`` is exhausted; setting ``stopped`` (from
    the event loop) ends a build at the next message.
    """

    def __init__(self, messages: Iterator[bytes]) -> None:
        self.messages = messages
        self.finished = False
        self.stopped = False
        self._count = 1  # messages the next turn may build: 1 first, for the first batch

    def __call__(self) -> list[bytes]:
        chunk: list[bytes] = []
        size = 0
        deadline = time.perf_counter() + TURN_SECONDS
        while len(chunk) < self._count and not self.stopped:
            message = next(self.messages, None)
            if message is None:
                self.finished = True
                break
            chunk.append(message)
            size += len(message)
            if size >= TURN_BYTES or time.perf_counter() >= deadline:
                break
        self._count = 2 * len(chunk) if chunk else self._count
        return chunk


def chunk_bytes(chunk: list[bytes]) -> int:
    return sum(map(len, chunk))


class IdleLimit:
    """StreamIdle from ``write_all`` once a message has waited ``seconds`` for the client.

    One timer per stream, armed by a write when none is, and on firing re-armed for the
    write in progress (or left off): a message costs a clock read, not a timer or a task.
    Expiry cancels the task that is writing and turns its CancelledError into StreamIdle.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[Any] | None = None
        self._since: float | None = None  # when the write in progress began
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    async def write_all(self, context: Any, messages: list[bytes]) -> None:
        self._task = asyncio.current_task()
        try:
            for message in messages:
                self._since = self._loop.time()
                if self._timer is None:
                    self._timer = self._loop.call_at(self._since + self.seconds, self._check)
                await context.write(message)
                self._since = None
        except asyncio.CancelledError:
            if not self._expired or self._task is None or self._task.uncancel() > 0:
                raise
            raise StreamIdle(
                f"the client read nothing for {self.seconds:g} s, the server's idle limit "
                "(stream_idle_seconds): stream closed; resume from the last cursor"
            ) from None
        finally:
            self._since = None

    def _check(self) -> None:
        self._timer = None
        if self._since is None or self._task is None:
            return
        due = self._since + self.seconds
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._check)
        else:
            self._expired = True
            self._task.cancel()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def serve_stream(
    scheduler: FairScheduler,
    caller: str,
    messages: Iterator[bytes],
    context: Any,
    idle_seconds: float,
) -> None:
    """Write every message of ``messages`` to ``context``, built in chunks on ``scheduler``'s
    pool as ``caller``'s turns come."""
    chunks = Chunks(messages)
    idle = IdleLimit(idle_seconds)
    writing: asyncio.Future[None] | None = None
    try:  # chunk k + 1 is built while chunk k is written
        while not chunks.finished:
            chunk = await scheduler.run(caller, chunks, cost=chunk_bytes)
            if writing is not None:
                await writing
            if context.done():  # cancelled
                return
            writing = asyncio.ensure_future(idle.write_all(context, chunk))
        if writing is not None:
            await writing
    finally:
        chunks.stopped = True
        if writing is not None and not writing.done():
            writing.cancel()
        elif writing is not None and not writing.cancelled():
            writing.exception()  # seen: the error that ends the stream is the one raised here
        idle.close()


class FairScheduler:
    """Runs builds on ``executor`` with at most ``slots`` at once, fewest bytes first.

    Every method runs on the event loop's thread, so no lock is needed.
    """

    def __init__(self, executor: Executor, slots: int) -> None:
        self.executor = executor
        self.slots = max(1, slots)
        self._busy = 0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._sent: dict[str, int] = {}
        self._now = 0  # virtual time: the byte count of the last caller let through
        self._dispatching = False

    def charge(self, caller: str, num_bytes: int) -> None:
        """Count ``num_bytes`` sent to ``caller``."""
        self._sent[caller] = self._sent.get(caller, 0) + num_bytes

    def forget(self, caller: str) -> None:
        """Drop ``caller``'s count (its last stream ended)."""
        self._sent.pop(caller, None)

    async def run(
        self, caller: str, fn: Callable[..., T], *args: Any, cost: Callable[[T], int] | None = None
    ) -> T:
        """``fn(*args)`` on the pool when ``caller``'s turn comes; ``cost(result)`` bytes are
        charged to ``caller`` before the next turn is given."""
        await self._acquire(caller)
        try:
            result = await in_thread(self.executor, fn, *args)
            if cost is not None:
                self.charge(caller, cost(result))
            return result
        finally:
            self._release()

    async def _acquire(self, caller: str) -> None:
        start = max(self._sent.get(caller, 0), self._now)
        self._sent[caller] = start
        if self._busy < self.slots and not self._waiting:
            self._busy += 1
            self._now = start
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (start, next(self._order), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # granted, then cancelled before it ran: pass the slot on
            raise

    def _release(self) -> None:
        """Free a slot; who gets it is decided on the loop's next turn, once the caller that
        just finished has queued its next build, so that it competes too."""
        self._busy -= 1
        if self._waiting and not self._dispatching:
            self._dispatching = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._dispatching = False
        while self._busy < self.slots and self._waiting:
            start, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                self._busy += 1
                self._now = start
                turn.set_result(None)

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, turn in self._waiting if not turn.done())

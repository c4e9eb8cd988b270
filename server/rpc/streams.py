"""Open streams cost no thread: batches are built on a bounded pool, shared fairly by bytes.

A stream is an asyncio task. It asks ``FairScheduler.run`` for each batch; the scheduler
runs at most ``workers`` builds at a time on its thread pool (numba kernels release the
GIL) and, when a thread frees, gives it to the waiting caller that has been sent the fewest
bytes (start-time fair queueing: a caller that was idle restarts at the current virtual
time, so it cannot bank credit). Between batches a stream only waits on ``send``, a
``context.write`` bounded by the idle limit: a client that stops reading holds one built
batch and no CPU, and after ``stream_idle_seconds`` its stream ends DEADLINE_EXCEEDED.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import grpc

from peaksql.core.errors import PeakSQLError

T = TypeVar("T")


class StreamIdle(PeakSQLError):
    """A stream whose client read nothing for longer than the server's idle limit."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


async def in_thread(executor: Executor, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on ``executor``, in a copy of this task's context (its request id)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, contextvars.copy_context().run, fn, *args)


async def send(context: Any, message: Any, idle_seconds: float) -> None:
    """Write ``message``; StreamIdle if the client has not taken it within ``idle_seconds``."""
    try:
        await asyncio.wait_for(context.write(message), idle_seconds)
    except asyncio.TimeoutError:
        raise StreamIdle(
            f"the client read nothing for {idle_seconds:g} s, the server's idle limit "
            "(stream_idle_seconds): stream closed; resume from the last cursor"
        ) from None


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

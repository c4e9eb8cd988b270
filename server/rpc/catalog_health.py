"""The catalog database as a dependency: its errors as UNAVAILABLE, and a probe behind health.

A request that cannot reach the catalog gets UNAVAILABLE with a message naming the database
(``host:port/dbname`` or the SQLite path; never the driver's text, which may quote SQL or
the connection string), so clients move on to another replica. ``DatabaseProbe`` runs
``SELECT`` of the catalog generation every ``interval`` seconds on its own thread and keeps
the health service NOT_SERVING while it fails; a failed request marks it down at once.
Streams whose plan is built keep streaming: they no longer need the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc

from peaksql.core.errors import PeakSQLError, Unavailable
from peaksql.server.engine.plan_cache import catalog_version
from peaksql.server.rpc.streams import in_thread

log = logging.getLogger("peaksql.server")
#: Errors that mean the database cannot be reached or cannot answer now.
UNREACHABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


def database_name(database: sa.Engine) -> str:
    """``postgresql 10.0.0.5:5432/peaksql`` or ``sqlite /data/peaksql.db``: no user, no password."""
    url = database.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        return f"sqlite {url.database or ':memory:'}"
    default_ports: dict[str, int | str] = {"postgresql": 5432}
    port = url.port or default_ports.get(backend, "")
    return f"{backend} {url.host or 'localhost'}:{port}/{url.database or ''}"


def unavailable(name: str, error: BaseException) -> Unavailable:
    """The client's message for ``error``: the database and what kind of failure, no more."""
    cause = type(getattr(error, "orig", None) or error).__name__
    return Unavailable(
        f"the catalog database ({name}) is unavailable ({cause}): try again later or another "
        "replica"
    )


def make_translate(
    database: sa.Engine, on_failure: Callable[[], None]
) -> Callable[[Exception], PeakSQLError | None]:
    """For ``ErrorInterceptor``: the database's errors as ``Unavailable`` (logged here in full)."""
    name = database_name(database)

    def translate(error: Exception) -> PeakSQLError | None:
        if not isinstance(error, UNREACHABLE):
            return None
        log.warning("catalog database %s unreachable: %s", name, str(error).splitlines()[0])
        on_failure()
        return unavailable(name, error)

    return translate


class DatabaseProbe:
    """Checks the catalog every ``interval`` seconds; ``set_serving(bool)`` hears each change."""

    def __init__(
        self,
        database: sa.Engine,
        interval: float,
        set_serving: Callable[[bool], Awaitable[None]],
    ) -> None:
        self.database = database
        self.interval = interval
        self.set_serving = set_serving
        self.name = database_name(database)
        self.serving = True
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="peaksql-db-probe")
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def mark_down(self) -> None:
        """A request just failed on the database: probe now (call on the event loop)."""
        self._wake.set()

    async def check(self) -> bool:
        """One probe: can the catalog answer within ``interval`` (at least 1 s)?"""
        try:
            await asyncio.wait_for(
                in_thread(self._executor, catalog_version, self.database),
                max(1.0, self.interval),
            )
        except (asyncio.TimeoutError, *UNREACHABLE):
            return False
        return True

    async def _run(self) -> None:
        # a flag, not only cancel(): Python 3.11's wait_for can swallow a cancellation
        while not self._stopping:
            ok = await self.check()
            if ok != self.serving:
                self.serving = ok
                state = "reachable again" if ok else "unreachable: health NOT_SERVING"
                log.warning("catalog database %s %s", self.name, state)
                await self.set_serving(ok)
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    async def stop(self) -> None:
        """End the probe loop (within about a second) and its thread."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=2.0)
        self._executor.shutdown(wait=False, cancel_futures=True)

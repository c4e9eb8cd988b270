"""Start the gRPC server (grpc.aio): servicer, health, reflection, auth, limits, logs, metrics, TLS.

    request -> Observe (request id, log, metrics) -> Auth (bearer token)
            -> Limits (open streams per caller and in all) -> Errors (error -> status)
            -> PeakSQLServicer (validate -> DatasetEngine: limits, plan budget, plans)

The server is an asyncio event loop on a thread of its own (``ServerLoop``), so that
``serve(config)`` returns a handle synchronous code (the CLI, tests) can use. An open stream
is a task, not a thread: catalog queries and plans run on a ``requests`` pool, batches on the
``FairScheduler``'s pool of ``workers`` threads, and health and listings answer while any
number of streams are open or stalled (see ``streams``).

Health is SERVING once the server listens and while the catalog database answers its probe
(``catalog_health``); ``shutdown`` turns it NOT_SERVING first so load balancers stop sending
new streams, then lets running streams finish within the grace time.

Keepalive: the server pings each client every ``keepalive_seconds`` and drops one that does
not answer (its streams end); it accepts client pings every ``MIN_CLIENT_PING_MS`` or more,
with or without calls, which is what ``peaksql.Client`` sends, so clients are never sent
GOAWAY for pinging.

The server only reads the catalog. On PostgreSQL its sessions are read-only
(``default_transaction_read_only``) with a ``statement_timeout``; a deployment also gives it
a role with nothing but SELECT (``peaksql migrate --reader-role``), so that a write fails in
PostgreSQL itself whatever our code does.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIServer

import grpc
import sqlalchemy as sa
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from peaksql.core.allocator import reuse_message_buffers
from peaksql.core.errors import PeakSQLError
from peaksql.server.catalog.database import (
    create_database_engine,
    head_revision,
    schema_revision,
    upgrade,
)
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.config import ServerConfig, TLSConfig
from peaksql.server.engine.dataset_engine import DatasetEngine
from peaksql.server.rpc.auth import AuthInterceptor, TokenStore, make_identify
from peaksql.server.rpc.catalog_health import DatabaseProbe, make_translate
from peaksql.server.rpc.interceptors import ErrorInterceptor, Interceptor
from peaksql.server.rpc.limits import LimitsInterceptor
from peaksql.server.rpc.metrics import Metrics
from peaksql.server.rpc.observe import ObserveInterceptor
from peaksql.server.rpc.service import PeakSQLServicer
from peaksql.server.rpc.streams import FairScheduler
from peaksql.server.rpc.validate import method_handlers
from peaksql.v1 import peaksql_pb2

log = logging.getLogger("peaksql.server")
SERVICE_NAME = peaksql_pb2.DESCRIPTOR.services_by_name["PeakSQL"].full_name
#: Shortest interval between client pings the server accepts (clients ping every 10 s).
MIN_CLIENT_PING_MS = 5_000
#: Seconds ``shutdown`` waits beyond the grace time before it closes the loop regardless.
SHUTDOWN_EXTRA_SECONDS = 15.0
#: Python's GIL switch interval in a serving process (``serve_forever``).
GIL_SWITCH_SECONDS = 0.001
T = TypeVar("T")


class CatalogNotReady(PeakSQLError):
    """The catalog schema is not at the code's revision and this server may not migrate it."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class ServerLoop:
    """An asyncio event loop running on a daemon thread; ``call`` runs a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="peaksql-server-loop", daemon=True
        )
        self.thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


@dataclass
class RunningServer:
    """A started server, the port it listens on, its health servicer, engine and metrics."""

    server: aio.Server
    port: int
    health: health.aio.HealthServicer
    engine: DatasetEngine
    metrics: Metrics
    metrics_port: int | None = None
    _metrics_http: WSGIServer | None = None
    _loop: ServerLoop | None = None
    _probe: DatabaseProbe | None = None
    _pools: list[ThreadPoolExecutor] = field(default_factory=list)
    _stopped: threading.Event = field(default_factory=threading.Event)

    def shutdown(self, grace: float | None = None) -> None:
        """NOT_SERVING, then stop accepting and let streams finish within ``grace`` seconds."""
        if self._stopped.is_set() or self._loop is None:
            return
        try:
            self._loop.call(self._stop(grace), timeout=(grace or 0.0) + SHUTDOWN_EXTRA_SECONDS)
        except futures.TimeoutError:
            log.warning("the server did not stop in time; closing its event loop anyway")
        self._loop.close()
        for pool in self._pools:
            pool.shutdown(wait=False, cancel_futures=True)
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()
        self.engine.database.dispose()
        self._stopped.set()

    async def _stop(self, grace: float | None) -> None:
        if self._probe is not None:
            await self._probe.stop()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)

    def wait(self) -> None:
        """Block until ``shutdown`` has finished."""
        self._stopped.wait()


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """Message limits, set equally on server and client."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]


def server_options(config: ServerConfig) -> list[tuple[str, int]]:
    """Message limits and keepalive (aligned with ``peaksql.Client``'s pings)."""
    return [
        *channel_options(config.max_message_bytes),
        ("grpc.so_reuseport", 1),
        ("grpc.keepalive_time_ms", int(config.keepalive_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", MIN_CLIENT_PING_MS),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def open_catalog(config: ServerConfig) -> sa.Engine:
    """The catalog database for serving: schema checked (or migrated), sessions read-only."""
    database = create_database_engine(config.db)
    revision, head = schema_revision(database), head_revision()
    if revision != head:
        if not config.migrate:
            database.dispose()
            raise CatalogNotReady(
                f"the catalog schema is at revision {revision}, this server needs {head}: "
                "run 'peaksql migrate' with the admin role first"
            )
        upgrade(database)
    if database.dialect.name == "postgresql":
        database.dispose()  # new connections get the session settings below
        timeout_ms = int(config.statement_timeout_seconds * 1000)
        sa.event.listen(database, "connect", _postgres_session(timeout_ms))
    return database


def _postgres_session(timeout_ms: int) -> Callable[[Any, Any], None]:
    def configure(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {timeout_ms:d}")
            cursor.execute("SET default_transaction_read_only = on")
        dbapi_connection.commit()  # else the pool's rollback on return undoes the SETs

    return configure


def server_credentials(tls: TLSConfig) -> grpc.ServerCredentials:
    """TLS with the server's certificate; with a client CA, clients must present one it signed."""
    client_ca = tls.client_ca.read_bytes() if tls.client_ca else None
    return grpc.ssl_server_credentials(
        [(tls.key.read_bytes(), tls.cert.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def serve(config: ServerConfig) -> RunningServer:
    """Open the catalog, start the server on ``config.host:config.port`` (0: any free port)."""
    reuse_message_buffers()
    metrics = Metrics()
    engine = DatasetEngine(
        open_catalog(config),
        GenomeStore(config.data_dir),
        config.limits,
        on_compile=lambda plan: metrics.compile_seconds.observe(plan.compile_seconds),
    )
    metrics.track_plans(lambda: len(engine.plans))
    loop = ServerLoop()
    try:
        running = loop.call(_start(config, engine, metrics))
    except BaseException:
        loop.close()
        engine.database.dispose()
        raise
    running._loop = loop
    if config.metrics_port is not None:
        running._metrics_http, running.metrics_port = metrics.serve_http(
            config.metrics_host, config.metrics_port
        )
    log.info(
        "serving",
        extra={
            "fields": {
                "host": config.host,
                "port": running.port,
                "tls": config.tls is not None,
                "mutual_tls": bool(config.tls and config.tls.client_ca),
                "auth": config.tokens_file is not None,
                "metrics_port": running.metrics_port,
            }
        },
    )
    return running


async def _start(config: ServerConfig, engine: DatasetEngine, metrics: Metrics) -> RunningServer:
    """Build and start the aio server on the running loop."""
    tokens = TokenStore(config.tokens_file) if config.tokens_file else None
    identify = make_identify(tokens)
    health_servicer = health.aio.HealthServicer()
    probe = DatabaseProbe(
        engine.database, config.db_probe_seconds, lambda ok: _set_health(health_servicer, ok)
    )
    interceptors: list[Interceptor] = [ObserveInterceptor(metrics, identify)]
    if tokens is not None:
        interceptors.append(AuthInterceptor(tokens))
    interceptors += [
        LimitsInterceptor(config.limits, identify),
        ErrorInterceptor(make_translate(engine.database, probe.mark_down)),
    ]
    server = aio.server(interceptors=interceptors, options=server_options(config))
    requests = ThreadPoolExecutor(max(4, config.workers), thread_name_prefix="peaksql-requests")
    batches = ThreadPoolExecutor(config.workers, thread_name_prefix="peaksql-batches")
    scheduler = FairScheduler(batches, config.workers)
    servicer = PeakSQLServicer(
        engine, requests, scheduler, identify, idle_seconds=config.stream_idle_seconds
    )
    server.add_generic_rpc_handlers((method_handlers(servicer),))
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"{config.host}:{config.port}"
    port = (
        server.add_secure_port(address, server_credentials(config.tls))
        if config.tls
        else server.add_insecure_port(address)
    )
    if port == 0:
        raise OSError(f"could not listen on {address}")
    await server.start()
    await _set_health(health_servicer, True)
    probe.start()
    return RunningServer(
        server, port, health_servicer, engine, metrics, _probe=probe, _pools=[requests, batches]
    )


async def _set_health(servicer: health.aio.HealthServicer, serving: bool) -> None:
    status = (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    for name in ("", SERVICE_NAME):
        await servicer.set(name, status)


def serve_forever(config: ServerConfig) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully.

    The GIL is handed between threads every ``GIL_SWITCH_SECONDS`` rather than Python's
    5 ms, so the event loop (health, listings) waits less behind batch-building threads.
    """
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    running = serve(config)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: draining streams (grace %.0f s)", signum, config.grace_seconds)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    metrics = f", metrics on :{running.metrics_port}" if running.metrics_port is not None else ""
    print(f"peaksql serving on {config.host}:{running.port}{metrics}", flush=True)
    stop.wait()
    running.shutdown(config.grace_seconds)

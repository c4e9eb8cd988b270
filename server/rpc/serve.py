"""Start the gRPC server: servicer, health, reflection, auth, limits, logs, metrics, TLS.

    request -> Observe (request id, log, metrics) -> Auth (bearer token)
            -> Limits (streams per caller) -> Errors (domain error -> status)
            -> PeakSQLServicer (-> DatasetEngine: constraint and batch limits, plans)

Health is SERVING once the server listens; ``shutdown`` turns it NOT_SERVING first so load
balancers stop sending new streams, then lets running streams finish within the grace time.

The server only reads the catalog. On PostgreSQL its sessions are read-only
(``default_transaction_read_only``) with a ``statement_timeout``; a deployment also gives it
a role with nothing but SELECT (``peaksql migrate --reader-role``), so that a write fails in
PostgreSQL itself whatever our code does.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

import grpc
import sqlalchemy as sa
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

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
from peaksql.server.rpc.interceptors import ErrorInterceptor
from peaksql.server.rpc.limits import LimitsInterceptor
from peaksql.server.rpc.metrics import Metrics
from peaksql.server.rpc.observe import ObserveInterceptor
from peaksql.server.rpc.service import PeakSQLServicer
from peaksql.v1 import peaksql_pb2, peaksql_pb2_grpc

log = logging.getLogger("peaksql.server")
SERVICE_NAME = peaksql_pb2.DESCRIPTOR.services_by_name["PeakSQL"].full_name


class CatalogNotReady(PeakSQLError):
    """The catalog schema is not at the code's revision and this server may not migrate it."""

    code = grpc.StatusCode.FAILED_PRECONDITION


@dataclass
class RunningServer:
    """A started server, the port it listens on, its health servicer and metrics."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    engine: DatasetEngine
    metrics: Metrics
    metrics_port: int | None = None
    _metrics_http: WSGIServer | None = None

    def shutdown(self, grace: float | None = None) -> None:
        """NOT_SERVING, then stop accepting and let streams finish within ``grace`` seconds."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()
        self.engine.database.dispose()

    def wait(self) -> None:
        self.server.wait_for_termination()


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """Message limits, set equally on server and client."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
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


def _postgres_session(timeout_ms: int):  # type: ignore[no-untyped-def]
    def configure(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
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
    metrics = Metrics()
    engine = DatasetEngine(
        open_catalog(config),
        GenomeStore(config.data_dir),
        config.limits,
        on_compile=lambda plan: metrics.compile_seconds.observe(plan.compile_seconds),
    )
    metrics.track_plans(lambda: len(engine.plans))
    tokens = TokenStore(config.tokens_file) if config.tokens_file else None
    identify = make_identify(tokens)
    interceptors: list[grpc.ServerInterceptor] = [ObserveInterceptor(metrics, identify)]
    if tokens is not None:
        interceptors.append(AuthInterceptor(tokens))
    interceptors += [LimitsInterceptor(config.limits, identify), ErrorInterceptor()]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="peaksql"),
        interceptors=interceptors,
        options=[*channel_options(config.max_message_bytes), ("grpc.so_reuseport", 1)],
        maximum_concurrent_rpcs=None,
    )
    peaksql_pb2_grpc.add_PeakSQLServicer_to_server(PeakSQLServicer(engine), server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
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
    running = RunningServer(server, port, health_servicer, engine, metrics)
    if config.metrics_port is not None:
        running._metrics_http, running.metrics_port = metrics.serve_http(
            config.metrics_host, config.metrics_port
        )
    server.start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "serving",
        extra={
            "fields": {
                "host": config.host,
                "port": port,
                "tls": config.tls is not None,
                "mutual_tls": bool(config.tls and config.tls.client_ca),
                "auth": tokens is not None,
                "metrics_port": running.metrics_port,
            }
        },
    )
    return running


def serve_forever(config: ServerConfig) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    running = serve(config)
    stop = threading.Event()

    def on_signal(signum, _frame):  # type: ignore[no-untyped-def]
        log.info("signal %d: draining streams (grace %.0f s)", signum, config.grace_seconds)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    metrics = f", metrics on :{running.metrics_port}" if running.metrics_port is not None else ""
    print(f"peaksql serving on {config.host}:{running.port}{metrics}", flush=True)
    stop.wait()
    running.shutdown(config.grace_seconds)

"""Start the gRPC server: servicer, health, reflection, limits; ``serve`` returns it running.

Health is SERVING once the server listens; ``shutdown`` turns it NOT_SERVING first so load
balancers stop sending new streams, then lets running streams finish within the grace time.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from peaksql.server.config import ServerConfig
from peaksql.server.db.engine import open_database
from peaksql.server.genome import GenomeStore
from peaksql.server.interceptors import ErrorInterceptor
from peaksql.server.service import DatasetEngine, PeakSQLServicer
from peaksql.v1 import peaksql_pb2, peaksql_pb2_grpc

log = logging.getLogger("peaksql.server")
SERVICE_NAME = peaksql_pb2.DESCRIPTOR.services_by_name["PeakSQL"].full_name


@dataclass
class RunningServer:
    """A started server, the port it listens on, and its health servicer."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    engine: DatasetEngine

    def shutdown(self, grace: float | None = None) -> None:
        """NOT_SERVING, then stop accepting and let streams finish within ``grace`` seconds."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()

    def wait(self) -> None:
        self.server.wait_for_termination()


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """Message limits, set equally on server and client."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]


def serve(config: ServerConfig) -> RunningServer:
    """Open the catalog, start the server on ``config.host:config.port`` (0: any free port)."""
    engine = DatasetEngine(open_database(config.db), GenomeStore(config.data_dir), config.limits)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="peaksql"),
        interceptors=[ErrorInterceptor()],
        options=[*channel_options(config.max_message_bytes), ("grpc.so_reuseport", 1)],
        maximum_concurrent_rpcs=None,
    )
    peaksql_pb2_grpc.add_PeakSQLServicer_to_server(PeakSQLServicer(engine), server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(f"{config.host}:{config.port}")
    if port == 0:
        raise OSError(f"could not listen on {config.host}:{config.port}")
    server.start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving on %s:%d", config.host, port)
    return RunningServer(server, port, health_servicer, engine)


def serve_forever(config: ServerConfig) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    running = serve(config)
    stop = threading.Event()

    def on_signal(signum, _frame):  # type: ignore[no-untyped-def]
        log.info("signal %d: draining streams (grace %.0f s)", signum, config.grace_seconds)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"peaksql serving on {config.host}:{running.port}", flush=True)
    stop.wait()
    running.shutdown(config.grace_seconds)

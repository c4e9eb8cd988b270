"""The PeakSQL client: one object per server (or set of replicas) a training script talks to.

    client = peaksql.Client("gpu-data.lab:50051")
    train = client.dataset(where="chromosome != 'chr8'", seq_length=1000, stride=500)
    for x, y in train: ...

Several addresses (or one ``dns:///`` name with round robin) make the client fail over: a
call that finds a replica unavailable moves on to the next, and a broken stream resumes
from its last cursor on another replica, with no gap and no duplicate (every replica makes
the same bytes for the same spec, seed, epoch, rank and cursor).

A client never hangs on a server that stopped answering: HTTP/2 keepalive pings (every
``keepalive_seconds``; the server accepts them, see ``peaksql.server.rpc.serve``) find a
frozen or vanished replica, and a stream that gets no message for ``message_timeout``
seconds is cancelled; either way the stream resumes from its cursor on another address.

Credentials can come from the environment, so a training script needs no change to run
against a lab server: ``PEAKSQL_TOKEN`` or ``PEAKSQL_TOKEN_FILE`` (bearer token) and
``PEAKSQL_TLS_CA`` (CA of the server's certificate: TLS on).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import numpy as np

from peaksql.core.errors import ERROR_BY_CODE, PeakSQLError, Unavailable
from peaksql.core.spec import DatasetSpec
from peaksql.description import Description, description_of
from peaksql.description import RegionInfo as RegionInfo  # re-exported: peaksql.client API
from peaksql.liveness import Watchdog, explain
from peaksql.v1 import peaksql_pb2 as pb
from peaksql.v1 import peaksql_pb2_grpc as pb_grpc

if TYPE_CHECKING:  # dataset imports this module
    from peaksql.dataset import Dataset

DEFAULT_MAX_MESSAGE_BYTES = (64 << 20) + (1 << 20)
#: Codes after which the same call may succeed on another replica.
FAILOVER_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN})
#: Longest pause between two rounds over every replica.
MAX_BACKOFF_SECONDS = 2.0


def _backoff(rounds: int) -> float:
    """Seconds to wait after ``rounds`` whole rounds of replicas failed."""
    return min(MAX_BACKOFF_SECONDS, 0.1 * 2**rounds)


T = TypeVar("T")


@dataclass(frozen=True)
class AssemblyInfo:
    name: str
    species: str
    length: int
    chromosomes: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ConditionInfo:
    """A condition: ``num_intervals`` counts its intervals, ``num_runs`` the runs of its
    signal tracks (``num_tracks``: 0 for an interval condition); ``assembly`` names the
    assemblies it has either on, comma-separated."""

    name: str
    assembly: str
    num_intervals: int
    num_runs: int = 0
    num_tracks: int = 0


def raise_remote(
    error: grpc.RpcError, call: str = "the call", plaintext: bool = False
) -> PeakSQLError:
    """The domain exception for a failed call (same code, the server's message).

    A deadline error names ``call`` and what to do; ``plaintext``: the channel has no TLS,
    so a connection the server closed at once gets a hint that the server may require TLS.
    """
    code = error.code()
    cls = ERROR_BY_CODE.get(code, PeakSQLError)
    message = explain(code, error.details() or "", plaintext)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message = (
            f"{call} passed the client's deadline ({message}): the server may be compiling a "
            "large plan (cached once made: retry) or counting positives; raise "
            "Client(timeout=...), or use describe(count_positives=False) / num_windows"
        )
    exc = cls(message)
    exc.code = code
    return exc


def _read(path: str | Path | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


class StreamCanceller:
    """Cancels a ``Client.stream`` from another thread, even while it waits for a message."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._call: grpc.Call | None = None
        self.cancelled = False

    def attach(self, call: grpc.Call) -> None:
        with self._lock:
            self._call = call
            if self.cancelled:
                call.cancel()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            if self._call is not None:
                self._call.cancel()


class Client:
    """Connection to one PeakSQL server or a set of interchangeable replicas.

    ``address``: ``"host:port"``, a list of them (or one string of them, comma-separated), or
    ``"dns:///name:port"`` (round robin over every address the name resolves to). ``token``
    (or ``token_file``; else ``PEAKSQL_TOKEN`` / ``PEAKSQL_TOKEN_FILE``) authenticates as a
    bearer token. TLS: ``root_certificates`` (CA file; else ``PEAKSQL_TLS_CA``) turns it on;
    ``certificate_chain`` and ``private_key`` add a client certificate for mutual TLS;
    ``server_name`` is the name to expect in the server's certificate when it differs from
    the address. ``failover_rounds``: how many times a call or a broken stream goes round
    every replica (with a growing pause) before it gives up. ``message_timeout``: seconds a stream
    waits for its next message before it counts the server as gone (and fails over);
    ``keepalive_seconds``: interval of HTTP/2 pings (no answer within 5 s: connection gone).
    """

    def __init__(
        self,
        address: str | Sequence[str],
        *,
        token: str | None = None,
        token_file: str | Path | None = None,
        root_certificates: str | Path | None = None,
        certificate_chain: str | Path | None = None,
        private_key: str | Path | None = None,
        server_name: str | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        timeout: float = 60.0,
        failover_rounds: int = 3,
        message_timeout: float = 60.0,
        keepalive_seconds: float = 10.0,
    ) -> None:
        if isinstance(address, str):
            address = address.split(",")
        self.addresses = [a.strip() for a in address if a.strip()]
        if not self.addresses:
            raise ValueError("give at least one server address")
        token_file = token_file or (None if token else os.environ.get("PEAKSQL_TOKEN_FILE"))
        if token_file and not token:
            token = Path(token_file).read_text().strip()
        token = token or os.environ.get("PEAKSQL_TOKEN") or None
        root_certificates = root_certificates or os.environ.get("PEAKSQL_TLS_CA") or None
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._credentials = (
            grpc.ssl_channel_credentials(
                _read(root_certificates), _read(private_key), _read(certificate_chain)
            )
            if root_certificates
            else None
        )
        self.max_message_bytes = max_message_bytes
        self.timeout = timeout
        self.failover_rounds = max(1, failover_rounds)
        self.message_timeout = message_timeout
        self._options: list[tuple[str, str | int]] = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.lb_policy_name", "round_robin"),
            # pings the server accepts (it allows one every 5 s, with or without calls)
            ("grpc.keepalive_time_ms", int(max(5.0, keepalive_seconds) * 1000)),
            ("grpc.keepalive_timeout_ms", 5_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        ]
        if server_name:
            self._options.append(("grpc.ssl_target_name_override", server_name))
        self._lock = threading.Lock()
        self._current = 0
        self._stubs: dict[int, tuple[grpc.Channel, pb_grpc.PeakSQLStub]] = {}

    # -- channels and failover -------------------------------------------------------------
    def _stub(self, index: int) -> pb_grpc.PeakSQLStub:
        with self._lock:
            if index not in self._stubs:
                target = self.addresses[index]
                channel = (
                    grpc.secure_channel(target, self._credentials, options=self._options)
                    if self._credentials
                    else grpc.insecure_channel(target, options=self._options)
                )
                self._stubs[index] = (channel, pb_grpc.PeakSQLStub(channel))
            return self._stubs[index][1]

    def _next_replica(self, failed: int) -> int:
        with self._lock:
            if self._current == failed:
                self._current = (failed + 1) % len(self.addresses)
            return self._current

    def call(self, method: str, request: Any, **kwargs: Any) -> Any:
        """A unary call, trying each replica once on UNAVAILABLE; remote errors re-raised."""
        return self._with_failover(
            lambda stub: getattr(stub, method)(
                request, metadata=self._metadata, timeout=self.timeout, **kwargs
            ),
            method,
        )

    def _with_failover(self, attempt: Callable[[pb_grpc.PeakSQLStub], T], call: str = "") -> T:
        """``attempt`` on the current replica, then the next on UNAVAILABLE, going round
        every replica ``failover_rounds`` times with the pause a stream takes between rounds
        (a server restarting, a connection a fork closed: gRPC's "Closed on fork")."""
        index = self._current
        last: grpc.RpcError | None = None
        replicas = len(self.addresses)
        attempts = replicas * self.failover_rounds
        for tried in range(1, attempts + 1):
            try:
                return attempt(self._stub(index))
            except grpc.RpcError as error:
                if error.code() not in FAILOVER_CODES:
                    raise raise_remote(
                        error, call or "the call", self._credentials is None
                    ) from None
                last = error
                index = self._next_replica(index)
                if tried % replicas == 0 and tried < attempts:  # a whole round failed
                    time.sleep(_backoff(tried // replicas))
        assert last is not None
        details = explain(last.code(), last.details() or "", self._credentials is None)
        raise Unavailable(
            f"no PeakSQL server answered at {', '.join(self.addresses)}: {details}"
        ) from None

    @property
    def current_address(self) -> str:
        """The replica new calls go to first (it changes when one fails)."""
        return self.addresses[self._current]

    def stream(
        self, request: pb.StreamRequest, canceller: StreamCanceller | None = None
    ) -> Iterator[pb.Batch]:
        """``StreamBatches`` that survives replica failures by resuming from the last cursor.

        ``canceller.cancel()`` (from any thread) ends the stream at once, even while the
        iterating thread waits for the next message.

        After each batch the request's cursor is the batch's cursor (the position after it) and
        ``max_batches`` what is left to send, so a stream re-opened on any replica continues
        with the next batch. A stream that fails before its first batch is simply re-sent.
        """
        request = pb.StreamRequest.FromString(request.SerializeToString())
        remaining = request.max_batches or None  # None: to the end of the epoch
        failures, index, since = 0, self._current, time.monotonic()
        while True:
            call = self._stub(index).StreamBatches(request, metadata=self._metadata)
            if canceller is not None:
                canceller.attach(call)
            watchdog, received = Watchdog(call, self.message_timeout), False
            try:
                for batch in call:
                    watchdog.pause()
                    failures, received, since = 0, True, time.monotonic()
                    request.cursor.CopyFrom(batch.cursor)
                    if remaining is not None:
                        remaining -= 1
                        request.max_batches = remaining
                    yield batch
                    if remaining == 0:
                        return  # not max_batches=0 on a resume: that would mean "no limit"
                    watchdog.progress()
                return
            except grpc.RpcError as error:
                if canceller is not None and canceller.cancelled:
                    return
                failures += 1
                details = self._stream_failure(error, watchdog.fired, index, received)
                if failures > len(self.addresses) * self.failover_rounds:
                    raise Unavailable(
                        f"stream failed on every server ({', '.join(self.addresses)}), "
                        f"{time.monotonic() - since:.1f} s without a message: {details}"
                    ) from None
                if failures >= len(self.addresses):  # a whole round failed: wait a little
                    time.sleep(_backoff(failures // len(self.addresses)))
                index = self._next_replica(index)
            finally:
                watchdog.stop()
                call.cancel()

    def _stream_failure(
        self, error: grpc.RpcError, stalled: bool, index: int, received: bool
    ) -> str:
        """Why a stream broke, if another replica may carry on; else the error to raise."""
        if stalled:
            return (
                f"the server at {self.addresses[index]} stopped answering: no message for "
                f"{self.message_timeout:g} s (message_timeout)"
            )
        code = error.code()
        if code not in FAILOVER_CODES:
            raise raise_remote(
                error, "StreamBatches", self._credentials is None and not received
            ) from None
        return explain(code, error.details() or "", self._credentials is None and not received)

    def close(self) -> None:
        with self._lock:
            for channel, _ in self._stubs.values():
                channel.close()
            self._stubs.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- catalog ---------------------------------------------------------------------------
    def assemblies(self) -> list[AssemblyInfo]:
        response = self.call("ListAssemblies", pb.ListAssembliesRequest())
        return [
            AssemblyInfo(
                a.name, a.species, a.length, tuple((c.name, c.length) for c in a.chromosomes)
            )
            for a in response.assemblies
        ]

    def conditions(self) -> list[ConditionInfo]:
        response = self.call("ListConditions", pb.ListConditionsRequest())
        return [
            ConditionInfo(c.name, c.assembly, c.num_intervals, c.num_runs, c.num_tracks)
            for c in response.conditions
        ]

    def describe(self, spec: DatasetSpec, *, count_positives: bool = True) -> Description:
        """What ``spec`` resolves to; ``count_positives=False`` skips the pass over all labels
        (``num_positive`` is then all zeros), which matters for genome-wide datasets."""
        request = pb.DescribeRequest(spec=spec.to_proto(), skip_positives=not count_positives)
        r = self.call("Describe", request)
        return description_of(r)

    def get_windows(
        self, spec: DatasetSpec, indices: Sequence[int] | np.ndarray, include_coordinates: bool
    ) -> pb.Batch:
        request = pb.GetWindowsRequest(
            spec=spec.to_proto(),
            indices=[int(i) for i in indices],
            include_coordinates=include_coordinates,
        )
        return self.call("GetWindows", request)

    def dataset(self, **kwargs: Any) -> Dataset:
        """A ``Dataset`` over this server: ``kwargs`` are ``peaksql.Dataset.keywords()``, the
        spec's (``DatasetSpec``) and how batches travel (batch_size, shuffle, …)."""
        from peaksql.dataset import Dataset

        return Dataset(self, **kwargs)

"""How a client tells a server that stopped answering from one that is slow, and says why.

``Watchdog`` cancels a stream that gets no message for ``message_timeout`` seconds (time the
consumer holds a message does not count), so a frozen replica (SIGSTOP, a hung host) that
still holds its TCP connection open cannot hang a training loop; ``Client.stream`` then
resumes from the cursor elsewhere. ``explain`` adds the likely cause to gRPC's words where
they do not say it (a plaintext client against a TLS server sees only "Socket closed").
"""

from __future__ import annotations

import threading
import time

import grpc

#: What a plaintext channel sees when the server speaks TLS.
_TLS_SYMPTOMS = ("Socket closed", "Connection reset", "handshake", "WRONG_VERSION_NUMBER")


def explain(code: grpc.StatusCode, details: str, plaintext: bool) -> str:
    """``details``, with the likely cause added where gRPC's own words do not say it."""
    if (
        plaintext
        and code == grpc.StatusCode.UNAVAILABLE
        and any(symptom in details for symptom in _TLS_SYMPTOMS)
    ):
        return (
            f"{details} (the server may require TLS: pass root_certificates= or set PEAKSQL_TLS_CA)"
        )
    return details


class Watchdog:
    """Cancels a call that gets no message for ``seconds``; ``fired`` says it did."""

    def __init__(self, call: grpc.Call, seconds: float) -> None:
        self.call = call
        self.seconds = seconds
        self.fired = False
        self._last = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="peaksql-watchdog", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(min(1.0, self.seconds / 4)):
            if time.monotonic() - self._last > self.seconds:
                self.fired = True
                self.call.cancel()
                return

    def progress(self) -> None:
        self._last = time.monotonic()

    def pause(self) -> None:
        """The consumer holds the message: its time is not the server's."""
        self._last = float("inf")

    def stop(self) -> None:
        self._done.set()

"""The bundled example, served from a temporary folder for the example scripts.

    with example_server(args.address) as address: ...   # args.address None: serve one here

Needs the server extra (``pip install "peaksql[server]"``); the examples import it as a
sibling module (``python examples/train_keras.py`` puts ``examples/`` on the path).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def example_server(address: str | None) -> Iterator[str]:
    """``address``, or the bundled example served from a temporary folder while in use."""
    if address:
        yield address
        return
    cli = [sys.executable, "-m", "peaksql.server.cli"]
    with tempfile.TemporaryDirectory() as folder:
        where = ["--db", f"sqlite:///{folder}/catalog.db", "--data-dir", f"{folder}/data"]
        subprocess.run([*cli, "example", "-q", *where], check=True, stdout=subprocess.DEVNULL)
        serve = [*cli, "serve", "--port", "0", "--grace", "0", "--log-format", "text", *where]
        server = subprocess.Popen(
            serve, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        try:
            assert server.stdout is not None
            for line in server.stdout:
                match = re.search(r"serving on (\S+)", line)
                if match:
                    threading.Thread(target=server.stdout.read, daemon=True).start()
                    yield match.group(1)
                    return
            raise RuntimeError("peaksql serve exited before serving")
        finally:
            server.terminate()
            server.wait()

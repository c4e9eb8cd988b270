"""``peaksql serve``'s file flags, end to end: ``--tls-cert/--tls-key/--tls-client-ca`` and
``--tokens-file`` given on the command line (not only as environment variables) start a server
that a client reaches with the throwaway CA; a flag naming no file is a clear error, exit 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from peaksql import Client
from peaksql.core.errors import Unauthenticated, Unavailable
from peaksql.server.cli import build_parser, main
from peaksql.server.cli.serve_settings import serve_config
from peaksql.server.config import ServerConfig, TLSConfig
from tests.server_fixtures import PKI, build_catalog, make_pki
from tests.servers import _SERVING


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("tls_flags")
    data_dir = root / "data"
    data_dir.mkdir()
    db = f"sqlite:///{root / 'catalog.db'}"
    build_catalog(db, data_dir)
    return db, data_dir


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@contextmanager
def serving(catalog: tuple[str, Path], *flags: str) -> Iterator[str]:
    """``peaksql serve FLAGS`` in a subprocess, without any PEAKSQL_* variable; its address."""
    db, data_dir = catalog
    command = [sys.executable, "-m", "peaksql.server.cli", "serve", "--port", "0", "--grace", "0"]
    command += ["--db", db, "--data-dir", str(data_dir), "--log-format", "text", *flags]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEAKSQL_")}
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            match = _SERVING.search(line)
            if match:
                break
        else:
            process.wait(30)
            raise AssertionError(f"serve exited {process.returncode}:\n{''.join(seen)}")
        yield f"127.0.0.1:{match.group(2)}"
    finally:
        process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def test_tls_and_token_flags_serve_end_to_end(
    catalog: tuple[str, Path], pki: PKI, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("alice alice-token-0001\n")
    flags = ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key))
    with serving(catalog, *flags, "--tokens-file", str(tokens)) as address:
        with Client(address, token="alice-token-0001", root_certificates=pki.ca) as c:
            assert [a.name for a in c.assemblies()] == ["tiny"]
        with Client(address, root_certificates=pki.ca) as c, pytest.raises(Unauthenticated):
            c.assemblies()
        with Client(address, token="alice-token-0001", timeout=5) as c, pytest.raises(Unavailable):
            c.assemblies()  # plaintext to a TLS port


def test_mutual_tls_flag(catalog: tuple[str, Path], pki: PKI) -> None:
    flags = ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key))
    with serving(catalog, *flags, "--tls-client-ca", str(pki.ca)) as address:
        with Client(
            address,
            root_certificates=pki.ca,
            certificate_chain=pki.client_cert,
            private_key=pki.client_key,
        ) as c:
            assert c.conditions()[0].name == "peaks"
        with Client(address, root_certificates=pki.ca, timeout=5) as c, pytest.raises(Unavailable):
            c.assemblies()  # no client certificate


def test_file_flags_become_paths(pki: PKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("PEAKSQL_TLS_CERT", "PEAKSQL_TLS_KEY", "PEAKSQL_TLS_CLIENT_CA"):
        monkeypatch.delenv(variable, raising=False)
    tokens = tmp_path / "tokens"
    tokens.write_text("t0ken\n")
    files = ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)]
    files += ["--tls-client-ca", str(pki.ca), "--tokens-file", str(tokens)]
    args = build_parser().parse_args(["serve", "--data-dir", str(tmp_path), *files])
    config = serve_config(args)
    assert config.tls == TLSConfig(pki.server_cert, pki.server_key, pki.ca)
    assert isinstance(config.tls.cert, Path) and isinstance(config.tokens_file, Path)
    # callers of the dataclasses may give text too; "~" is expanded
    loose = ServerConfig(db="x", data_dir="~/d", tokens_file="~/t")  # type: ignore[arg-type]
    assert loose.tokens_file == Path("~/t").expanduser() and isinstance(loose.data_dir, Path)


@pytest.mark.parametrize("flag", ["--tls-cert", "--tls-key", "--tls-client-ca", "--tokens-file"])
def test_a_file_flag_naming_no_file_is_a_clear_error(
    flag: str, pki: PKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = {"--tls-cert": pki.server_cert, "--tls-key": pki.server_key}
    given[flag] = tmp_path / "missing.pem"
    argv = ["serve", "--data-dir", str(tmp_path), "--db", f"sqlite:///{tmp_path / 'c.db'}"]
    for name, path in given.items():
        argv += [name, str(path)]
    assert main(argv) == 2
    assert f"{flag} {tmp_path / 'missing.pem'}: no such file" in capsys.readouterr().err

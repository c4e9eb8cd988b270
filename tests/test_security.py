"""Authentication, TLS and the read-only database role, end to end.

Tokens: a call without a valid bearer token is UNAUTHENTICATED, health is exempt, the file is
re-read when edited. TLS with a throwaway CA (made here with ``cryptography``), mutual TLS
refusing a client without a certificate or with one from another CA. On PostgreSQL, the role
``peaksql migrate --reader-role`` creates can read but a write fails in PostgreSQL itself,
and the serving sessions are read-only with a statement timeout.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from peaksql import Client
from peaksql.core.errors import Unauthenticated, Unavailable
from peaksql.core.spec import DatasetSpec
from peaksql.server.cli import main
from peaksql.server.config import ServerConfig, TLSConfig
from peaksql.server.rpc import auth
from peaksql.server.rpc.serve import CatalogNotReady, RunningServer, open_catalog
from tests.server_fixtures import PKI, build_catalog, make_pki, start


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("security")
    data_dir = root / "data"
    data_dir.mkdir()
    db = f"sqlite:///{root / 'catalog.db'}"
    build_catalog(db, data_dir)
    return db, data_dir


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text("# lab users\nalice  alice-token-0001\n\nbob-token-0002   # bob, unnamed\n")
    return path


def health(address: str, channel: grpc.Channel | None = None) -> int:
    with channel or grpc.insecure_channel(address) as ch:
        return (
            health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5).status
        )


@pytest.fixture
def token_server(catalog: tuple[str, Path], tokens_file: Path) -> Iterator[RunningServer]:
    running = start(*catalog, tokens_file=tokens_file)
    yield running
    running.shutdown(0)


def test_tokens_file_parsing_names_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("alice a1\nbob b2 extra\n")
    with pytest.raises(auth.InputFileError, match=r"tokens, line 2: expected"):
        auth.parse_tokens(path)
    path.write_text("alice a1\nbob a1\n")
    with pytest.raises(auth.InputFileError, match=r"line 2: this token is listed twice"):
        auth.parse_tokens(path)


def test_missing_or_wrong_token_is_unauthenticated(token_server: RunningServer) -> None:
    address = f"127.0.0.1:{token_server.port}"
    for token in (None, "not-a-token", "alice"):  # "alice" is a name, not a token
        with Client(address, token=token) as c, pytest.raises(Unauthenticated):
            c.assemblies()
    with Client(address, token="not-a-token") as c, pytest.raises(Unauthenticated, match="invalid"):
        next(c.stream(_request()))
    for token in ("alice-token-0001", "bob-token-0002"):
        with Client(address, token=token) as c:
            assert [a.name for a in c.assemblies()] == ["tiny"]
            assert next(c.stream(_request())).batch_size == 4
    # the health service needs no token
    assert health(address) == health_pb2.HealthCheckResponse.SERVING


def test_reflection_needs_a_token_too(token_server: RunningServer) -> None:
    """Reflection streams requests: the one kind of method only authentication wraps."""
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    request = reflection_pb2.ServerReflectionRequest(list_services="")
    for metadata in ((), (("authorization", "Bearer alice-token-0001"),)):
        with grpc.insecure_channel(f"127.0.0.1:{token_server.port}") as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            responses = stub.ServerReflectionInfo(iter([request]), metadata=metadata, timeout=10)
            if not metadata:
                with pytest.raises(grpc.RpcError) as error:
                    list(responses)
                assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
            else:
                (response,) = list(responses)
                assert response.list_services_response.service


def test_token_from_environment_and_file(
    token_server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "my_token"
    token.write_text("alice-token-0001\n")
    monkeypatch.setenv("PEAKSQL_TOKEN_FILE", str(token))
    with Client(f"127.0.0.1:{token_server.port}") as c:
        assert c.conditions()[0].name == "peaks"


def test_tokens_file_is_reloaded(
    token_server: RunningServer, tokens_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "RELOAD_CHECK_SECONDS", 0.0)
    address = f"127.0.0.1:{token_server.port}"
    with Client(address, token="carol-token-0003") as c:
        with pytest.raises(Unauthenticated):
            c.assemblies()
        tokens_file.write_text("carol carol-token-0003\n")  # alice and bob revoked
        stat = tokens_file.stat()
        os.utime(tokens_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        assert c.assemblies()[0].name == "tiny"
    with Client(address, token="alice-token-0001") as c, pytest.raises(Unauthenticated):
        c.assemblies()


def _request():  # type: ignore[no-untyped-def]
    from peaksql.v1 import peaksql_pb2 as pb

    return pb.StreamRequest(spec=DatasetSpec(seq_length=100).to_proto(), batch_size=4)


def test_tls_with_tokens(catalog: tuple[str, Path], pki: PKI, tokens_file: Path) -> None:
    running = start(
        *catalog, tokens_file=tokens_file, tls=TLSConfig(pki.server_cert, pki.server_key)
    )
    try:
        for host in ("127.0.0.1", "localhost"):
            address = f"{host}:{running.port}"
            with Client(address, token="alice-token-0001", root_certificates=pki.ca) as c:
                assert next(c.stream(_request())).batch_size == 4
            with Client(address, root_certificates=pki.ca) as c, pytest.raises(Unauthenticated):
                c.assemblies()
        # plaintext to a TLS port, or a server certificate from a CA we do not trust: no call
        with Client(address, token="alice-token-0001", timeout=5) as c, pytest.raises(Unavailable):
            c.assemblies()
        with (
            Client(address, token="alice-token-0001", root_certificates=pki.stranger_cert) as c,
            pytest.raises(Unavailable),
        ):
            c.assemblies()
    finally:
        running.shutdown(0)


def test_mutual_tls(catalog: tuple[str, Path], pki: PKI, monkeypatch: pytest.MonkeyPatch) -> None:
    tls = TLSConfig(pki.server_cert, pki.server_key, client_ca=pki.ca)
    running = start(*catalog, tls=tls)
    address = f"127.0.0.1:{running.port}"
    try:
        with Client(
            address,
            root_certificates=pki.ca,
            certificate_chain=pki.client_cert,
            private_key=pki.client_key,
        ) as c:
            assert c.assemblies()[0].name == "tiny"
        for cert, key in ((None, None), (pki.stranger_cert, pki.stranger_key)):
            with (
                Client(
                    address, root_certificates=pki.ca, certificate_chain=cert, private_key=key
                ) as c,
                pytest.raises(Unavailable),
            ):
                c.assemblies()
        # the Docker health check, as the image runs it: exit 0 healthy, 1 not
        probe = ["healthcheck", "--address", address, "--tls-ca", str(pki.ca)]
        assert main([*probe, "--cert", str(pki.client_cert), "--key", str(pki.client_key)]) == 0
        with pytest.raises(SystemExit) as unhealthy:
            main(probe)
        assert unhealthy.value.code == 1
    finally:
        running.shutdown(0)


# -- PostgreSQL: the read-only role and the serving session ------------------------------------


@pytest.fixture
def reader(postgres_url: str) -> Iterator[tuple[str, str]]:
    """``peaksql migrate --reader-role`` on a fresh schema: (admin URL, reader URL)."""
    role = f"peaksql_reader_{uuid.uuid4().hex[:8]}"
    assert main(["migrate", "--db", postgres_url, "--reader-role", role, "-q"]) == 0
    url = sa.engine.make_url(postgres_url)
    reader_url = url.set(username=role).render_as_string(hide_password=False)
    yield postgres_url, reader_url
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        database = connection.scalar(sa.text("SELECT current_database()"))
        connection.execute(sa.text(f'REVOKE CONNECT ON DATABASE "{database}" FROM {role}'))
        connection.execute(sa.text(f"DROP OWNED BY {role}"))
        connection.execute(sa.text(f"DROP ROLE {role}"))
    admin.dispose()


@pytest.mark.postgres
def test_a_write_by_the_serving_role_fails_in_postgres(reader: tuple[str, str]) -> None:
    _, reader_url = reader
    engine = sa.create_engine(reader_url)
    try:
        with engine.connect() as connection:
            # it can log in and read the catalog...
            assert connection.scalar(sa.text("SELECT count(*) FROM assemblies")) == 0
            assert connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
        # ...and every kind of write is refused by PostgreSQL
        for statement in (
            "INSERT INTO assemblies (name, species, store_file) VALUES ('x', 'y', 'z')",
            "DELETE FROM intervals",
            "CREATE TABLE sneaky (id integer)",
            "DROP TABLE intervals",
        ):
            with engine.connect() as connection, pytest.raises(sa.exc.ProgrammingError) as error:
                connection.execute(sa.text(statement))
            assert "permission denied" in str(error.value) or "must be owner" in str(error.value)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_serving_sessions_are_read_only_with_a_statement_timeout(
    reader: tuple[str, str], tmp_path: Path
) -> None:
    admin_url, _ = reader
    config = ServerConfig(
        db=admin_url, data_dir=tmp_path, statement_timeout_seconds=0.3, migrate=False
    )
    engine = open_catalog(config)  # even with the admin role, serving cannot write
    try:
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SHOW statement_timeout")) == "300ms"
            assert connection.scalar(sa.text("SHOW default_transaction_read_only")) == "on"
            with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
                connection.execute(sa.text("SELECT pg_sleep(2)"))
        with engine.connect() as connection, pytest.raises(sa.exc.InternalError, match="read-only"):
            connection.execute(sa.text("DELETE FROM intervals"))
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_replica_refuses_an_unmigrated_catalog(postgres_url: str, tmp_path: Path) -> None:
    config = ServerConfig(db=postgres_url, data_dir=tmp_path, migrate=False)
    with pytest.raises(CatalogNotReady, match="peaksql migrate"):
        open_catalog(config)


def test_database_url_and_password_come_from_secret_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peaksql.server.config import resolve_db

    (tmp_path / "url").write_text("postgresql+psycopg://reader@db.lab:5432/peaksql\n")
    (tmp_path / "password").write_text("s3cr'et@/:\n")
    monkeypatch.delenv("PEAKSQL_DB", raising=False)
    monkeypatch.setenv("PEAKSQL_DB_FILE", str(tmp_path / "url"))
    monkeypatch.setenv("PEAKSQL_DB_PASSWORD_FILE", str(tmp_path / "password"))
    url = sa.engine.make_url(resolve_db(None, tmp_path))
    assert (url.username, url.password, url.host, url.database) == (
        "reader",
        "s3cr'et@/:",
        "db.lab",
        "peaksql",
    )
    # a URL that carries its own password keeps it; no URL at all is the laptop's SQLite file
    assert ":own@" in resolve_db("postgresql://u:own@h/d", tmp_path)
    monkeypatch.delenv("PEAKSQL_DB_FILE")
    assert resolve_db(None, tmp_path) == str(tmp_path / "peaksql.db")

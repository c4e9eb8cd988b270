"""Helpers for the serving tests: a tiny seeded catalog, an in-process server, a throwaway PKI.

The catalog is two random chromosomes and one BED file, small enough to build in well under a
second, so each test can have its own.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from peaksql.server.catalog.database import open_database
from peaksql.server.config import ServerConfig
from peaksql.server.ingest.assembly import add_assembly
from peaksql.server.ingest.intervals import add_data
from peaksql.server.rpc.serve import RunningServer, serve

CHROMOSOME_LENGTHS = {"chr1": 30_000, "chr2": 20_000}


def write_genome(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """A random FASTA and a BED of 40 intervals on it; returns their paths."""
    rng = np.random.default_rng(seed)
    fasta, bed = folder / "genome.fa", folder / "peaks.bed"
    with fasta.open("w") as out:
        for name, length in CHROMOSOME_LENGTHS.items():
            bases = "".join(rng.choice(list("ACGTN"), size=length, p=[0.24] * 4 + [0.04]))
            out.write(f">{name}\n")
            for i in range(0, length, 60):
                out.write(bases[i : i + 60] + "\n")
    with bed.open("w") as out:
        for name, length in CHROMOSOME_LENGTHS.items():
            for start in sorted(rng.integers(0, length - 500, size=20)):
                out.write(f"{name}\t{start}\t{start + int(rng.integers(50, 500))}\n")
    return fasta, bed


def build_catalog(db_url: str, data_dir: Path) -> None:
    """Ingest the tiny genome (assembly ``tiny``) and its peaks (condition ``peaks``)."""
    fasta, bed = write_genome(data_dir.parent)
    engine = open_database(db_url)
    add_assembly(engine, data_dir, fasta, "tiny", "synthetic", progress=False)
    add_data(engine, bed, "tiny", "peaks", progress=False)
    engine.dispose()


def start(db_url: str, data_dir: Path, **settings: object) -> RunningServer:
    """An in-process server on a free port of 127.0.0.1."""
    return serve(ServerConfig(db=db_url, data_dir=data_dir, host="127.0.0.1", port=0, **settings))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class PKI:
    """PEM files: a CA, a server certificate for 127.0.0.1/localhost, a client certificate,
    and a client certificate from another CA (which mutual TLS must refuse)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path
    stranger_key: Path


def make_pki(folder: Path) -> PKI:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def certificate(subject, key, issuer, issuer_key, *, ca=False, sans=(), usage=None):  # type: ignore[no-untyped-def]
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), False)
        if usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def write(stem: str, cert, key) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
        cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path

    folder.mkdir(parents=True, exist_ok=True)
    ca_key, other_ca_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = certificate("test CA", ca_key, "test CA", ca_key, ca=True)
    ca_path, _ = write("ca", ca, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    sans = (x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    server = certificate(
        "localhost", server_key, "test CA", ca_key, sans=sans, usage=ExtendedKeyUsageOID.SERVER_AUTH
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = certificate(
        "alice", client_key, "test CA", ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = certificate(
        "mallory", stranger_key, "other CA", other_ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    return PKI(
        ca_path,
        *write("server", server, server_key),
        *write("client", client, client_key),
        *write("stranger", stranger, stranger_key),
    )

"""The ``peaksql`` command end to end, in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_DIR


def run(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "peaksql.server.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"peaksql {' '.join(args)} failed:\n{result.stderr}")
    return result


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    return {"PEAKSQL_DATA_DIR": str(tmp_path / "data"), "PEAKSQL_DB": db_url}


def test_help_explains_the_commands() -> None:
    result = run("--help", env={})
    for command in ("add-assembly", "add-data", "list", "remove", "serve", "example"):
        assert command in result.stdout
    assert "PEAKSQL_DATA_DIR" in result.stdout
    add_data = run("add-data", "--help", env={})
    assert "narrowPeak" in add_data.stdout and "transaction" in add_data.stdout


def test_ingest_list_remove_round_trip(env: dict[str, str], tmp_path: Path) -> None:
    added = run(
        "add-assembly",
        str(EXAMPLE_DIR / "genome.fa"),
        "--name",
        "hg19",
        "--species",
        "human",
        "-q",
        env=env,
    )
    assert "1 chromosomes, 2,000,000 bp" in added.stdout
    peaks = tmp_path / "liver.narrowPeak"
    peaks.write_text(
        "track name=liver\n"
        "chr20\t100\t200\tp1\t10\t.\t5.0\t8.0\t3.0\t50\n"
        "chr20\t300\t450\tp2\t20\t+\t6.0\t9.0\t4.0\t-1\n"
    )
    run(
        "add-data",
        str(peaks),
        str(EXAMPLE_DIR / "ctcf_peaks.bed"),
        "--assembly",
        "hg19",
        "-q",
        env=env,
    )
    listing = json.loads(run("list", "--json", env=env).stdout)
    assert [a["name"] for a in listing["assemblies"]] == ["hg19"]
    assert listing["assemblies"][0]["chromosomes"] == [["chr20", 2_000_000]]
    counts = {c["name"]: c["num_intervals"] for c in listing["conditions"]}
    assert counts == {"liver": 2, "ctcf_peaks": 170}
    text = run("list", env=env).stdout
    assert "hg19  human              1  2,000,000 bp" in text and "liver" in text

    removed = run("remove", "condition", "liver", env=env)
    assert "2 intervals" in removed.stdout
    assert {c["name"] for c in json.loads(run("list", "--json", env=env).stdout)["conditions"]} == {
        "ctcf_peaks"
    }
    run("remove", "assembly", "hg19", env=env)
    assert json.loads(run("list", "--json", env=env).stdout) == {"assemblies": [], "conditions": []}
    assert not list((Path(env["PEAKSQL_DATA_DIR"]) / "genomes").glob("*.u8"))


def test_errors_exit_non_zero_with_file_and_line(env: dict[str, str], tmp_path: Path) -> None:
    run("add-assembly", str(EXAMPLE_DIR / "genome.fa"), "--name", "hg19", "-q", env=env)
    bad = tmp_path / "bad.bed"
    bad.write_text("chr20\t10\t20\nchr20\t50\tforty\n")
    result = run("add-data", str(bad), "--assembly", "hg19", "-q", env=env, check=False)
    assert result.returncode == 2
    assert f"{bad}, line 2" in result.stderr
    missing = run("add-data", str(bad), "--assembly", "mm10", "-q", env=env, check=False)
    assert missing.returncode == 2 and "mm10" in missing.stderr
    again = run(
        "add-assembly", str(EXAMPLE_DIR / "genome.fa"), "--name", "hg19", "-q", env=env, check=False
    )
    assert again.returncode == 2 and "already exists" in again.stderr
    assert json.loads(run("list", "--json", env=env).stdout)["conditions"] == []


def test_example_builds_the_bundled_catalog(env: dict[str, str]) -> None:
    first = run("example", "-q", env=env)
    assert "ctcf_peaks" in first.stdout and "2,000,000 bp" in first.stdout
    second = run("example", "-q", env=env)  # idempotent
    assert second.stdout == first.stdout


def test_add_data_inputs_as_labs_have_them(env: dict[str, str], tmp_path: Path) -> None:
    """Aliases, skipped chromosomes, a narrowPeak named .bed, and one transaction for all."""
    run("add-assembly", str(EXAMPLE_DIR / "genome.fa"), "--name", "hg19", "-q", env=env)
    encode = tmp_path / "ENCFF1.bed"
    encode.write_text(
        "20\t100\t200\tp\t5\t+\t6.5\t9.0\t4.0\t50\nchrUn_gl1\t1\t2\tq\t5\t+\t1\t1\t1\t0\n"
    )
    bad = tmp_path / "bad.bed"
    bad.write_text("chr20\t10\t20\nchr20\t50\tforty\n")
    failed = run(
        "add-data", str(encode), str(bad), "--assembly", "hg19", "-q",
        "--skip-unknown-chromosomes", env=env, check=False,
    )  # fmt: skip
    assert failed.returncode == 2 and f"{bad}, line 2" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
    assert json.loads(run("list", "--json", env=env).stdout)["conditions"] == []

    aliases = tmp_path / "aliases.txt"
    aliases.write_text("chr20\tNC_000020.11\n")
    refseq = tmp_path / "refseq.bed"
    refseq.write_text("NC_000020.11\t5\t9\n")
    added = run(
        "add-data", str(encode), str(refseq), "--assembly", "hg19", "-q",
        "--skip-unknown-chromosomes", "--chromosome-aliases", str(aliases), env=env,
    )  # fmt: skip
    assert "ENCFF1.bed: 10 columns, read as narrowPeak (pass --format bed" in added.stdout
    assert (
        "added 1 intervals to condition ENCFF1 (skipped 1 lines on 1 unknown chromosome: "
        "chrUn_gl1 (1))" in added.stdout
    )
    assert "added 1 intervals to condition refseq" in added.stdout


def test_truncated_gzip_fasta_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    import gzip

    import numpy as np

    rng = np.random.default_rng(0)
    fasta = tmp_path / "hg.fa.gz"
    text = b">chr1\n" + bytes(rng.choice(list(b"ACGT"), 100_000).astype(np.uint8)) + b"\n"
    fasta.write_bytes(gzip.compress(text)[:-200])
    result = run("add-assembly", str(fasta), "--name", "hg", "-q", env=env, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"peaksql add-assembly: error: {fasta}: cannot decompress it: the gzip data is "
        "truncated (Compressed file ended before the end-of-stream marker was reached)"
    )
    assert json.loads(run("list", "--json", env=env).stdout)["assemblies"] == []


def test_list_aligns_columns_shows_metadata_and_chromosomes(
    env: dict[str, str], tmp_path: Path
) -> None:
    run("add-assembly", str(EXAMPLE_DIR / "genome.fa"), "--name", "hg19", "-q", env=env)
    peaks = tmp_path / "p.bed"
    peaks.write_text("chr20\t100\t200\n")
    metadata = '{"assay": "ChIP-seq", "target": "CTCF", "cell": "HepG2"}'
    for name, extra in (("a", ()), ("a_much_longer_name", ("--metadata", metadata))):
        run("add-data", str(peaks), "--assembly", "hg19", "--condition", name, *extra, env=env)
    lines = run("list", env=env).stdout.splitlines()
    header = lines.index("conditions:") + 1
    rows = lines[header : header + 3]
    # columns line up with their headers whatever the name lengths; counts right-aligned
    assert rows[1].index("hg19") == rows[2].index("hg19") == rows[0].index("assembly")
    count_end = rows[0].index("intervals") + len("intervals")
    assert rows[1][count_end - 2 :] == " 1" == rows[2][count_end - 2 : count_end]
    stored = json.dumps(json.loads(metadata), sort_keys=True)  # as add-data stores it
    assert rows[2].index(stored) == rows[0].index("metadata")
    assert "chromosomes of hg19:" not in "\n".join(lines)
    verbose = run("list", "-v", env=env).stdout
    assert "chromosomes of hg19:" in verbose and "chr20  2,000,000 bp" in verbose
    listing = json.loads(run("list", "--json", env=env).stdout)
    by_name = {c["name"]: c for c in listing["conditions"]}
    assert by_name["a_much_longer_name"]["metadata"] == json.loads(metadata)
    assert by_name["a"]["metadata"] is None and by_name["a"]["source_file"].endswith("p.bed")


def test_read_only_commands_never_create_a_catalog(tmp_path: Path) -> None:
    data_dir = tmp_path / "nowhere"
    env = {"PEAKSQL_DATA_DIR": str(data_dir), "PEAKSQL_DB": ""}
    for command in (["list"], ["list", "--json"], ["remove", "condition", "x"]):
        result = run(*command, env=env, check=False)
        assert result.returncode == 2
        assert f"no catalog at {data_dir / 'peaksql.db'}: run 'peaksql example'" in result.stderr
    assert not data_dir.exists()


def test_every_command_has_a_description() -> None:
    from peaksql.server.cli import build_parser

    (commands,) = [a for a in build_parser()._actions if a.dest == "command"]
    for name, parser in commands.choices.items():
        assert parser.description and len(parser.description) > 40, name
    assert "describe" in commands.choices


def test_output_into_a_closed_pipe_is_no_error(env: dict[str, str]) -> None:
    run("example", "-q", env=env)
    listing = subprocess.Popen(
        [sys.executable, "-m", "peaksql.server.cli", "list", "-v"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert listing.stdout is not None
    listing.stdout.close()  # as `| head -0` would
    _, stderr = listing.communicate(timeout=60)
    assert listing.returncode == 0 and b"Traceback" not in stderr

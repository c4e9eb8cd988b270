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

"""Conditions across assemblies: one label column per condition over every assembly, the
``missing`` option, Describe's per-column assemblies, removal, and migration 0003.

Checked against the brute-force reference (``tests.reference``) in process and over gRPC,
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

import peaksql
from peaksql.core.errors import AlreadyExists, InvalidArgument
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.database import create_database_engine, open_database, upgrade
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.catalog.queries import list_conditions
from peaksql.server.catalog.schema import condition_metadata, intervals, parts
from peaksql.server.engine.batches import build_batch
from peaksql.server.engine.plan import compile_plan
from peaksql.server.ingest.assembly import add_assembly, remove_assembly
from peaksql.server.ingest.intervals import add_data
from peaksql.v1 import peaksql_pb2 as pb
from tests import reference
from tests.servers import running_server

#: assembly -> chromosome -> length
GENOMES = {"hs": {"chr1": 900, "chr2": 600}, "mm": {"chr1": 700, "chrX": 500}}
#: condition -> the assemblies it has intervals on (ctcf: both, as one column)
CONDITIONS = {"ctcf": ("hs", "mm"), "h3k27ac": ("hs",), "mm_only": ("mm",)}


def _write_inputs(folder: Path, seed: int = 3) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    paths = {}
    for assembly, lengths in GENOMES.items():
        fasta = folder / f"{assembly}.fa"
        fasta.write_text(
            "".join(
                f">{name}\n{''.join(rng.choice(list('ACGT'), size=length))}\n"
                for name, length in lengths.items()
            )
        )
        paths[assembly] = fasta
        for condition, on in CONDITIONS.items():
            if assembly not in on:
                continue
            lines = []
            for name, length in lengths.items():
                for start in sorted(rng.integers(0, length - 120, size=4)):
                    lines.append(f"{name}\t{start}\t{start + int(rng.integers(20, 120))}\n")
            path = folder / f"{condition}.{assembly}.bed"
            path.write_text("".join(lines))
            paths[f"{condition}.{assembly}"] = path
    return paths


@pytest.fixture
def built(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """(engine, store, reference catalog, db_url, data_dir): two assemblies, ctcf on both."""
    data_dir = tmp_path / "data"
    paths = _write_inputs(tmp_path)
    engine = open_database(db_url)
    catalog = reference.ReferenceCatalog()
    for assembly in GENOMES:
        add_assembly(engine, data_dir, paths[assembly], assembly, progress=False)
        catalog.add_fasta(assembly, None, paths[assembly])
    for assembly in GENOMES:
        for condition, on in CONDITIONS.items():
            if assembly in on:
                path = paths[f"{condition}.{assembly}"]
                add_data(engine, path, assembly, condition, append=True, progress=False)
                catalog.add_intervals(condition, assembly, path, "bed")
    yield engine, GenomeStore(data_dir), catalog, db_url, data_dir
    engine.dispose()


def _expected(catalog: reference.ReferenceCatalog, spec: DatasetSpec) -> reference.ReferenceDataset:
    return reference.build_dataset(
        catalog,
        seq_length=spec.seq_length,
        sampling="stride",
        stride=spec.stride,
        region_predicate=lambda row: True,
        interval_predicate=lambda row: True,
        label=spec.label,
        inner_range=spec.inner_range,
        conditions=spec.conditions,
    )


@pytest.mark.parametrize("label", ["any", "per_base"])
def test_one_column_per_condition_across_assemblies(built, label: str) -> None:  # type: ignore[no-untyped-def]
    engine, store, catalog, _, _ = built
    spec = DatasetSpec(seq_length=100, stride=50, label=label, inner_range=40)
    expected = _expected(catalog, spec)
    plan = compile_plan(engine, store, spec)
    assert plan.label_columns == expected.label_columns == ["ctcf", "h3k27ac", "mm_only"]
    batch = build_batch(plan, np.arange(plan.num_windows))
    assert batch.labels.dtype == np.bool_
    np.testing.assert_array_equal(batch.labels, expected.labels)
    ctcf = batch.labels[:, 0].reshape(plan.num_windows, -1).any(axis=1)
    on_mouse = np.array([plan.region_names[r][0] == "mm" for r in batch.regions])
    assert ctcf[on_mouse].any() and ctcf[~on_mouse].any()  # both assemblies' windows labelled
    assert plan.column_assemblies() == [["hs", "mm"], ["hs"], ["mm"]]


@pytest.mark.parametrize("label", ["any", "per_base"])
def test_mask_marks_nan_exactly_where_the_column_has_no_interval(built, label: str) -> None:  # type: ignore[no-untyped-def]
    engine, store, catalog, _, _ = built
    spec = DatasetSpec(seq_length=100, stride=50, label=label, inner_range=40, missing="mask")
    expected = _expected(catalog, spec)
    plan = compile_plan(engine, store, spec)
    labels = build_batch(plan, np.arange(plan.num_windows)).labels
    assert labels.dtype == np.float32
    wanted = reference.masked_labels(catalog, expected)
    np.testing.assert_array_equal(np.isnan(labels), np.isnan(wanted))
    np.testing.assert_array_equal(np.nan_to_num(labels), np.nan_to_num(wanted))
    known = reference.known_labels(catalog, expected)
    assert (~known).any() and known.any()
    zero = compile_plan(
        engine, store, DatasetSpec(seq_length=100, stride=50, label=label, inner_range=40)
    )
    zero_labels = build_batch(zero, np.arange(zero.num_windows)).labels
    np.testing.assert_array_equal(zero_labels, np.nan_to_num(labels).astype(bool))  # zero: 0 there


def test_mask_restricted_to_one_assembly_and_explicit_columns(built) -> None:  # type: ignore[no-untyped-def]
    engine, store, _catalog, _, _ = built
    spec = DatasetSpec(
        seq_length=80,
        stride=80,
        where="assembly = 'mm'",
        conditions=("h3k27ac", "ctcf"),
        missing="mask",
    )
    plan = compile_plan(engine, store, spec)
    labels = build_batch(plan, np.arange(plan.num_windows)).labels
    assert np.isnan(labels[:, 0]).all() and not np.isnan(labels[:, 1]).any()
    assert plan.column_assemblies() == [[], ["mm"]]


def test_over_grpc_describe_and_masked_stream(built) -> None:  # type: ignore[no-untyped-def]
    _engine, _store, catalog, db_url, data_dir = built
    spec = DatasetSpec(seq_length=100, stride=50, missing="mask")
    expected = reference.masked_labels(catalog, _expected(catalog, spec))
    with (
        running_server(db_url, data_dir) as server,
        peaksql.Client(f"127.0.0.1:{server.port}") as client,
    ):
        description = client.describe(spec)
        assert description.label_columns == ("ctcf", "h3k27ac", "mm_only")
        assert description.column_assemblies == (("hs", "mm"), ("hs",), ("mm",))
        assert not description.positives_pending
        train = client.dataset(batch_size=16, seq_length=100, stride=50, missing="mask")
        y = np.concatenate([batch[1] for batch in train])  # one epoch, in order
        np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
        np.testing.assert_array_equal(np.nan_to_num(y), np.nan_to_num(expected))
        with pytest.raises(InvalidArgument, match="label_dtype must be floating"):
            client.dataset(seq_length=100, missing="mask", label_dtype=bool)
        response = client.call("ListConditions", pb.ListConditionsRequest())
        [ctcf] = [c for c in response.conditions if c.name == "ctcf"]
        assert (ctcf.assembly, list(ctcf.assemblies)) == ("hs,mm", ["hs", "mm"])


def test_add_data_semantics_and_remove_assembly(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine, *_, data_dir = built
    path = tmp_path / "ctcf.mm.bed"
    with pytest.raises(AlreadyExists, match="--append"):  # a re-run cannot double a dataset
        add_data(engine, path, "mm", "ctcf", progress=False)
    remove_assembly(engine, data_dir, "mm")
    listed = {c.name: c.assemblies for c in list_conditions(engine)}
    assert listed == {"ctcf": ("hs",), "h3k27ac": ("hs",)}  # mm_only lived only on mm


# --- migrations 0003 and 0004 -----------------------------------------------------------------


def test_migration_0003_upgrades_a_catalog_made_at_0002(db_url: str, tmp_path: Path) -> None:
    """A catalog with data at 0002 (conditions of one assembly each, metadata JSON) upgrades
    in place through 0003 and 0004 and its interval rows convert into store parts: parts
    and metadata rows filled, no interval lost."""
    engine = create_database_engine(db_url)
    upgrade(engine, "0002")
    with engine.begin() as connection:
        run = connection.execute
        run(
            sa.text(
                "INSERT INTO assemblies (id, name, length, store_file) "
                "VALUES (1, 'hs', 90, 'x'), (2, 'mm', 50, 'y')"
            )
        )
        run(
            sa.text(
                'INSERT INTO chromosomes (id, assembly_id, name, length, "offset") '
                "VALUES (1, 1, 'c1', 90, 0), (2, 2, 'c1', 50, 0)"
            )
        )
        run(
            sa.text(
                "INSERT INTO conditions (id, name, assembly_id, metadata) VALUES (:i, :n, :a, :m)"
            ),
            [
                {
                    "i": 1,
                    "n": "liver",
                    "a": 1,
                    "m": json.dumps({"tissue": "liver", "dose": 2, "Name": "clash", "ok": True}),
                },
                {"i": 2, "n": "brain", "a": 2, "m": None},
            ],
        )
        run(
            sa.text(
                'INSERT INTO intervals (chromosome_id, condition_id, start, "end") '
                "VALUES (:c, :k, :s, :e)"
            ),
            [
                {"c": 1, "k": 1, "s": 0, "e": 10},
                {"c": 1, "k": 1, "s": 20, "e": 30},
                {"c": 2, "k": 2, "s": 5, "e": 9},
            ],
        )
    engine.dispose()
    engine = open_database(db_url, data_dir=tmp_path)
    try:
        with engine.connect() as connection:
            assert connection.scalar(sa.select(sa.func.count()).select_from(intervals)) == 0
            found = connection.execute(
                sa.select(parts.c.condition_id, parts.c.assembly_id, parts.c.num_intervals)
            ).all()
            assert sorted(found) == [(1, 1, 2), (2, 2, 1)]
            tables = set(sa.inspect(connection).get_table_names())
            assert "condition_parts" not in tables
            rows = sorted(connection.execute(sa.select(condition_metadata)).all())
            assert rows == [
                (1, "dose", None, 2.0),
                (1, "ok", "true", None),
                (1, "tissue", "liver", None),
            ]
            columns = {c["name"] for c in sa.inspect(connection).get_columns("conditions")}
            assert "assembly_id" not in columns
        infos = list_conditions(engine)
        assert [(c.name, c.assembly, c.num_intervals) for c in infos] == [
            ("brain", "mm", 1),
            ("liver", "hs", 2),
        ]
        assert infos[1].metadata["tissue"] == "liver"
    finally:
        engine.dispose()

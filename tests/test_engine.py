"""The dataset engine (plan -> windows -> batches) against the brute-force reference.

Random genomes and interval files are ingested through the real ingest functions, compiled
by ``compile_plan`` and read back with ``build_batch`` / ``iter_batches``; the reference
(``tests.reference``) reads the same FASTA text and interval lines on its own and must agree
on every window, letter and label, for every sampling mode, label mode, inner range,
ambiguity policy and constraint below, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import collections
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from peaksql.core.errors import InvalidArgument, NotFound
from peaksql.core.spec import DatasetSpec
from peaksql.core.wire import unpack_masks, unpack_sequences
from peaksql.server.catalog.database import open_database
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.engine import n_filter as plan_module
from peaksql.server.engine.batches import build_batch, iter_batches, positive_counts
from peaksql.server.engine.order import Cursor
from peaksql.server.engine.plan import Plan, compile_plan
from peaksql.server.engine.plan_cache import PlanCache, catalog_version
from peaksql.server.ingest.intervals import add_data, remove_condition
from tests import reference
from tests.helpers import Catalog, IntervalFile, ingest, random_catalog
from tests.reference import ReferenceCatalog, ReferenceDataset

REPO = Path(__file__).resolve().parents[1]


def _number(row: reference.Row, column: str) -> float | None:
    value = row[column]
    return None if value is None else float(value)  # type: ignore[arg-type]


#: name -> (where, region predicate, interval predicate): the Python mirror of each constraint.
WHERES: dict[str, tuple[str, reference.Predicate, reference.Predicate]] = {
    "everything": ("", lambda r: True, lambda r: True),
    "mixed": (
        "chromosome != 'c1' AND condition IN ('a', 'b', 'c') AND score > 5",
        lambda r: r["chromosome"] != "c1",
        lambda r: r["condition"] in ("a", "b", "c") and (_number(r, "score") or 0) > 5,
    ),
    "one assembly, 2020 spelling": (
        "WHERE assembly = 'g2'",
        lambda r: r["assembly"] == "g2",
        lambda r: True,
    ),
    "region length and an OR of intervals": (
        "chromosome_length >= 300 AND (condition = 'a' OR p_value > 3)",
        lambda r: int(r["chromosome_length"]) >= 300,  # type: ignore[call-overload]
        lambda r: r["condition"] == "a" or (_number(r, "p_value") or 0) > 3,
    ),
    "interval terms only": (
        "strand = '+' OR name LIKE 'p1%'",
        lambda r: True,
        lambda r: r["strand"] == "+" or str(r["name"]).startswith("p1"),
    ),
    "region column inside an interval term": (
        "chromosome = 'c2' OR summit IS NOT NULL",
        lambda r: True,
        lambda r: r["chromosome"] == "c2" or r["summit"] is not None,
    ),
    "species and length": (
        "species = 'human' AND length BETWEEN 10 AND 120",
        lambda r: r["species"] == "human",
        lambda r: 10 <= int(r["length"]) <= 120,  # type: ignore[call-overload]
    ),
}


# --- building catalogs ---------------------------------------------------------------------


@dataclass
class Built:
    """One ingested catalog: the engine's handles and the reference's view of the same files."""

    engine: sa.Engine
    store: GenomeStore
    reference: ReferenceCatalog = field(repr=False)
    db_url: str
    data_dir: Path


def build(db_url: str, folder: Path, catalog: Catalog) -> Built:
    engine = open_database(db_url)
    data_dir = folder / "data"
    ingest(engine, data_dir, folder / "files", catalog)
    ref = ReferenceCatalog()
    for name, species, _records in catalog.assemblies:
        ref.add_fasta(name, species, folder / "files" / f"{name}.fa")
    for item in catalog.files:
        ref.add_intervals(
            item.condition,
            item.assembly,
            folder / "files" / f"{item.condition}{item.suffix}",
            item.fmt,
        )
    return Built(engine, GenomeStore(data_dir), ref, db_url, data_dir)


@pytest.fixture(scope="module")
def sqlite_catalogs() -> Iterator[dict[int, Built]]:
    """Random SQLite catalogs by seed, built on first use and shared by the module's tests."""
    root = Path(tempfile.mkdtemp(prefix="peaksql-engine-"))

    class Catalogs(dict):
        def __repr__(self) -> str:
            return f"<catalogs {sorted(self)}>"

        def __missing__(self, seed: int) -> Built:
            folder = root / str(seed)
            self[seed] = build(f"sqlite:///{folder / 'catalog.db'}", folder, random_catalog(seed))
            return self[seed]

    built = Catalogs()
    yield built
    for item in built.values():
        item.engine.dispose()
    shutil.rmtree(root, ignore_errors=True)


# --- the comparison ------------------------------------------------------------------------


def reference_for(built: Built, spec: DatasetSpec, where_name: str) -> ReferenceDataset:
    where, region_predicate, interval_predicate = WHERES[where_name]
    assert spec.where == where
    return reference.build_dataset(
        built.reference,
        seq_length=spec.seq_length,
        sampling=spec.sampling,
        region_predicate=region_predicate,
        interval_predicate=interval_predicate,
        stride=spec.stride or 0,
        num_random=spec.random or 0,
        max_jitter=spec.max_jitter,
        label=spec.label,
        fraction=spec.fraction,
        inner_range=spec.inner_range,
        conditions=spec.conditions,
        max_n_fraction=spec.max_n_fraction,
        seed=spec.seed,
    )


def assert_engine_matches(
    built: Built, spec: DatasetSpec, where_name: str, policy: str = "mask"
) -> Plan | None:
    """Compile ``spec`` and compare every window, letter and label with the reference."""
    expected = reference_for(built, spec, where_name)
    if not expected.region_indices:
        with pytest.raises(NotFound):
            compile_plan(built.engine, built.store, spec)
        return None
    lengths = [built.reference.regions[k].length for k in expected.region_indices]
    if spec.sampling == "random" and max(lengths) < spec.seq_length:
        with pytest.raises(InvalidArgument, match="nothing to sample"):
            compile_plan(built.engine, built.store, spec)
        return None
    if not expected.windows:  # a spec that selects no window says why
        with pytest.raises(InvalidArgument, match="the dataset has no window"):
            compile_plan(built.engine, built.store, spec)
        return None
    plan = compile_plan(built.engine, built.store, spec)
    regions = [built.reference.regions[k] for k in expected.region_indices]
    assert plan.region_names == [(r.assembly, r.chromosome) for r in regions]
    assert plan.label_columns == expected.label_columns

    num = len(expected.windows)
    assert plan.num_windows == num
    batch = build_batch(plan, np.arange(num))
    assert list(zip(batch.regions.tolist(), batch.starts.tolist(), strict=True)) == (
        expected.windows
    )
    assert batch.labels.shape == expected.labels.shape
    assert np.array_equal(batch.labels, expected.labels)

    L = spec.seq_length
    if num == 0:  # peaksql.core.wire cannot unpack an empty batch (reported); nothing to compare
        assert batch.sequences.shape == (0, (L + 1) // 2)
    elif policy == "random":
        decoded = unpack_sequences(batch.sequences, num, L, policy="random", seed=spec.seed)
        assert reference.random_policy_problems(expected.texts, decoded) == []
    else:
        decoded = unpack_sequences(batch.sequences, num, L, policy=policy, dtype=np.float64)
        assert np.array_equal(
            decoded.reshape(num, L, 4),
            reference.one_hot_texts(expected.texts, policy).reshape(num, L, 4),
        )

    # describe-like counts: windows per region, positive windows per label column
    per_region = collections.Counter(p for p, _ in expected.windows)
    assert plan.windows.per_region_counts(len(regions)).tolist() == [
        per_region[p] for p in range(len(regions))
    ]
    positives = expected.labels.any(axis=2) if spec.label == "per_base" else expected.labels
    assert positive_counts(plan, chunk=7).tolist() == positives.sum(axis=0).tolist()
    return plan


# --- specs ---------------------------------------------------------------------------------


@st.composite
def dataset_specs(draw: st.DrawFn) -> tuple[DatasetSpec, str]:
    where_name = draw(st.sampled_from(sorted(WHERES)))
    seq_length = draw(st.integers(1, 160))
    sampling = draw(st.sampled_from(["stride", "random", "around_intervals"]))
    label = draw(st.sampled_from(["any", "all", "fraction", "summit", "per_base"]))
    explicit = draw(
        st.one_of(st.just(()), st.lists(st.sampled_from("abBc"), unique=True, max_size=3))
    )
    spec = DatasetSpec(
        seq_length=seq_length,
        where=WHERES[where_name][0],
        stride=draw(st.integers(1, 90)) if sampling == "stride" else None,
        random=draw(st.integers(1, 300)) if sampling == "random" else None,
        around_intervals=sampling == "around_intervals",
        max_jitter=draw(st.integers(0, 40)) if sampling == "around_intervals" else 0,
        label=label,
        fraction=draw(
            st.one_of(
                st.sampled_from([0.1, 0.25, 0.3, 0.5, 0.7, 1.0]),
                st.floats(0.001, 1.0, allow_nan=False),
            )
        ),
        inner_range=draw(st.one_of(st.just(0), st.integers(1, seq_length))),
        conditions=tuple(explicit),
        max_n_fraction=draw(
            st.one_of(st.none(), st.sampled_from([0.0, 0.1, 0.3, 0.5]), st.floats(0, 1))
        ),
        seed=draw(st.integers(0, 2**32)),
    )
    return spec, where_name


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 7),
    case=dataset_specs(),
    policy=st.sampled_from(["zeros", "uniform", "random", "mask"]),
)
def test_engine_matches_reference(sqlite_catalogs, seed, case, policy):
    spec, where_name = case
    plan = assert_engine_matches(sqlite_catalogs[seed], spec, where_name, policy)
    num_windows = plan.num_windows if plan else -1
    event(f"{spec.sampling}: {'none' if num_windows <= 0 else 'some'} windows")
    event(f"some labels positive: {bool(plan and positive_counts(plan).any())}")


#: Fixed specs covering every sampling and label mode, for the (slower) PostgreSQL runs.
FIXED_SPECS = [
    (DatasetSpec(seq_length=37, stride=11, label="any"), "everything"),
    (DatasetSpec(seq_length=50, stride=50, label="per_base", where=WHERES["mixed"][0]), "mixed"),
    (
        DatasetSpec(
            seq_length=64,
            random=150,
            label="fraction",
            fraction=0.3,
            inner_range=21,
            seed=5,
            where=WHERES["species and length"][0],
        ),
        "species and length",
    ),
    (
        DatasetSpec(seq_length=31, around_intervals=True, max_jitter=9, label="summit", seed=3),
        "everything",
    ),
    (
        DatasetSpec(
            seq_length=40,
            around_intervals=True,
            label="all",
            inner_range=4,
            where=WHERES["region column inside an interval term"][0],
        ),
        "region column inside an interval term",
    ),
    (
        DatasetSpec(
            seq_length=25,
            stride=3,
            conditions=("b", "a"),
            max_n_fraction=0.2,
            where=WHERES["region length and an OR of intervals"][0],
        ),
        "region length and an OR of intervals",
    ),
    (
        DatasetSpec(
            seq_length=20,
            random=80,
            label="per_base",
            inner_range=7,
            seed=11,
            max_n_fraction=0.0,
            where=WHERES["one assembly, 2020 spelling"][0],
        ),
        "one assembly, 2020 spelling",
    ),
    (
        DatasetSpec(
            seq_length=45,
            stride=20,
            label="fraction",
            fraction=0.5,
            where=WHERES["interval terms only"][0],
        ),
        "interval terms only",
    ),
]


@pytest.mark.parametrize("seed", [101, 102])
def test_fixed_specs_on_both_databases(db_url, tmp_path, seed):
    built = build(db_url, tmp_path, random_catalog(seed))
    try:
        for (spec, where_name), policy in zip(
            FIXED_SPECS, ["zeros", "uniform", "mask", "random"] * 2, strict=True
        ):
            assert_engine_matches(built, spec, where_name, policy)
    finally:
        built.engine.dispose()


# --- the 2020 behaviour --------------------------------------------------------------------


def test_2020_tiles_in_assembly_then_chromosome_order(tmp_path):
    """Two assemblies of two 40-bp chromosomes, seq_length=stride=10: 16 tiles in ingest order."""
    rng = np.random.default_rng(2020)
    sequences = {
        (a, c): "".join(rng.choice(list("ACGT"), 40)) for a in ("hg", "mm") for c in ("x", "y")
    }
    catalog = Catalog(
        [(a, None, [(c, sequences[(a, c)]) for c in ("x", "y")]) for a in ("hg", "mm")],
        [IntervalFile("peaks", "mm", "bed", [("y", 5, 12, "p", 1, "+")])],
    )
    built = build(f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path, catalog)
    plan = compile_plan(built.engine, built.store, DatasetSpec(seq_length=10, stride=10))
    assert plan.num_windows == 16
    batch = build_batch(plan, np.arange(16))
    letters = "ACGT"
    one_hot = unpack_sequences(batch.sequences, 16, 10, policy="mask")
    texts = ["".join(letters[int(np.argmax(row))] for row in window) for window in one_hot]
    expected = [
        sequences[(a, c)][s : s + 10]
        for a in ("hg", "mm")
        for c in ("x", "y")
        for s in (0, 10, 20, 30)
    ]
    assert texts == expected
    assert plan.label_columns == ["peaks"]
    assert np.flatnonzero(batch.labels[:, 0]).tolist() == [12, 13]


# --- order, sharding, reproducibility ------------------------------------------------------


@pytest.mark.parametrize("world_size", [1, 3, 4])
@pytest.mark.parametrize("shuffle", [False, True])
def test_all_ranks_cover_every_window_once(sqlite_catalogs, world_size, shuffle):
    built = sqlite_catalogs[3]
    spec = DatasetSpec(seq_length=30, stride=7, label="any")
    plan = compile_plan(built.engine, built.store, spec)
    whole = build_batch(plan, np.arange(plan.num_windows))
    seen = []
    for rank in range(world_size):
        cursor = Cursor(epoch=2, rank=rank, world_size=world_size)
        for batch in iter_batches(plan, cursor, 13, shuffle=shuffle, seed=9):
            seen.extend(batch.window_indices.tolist())
            assert np.array_equal(batch.sequences, whole.sequences[batch.window_indices])
            assert np.array_equal(batch.labels, whole.labels[batch.window_indices])
    assert sorted(seen) == list(range(plan.num_windows))
    if shuffle and world_size == 1:
        assert seen != sorted(seen)


_CHILD = """
import hashlib, json, sys
from pathlib import Path
from peaksql.server.engine.batches import iter_batches
from peaksql.server.catalog.database import open_database
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.ingest.intervals import add_data, remove_condition
from peaksql.server.engine.order import Cursor
from peaksql.server.engine.plan import compile_plan
from peaksql.core.spec import DatasetSpec
args = json.loads(sys.argv[1])
plan = compile_plan(
    open_database(args["db"]), GenomeStore(Path(args["data"])), DatasetSpec(**args["spec"])
)
digest = hashlib.sha256()
for batch in iter_batches(plan, Cursor(1, 1, 2), 17, shuffle=True, seed=args["seed"]):
    digest.update(batch.sequences.tobytes())
    digest.update(batch.labels.tobytes())
    digest.update(batch.window_indices.tobytes())
print(digest.hexdigest())
"""


def _digest(plan: Plan, seed: int) -> str:
    digest = hashlib.sha256()
    for batch in iter_batches(plan, Cursor(1, 1, 2), 17, shuffle=True, seed=seed):
        digest.update(batch.sequences.tobytes())
        digest.update(batch.labels.tobytes())
        digest.update(batch.window_indices.tobytes())
    return digest.hexdigest()


def test_new_process_gives_identical_batch_bytes(sqlite_catalogs):
    built = sqlite_catalogs[4]
    specs = [
        {"seq_length": 33, "random": 200, "label": "per_base", "inner_range": 9, "seed": 77},
        {"seq_length": 41, "around_intervals": True, "max_jitter": 15, "seed": 78},
    ]
    for spec in specs:
        plan = compile_plan(built.engine, built.store, DatasetSpec(**spec))
        args = {"db": built.db_url, "data": str(built.data_dir), "spec": spec, "seed": 5}
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, json.dumps(args)],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        )
        assert child.stdout.strip() == _digest(plan, 5)


# --- regressions ---------------------------------------------------------------------------


def test_max_n_fraction_on_a_genome_with_n_runs(tmp_path):
    """N filtering used to fail (ValueError in Coverage.build) whenever the genome held an N."""
    catalog = Catalog(
        [("g", None, [("c1", "ACGTNNNNNNACGTACGTAC"), ("c2", "NNNNNNNNNNACGTAC"), ("c3", "nnAC")])],
        [IntervalFile("a", "g", "bed", [("c1", 2, 8, ".", 0, ".")])],
    )
    built = build(f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path, catalog)
    spec = DatasetSpec(seq_length=4, stride=1, max_n_fraction=0.25)
    plan = assert_engine_matches(built, spec, "everything")
    assert plan is not None
    # c1: starts 0 (ACGT), 1 (CGTN), 9 (NACG), 10..16; c2: 9 (NACG), 10..12; c3: nnAC dropped
    assert plan.num_windows == 10 + 4


def test_n_runs_cache_never_serves_a_freed_genome():
    """N runs are cached per genome; a new genome that Python places at the address (id) of
    a freed one must get its own runs, not the freed genome's."""
    runs = []
    for trial in range(200):
        genome = np.full(40, 0b1000, dtype=np.uint8)
        genome[trial % 40] = 0b1111
        runs.append((id(genome), trial % 40, plan_module.n_runs(genome, 0, 40)))
        del genome
    reused = [(p, r) for (i, p, r), (j, *_) in zip(runs[1:], runs, strict=False) if i == j]
    assert reused, "no address was reused: the test proves nothing"
    for position, (starts, ends) in [(p, r) for _, p, r in runs]:
        assert (starts.tolist(), ends.tolist()) == ([position], [position + 1])


def test_label_columns_sort_by_code_point_whatever_the_collation(db_url, tmp_path):
    """Label columns are sorted by code point ('B' < '_d' < 'a') even where the database
    collation sorts by locale (here forced on PostgreSQL with an ICU collation)."""
    built = build(db_url, tmp_path, random_catalog(7))
    if built.engine.dialect.name == "postgresql":
        with built.engine.begin() as connection:
            connection.execute(
                sa.text(
                    'ALTER TABLE conditions ALTER COLUMN name TYPE VARCHAR(255) COLLATE "und-x-icu"'
                )
            )
    spec = DatasetSpec(seq_length=30, stride=30)
    plan = assert_engine_matches(built, spec, "everything")
    assert plan is not None and plan.label_columns == sorted(plan.label_columns)
    built.engine.dispose()


def test_unpack_masks_equal_the_store_codes(sqlite_catalogs):
    """The packed wire bytes hold the store's 4-bit masks, soft-mask bit dropped."""
    built = sqlite_catalogs[5]
    plan = compile_plan(built.engine, built.store, DatasetSpec(seq_length=15, stride=4))
    batch = build_batch(plan, np.arange(plan.num_windows))
    masks = unpack_masks(batch.sequences, plan.num_windows, 15)
    for row, region, start in zip(masks, batch.regions, batch.starts, strict=True):
        genome = plan.genomes[plan.region_assembly[region]]
        offset = plan.region_store_offsets[region] + start
        assert np.array_equal(row, genome[offset : offset + 15] & 0x0F)


def test_fraction_and_n_thresholds_are_the_literal_ratios(tmp_path):
    """``covered / length >= fraction`` and ``N / length <= max_n_fraction`` exactly: a
    fraction of 1e-12 labels no uncovered window, and a window of 9 N in 10 is dropped by a
    threshold a hair below 0.9 (both once went the other way through a rounded product)."""
    catalog = Catalog(
        [("g", None, [("c1", "ACGTACGTAC" + "NNNNNNNNNA" + "ACGTACGTAC")])],
        [IntervalFile("a", "g", "bed", [("c1", 12, 13, ".", 0, ".")])],
    )
    built = build(f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path, catalog)
    tiny = DatasetSpec(seq_length=10, stride=10, label="fraction", fraction=1e-12)
    plan = assert_engine_matches(built, tiny, "everything")
    assert plan is not None
    assert build_batch(plan, np.arange(3)).labels[:, 0].tolist() == [False, True, False]
    below = float(np.nextafter(0.9, 0.0))
    plan = assert_engine_matches(
        built, DatasetSpec(seq_length=10, stride=10, max_n_fraction=below), "everything"
    )
    assert plan is not None and plan.windows.locate(np.arange(plan.num_windows))[1].tolist() == [
        0,
        20,
    ]


def test_catalog_version_changes_when_a_condition_is_replaced(tmp_path):
    """Remove a condition and add it again from another file of as many lines: SQLite reuses
    the freed ids, yet the catalog version (the plan cache key) must change."""
    catalog = Catalog(
        [("g", None, [("c1", "ACGT" * 25)])],
        [IntervalFile("a", "g", "bed", [("c1", 0, 10, ".", 0, ".")])],
    )
    built = build(f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path, catalog)
    before = catalog_version(built.engine)
    remove_condition(built.engine, "a")
    time.sleep(1.1)  # SQLite's CURRENT_TIMESTAMP counts seconds
    fixed = tmp_path / "fixed.bed"
    fixed.write_text("c1\t50\t60\n")
    add_data(built.engine, fixed, "g", "a", progress=False)
    assert catalog_version(built.engine) != before


def test_plan_cache_forgets_specs_that_fail_to_compile():
    def failing(spec: DatasetSpec, where: object) -> Plan:
        raise NotFound(f"nothing for {spec.seq_length}")

    cache = PlanCache(failing)
    for seq_length in range(1, 20):
        with pytest.raises(NotFound):
            cache.get(DatasetSpec(seq_length=seq_length))
    assert len(cache) == 0 and not cache._building


def test_random_windows_are_valid_and_spread_over_every_region(sqlite_catalogs):
    """Every random window lies inside its chromosome, and each region gets a share of the
    draws close to its share of valid positions."""
    built = sqlite_catalogs[6]
    seq_length, num = 40, 20_000
    plan = compile_plan(
        built.engine, built.store, DatasetSpec(seq_length=seq_length, random=num, seed=1)
    )
    regions, starts = plan.windows.locate(np.arange(num))
    lengths = plan.region_lengths
    assert (starts >= 0).all() and (starts + seq_length <= lengths[regions]).all()
    valid = np.maximum(lengths - seq_length + 1, 0)
    expected = num * valid / valid.sum()
    observed = np.bincount(regions, minlength=len(lengths))
    assert ((observed > 0) == (valid > 0)).all()
    assert (np.abs(observed - expected) <= 5 * np.sqrt(expected) + 1).all()

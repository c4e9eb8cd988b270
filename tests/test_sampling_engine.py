"""Training-ready sampling in the engine against the brute-force reference (tests.reference).

Exclusion (every sampling), balanced and GC-matched negatives per epoch, reverse complement
and shift augmentation: random catalogs (``tests.helpers.random_catalog``) ingested for real,
epochs streamed with ``iter_batches``, every window, letter and label checked against the
reference's own reading of the FASTA and interval text.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaksql.core.errors import InvalidArgument
from peaksql.core.spec import DatasetSpec
from peaksql.core.wire import unpack_sequences
from peaksql.server.engine.batches import BatchData, build_batch, iter_batches
from peaksql.server.engine.epochs import epoch_summary
from peaksql.server.engine.order import Cursor
from peaksql.server.engine.plan import Plan, compile_plan
from tests import reference
from tests.helpers import random_catalog
from tests.reference import ReferenceDataset
from tests.test_engine import Built, build

EXCLUDED = "b"  # a BED condition of the random catalogs, used as the blacklist


@pytest.fixture(scope="module")
def catalogs() -> Iterator[dict[int, Built]]:
    root = Path(tempfile.mkdtemp(prefix="peaksql-sampling-"))

    class Catalogs(dict):
        def __missing__(self, seed: int) -> Built:
            folder = root / str(seed)
            self[seed] = build(f"sqlite:///{folder / 'catalog.db'}", folder, random_catalog(seed))
            return self[seed]

    built = Catalogs()
    yield built
    for item in built.values():
        item.engine.dispose()
    shutil.rmtree(root, ignore_errors=True)


def reference_of(built: Built, spec: DatasetSpec) -> ReferenceDataset:
    """The reference dataset of a spec over the first assembly (``where`` below)."""
    return reference.build_dataset(
        built.reference,
        seq_length=spec.seq_length,
        sampling=spec.sampling,
        region_predicate=lambda r: r["assembly"] == "g1",
        interval_predicate=lambda r: True,
        stride=spec.stride or 0,
        num_random=spec.random or 0,
        max_jitter=spec.max_jitter,
        label=spec.label,
        inner_range=spec.inner_range,
        max_n_fraction=spec.max_n_fraction,
        seed=spec.seed,
        exclude=spec.exclude,
        exclude_fraction=spec.exclude_fraction,
    )


def epoch(plan: Plan, number: int, *, shuffle: bool = True) -> BatchData:
    """Every item of one epoch, streamed in batches of 7 and joined."""
    parts = list(iter_batches(plan, Cursor(number, 0, 1), 7, shuffle=shuffle, seed=3))
    strands = [p.strands for p in parts if p.strands is not None]
    return BatchData(
        sequences=np.concatenate([p.sequences for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        window_indices=np.concatenate([p.window_indices for p in parts]),
        regions=np.concatenate([p.regions for p in parts]),
        starts=np.concatenate([p.starts for p in parts]),
        strands=np.concatenate(strands) if strands else None,
    )


def spec_of(sampling: str, **kwargs: object) -> DatasetSpec:
    chosen = {
        "stride": {"stride": 13},
        "random": {"random": 150},
        "around_intervals": {"around_intervals": True, "max_jitter": 15},
    }[sampling]
    return DatasetSpec(where="assembly = 'g1'", **chosen, **kwargs)  # type: ignore[arg-type]


# --- exclusion -----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 5),
    sampling=st.sampled_from(["stride", "random", "around_intervals"]),
    seq_length=st.integers(5, 90),
    fraction=st.sampled_from([0.0, 0.0, 0.3]),
    max_n=st.sampled_from([None, 0.2]),
    label=st.sampled_from(["any", "per_base"]),
)
def test_exclusion_matches_reference(catalogs, seed, sampling, seq_length, fraction, max_n, label):
    built = catalogs[seed]
    spec = spec_of(
        sampling,
        seq_length=seq_length,
        exclude=(EXCLUDED,),
        exclude_fraction=fraction,
        max_n_fraction=max_n,
        label=label,
        seed=seed,
    )
    expected = reference_of(built, spec)
    try:
        plan = compile_plan(built.engine, built.store, spec)
    except InvalidArgument as error:  # no window fits at all
        assert "nothing to sample" in str(error) or "no room" in str(error)
        return
    assert EXCLUDED not in plan.label_columns
    assert plan.label_columns == expected.label_columns
    batch = build_batch(plan, np.arange(plan.num_windows))
    got = list(zip(batch.regions.tolist(), batch.starts.tolist(), strict=True))
    assert got == expected.windows
    if sampling == "random" and max_n is None:
        assert plan.num_windows == spec.random  # drawn from allowed positions, not dropped
    assert np.array_equal(batch.labels, expected.labels)
    assert expected.excluded_at is not None
    for p, s in got:
        assert expected.excluded_at(p, s) <= fraction * seq_length


# --- negatives -----------------------------------------------------------------------------


def positives_of(expected: ReferenceDataset) -> set[int]:
    labels = expected.labels
    if labels.ndim == 3:
        labels = labels.any(axis=2)
    return set(np.flatnonzero(labels.any(axis=1)).tolist())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 5),
    ratio=st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0]),
    gc_matched=st.booleans(),
    seq_length=st.integers(10, 60),
)
def test_negatives_ratio_and_gc_match(catalogs, seed, ratio, gc_matched, seq_length):
    built = catalogs[seed]
    spec = spec_of(
        "stride",
        seq_length=seq_length,
        negatives_per_positive=ratio,
        gc_matched=gc_matched,
        seed=seed,
    )
    expected = reference_of(built, spec)
    plan = compile_plan(built.engine, built.store, spec)
    positives = positives_of(expected)
    negatives = set(range(len(expected.windows))) - positives
    wanted = min(int(np.floor(ratio * len(positives) + 1e-9)), len(negatives))
    summary = epoch_summary(plan, count_classes=True)
    draws = []
    for number in range(3):
        got = epoch(plan, number)
        indices = got.window_indices.tolist()
        assert len(indices) == len(set(indices)) == summary.num_items
        assert positives <= set(indices)  # every positive, every epoch
        drawn = set(indices) - positives
        assert drawn <= negatives
        assert summary.positives == len(positives) and summary.negatives == len(drawn)
        if not gc_matched:
            assert len(drawn) == wanted  # the ratio, exactly
        else:
            assert len(drawn) <= wanted
            texts = [expected.texts[i] for i in sorted(drawn)]
            pos_bins = [reference.gc_bin(expected.texts[i]) for i in sorted(positives)]
            neg_bins = [reference.gc_bin(t) for t in texts]
            difference = _histogram_difference(pos_bins, neg_bins)
            assert summary.gc_difference is not None
            assert difference <= summary.gc_difference + 1e-12
        draws.append(sorted(drawn))
    if 0 < wanted < len(negatives) and not gc_matched:
        assert draws[0] != draws[1] or draws[1] != draws[2]  # a fresh draw per epoch


def _histogram_difference(a: list[int], b: list[int]) -> float:
    if not a or not b:
        return 0.0
    ha = np.bincount(a, minlength=20) / len(a)
    hb = np.bincount(b, minlength=20) / len(b)
    return float(np.abs(ha - hb).max())


# --- augmentation --------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 5),
    sampling=st.sampled_from(["stride", "random", "around_intervals"]),
    seq_length=st.integers(5, 80),
    mode=st.sampled_from(["", "random", "both"]),
    max_shift=st.sampled_from([0, 3, 25]),
    label=st.sampled_from(["any", "per_base", "summit"]),
    inner=st.sampled_from([0, 4]),
    exclude=st.booleans(),
    number=st.integers(0, 3),
    max_n=st.sampled_from([None, 0.1]),
)
def test_reverse_complement_and_shift(
    catalogs, seed, sampling, seq_length, mode, max_shift, label, inner, exclude, number, max_n
):
    built = catalogs[seed]
    spec = spec_of(
        sampling,
        seq_length=seq_length,
        reverse_complement=mode,
        max_shift=max_shift,
        label=label,
        inner_range=min(inner, seq_length),
        exclude=(EXCLUDED,) if exclude else (),
        max_n_fraction=max_n,
        seed=seed,
    )
    expected = reference_of(built, spec)
    try:
        plan = compile_plan(built.engine, built.store, spec)
    except InvalidArgument:
        return
    got = epoch(plan, number)
    copies = 2 if mode == "both" else 1
    assert got.window_indices.size == copies * len(expected.windows)
    counts = Counter(got.window_indices.tolist())
    assert set(counts.values()) <= {copies}
    assert (got.strands is None) == (mode == "")
    strands = got.strands if got.strands is not None else np.zeros(got.batch_size, dtype=bool)
    if mode == "both":
        pairs = Counter(zip(got.window_indices.tolist(), strands.tolist(), strict=True))
        assert set(pairs.values()) == {1}
    places = list(zip(got.regions.tolist(), got.starts.tolist(), strict=True))
    assert expected.labels_at is not None and expected.text_at is not None
    labels = expected.labels_at(places)
    texts = []
    for k, (index, (p, start)) in enumerate(zip(got.window_indices.tolist(), places, strict=True)):
        base_region, base_start = expected.windows[index]
        assert p == base_region and abs(start - base_start) <= max_shift
        assert 0 <= start <= len(built.reference.regions[expected.region_indices[p]].sequence)
        if exclude and expected.excluded_at is not None:
            assert expected.excluded_at(p, start) == 0
        text = expected.text_at(p, start)
        assert len(text) == seq_length
        assert max_n is None or sum(c in "Nn" for c in text) / seq_length <= max_n
        if strands[k]:
            text = reference.reverse_complement(text)
            if labels.ndim == 3:
                labels[k] = labels[k][:, ::-1]
        texts.append(text)
    assert np.array_equal(got.labels, labels)
    if texts:
        decoded = unpack_sequences(got.sequences, len(texts), seq_length, policy="mask")
        assert np.array_equal(decoded, reference.one_hot_texts(texts, "mask"))
    if max_shift and mode != "both" and len(places) > 3:
        other = epoch(plan, number + 1)
        assert (
            not (
                np.array_equal(other.starts, got.starts)
                and np.array_equal(other.window_indices, got.window_indices)
            )
            or plan.num_windows < 3
        )


def test_epoch_is_identical_in_a_fresh_plan(catalogs):
    built = catalogs[1]
    spec = spec_of(
        "stride",
        seq_length=30,
        exclude=(EXCLUDED,),
        negatives_per_positive=1.0,
        gc_matched=True,
        reverse_complement="random",
        max_shift=7,
        label="per_base",
    )
    first = epoch(compile_plan(built.engine, built.store, spec), 2)
    again = epoch(compile_plan(built.engine, built.store, spec), 2)
    for name in ("sequences", "labels", "window_indices", "starts", "strands"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name

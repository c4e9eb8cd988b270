"""Zoom cells: written at ingest (``TrackWriter`` with the assembly's geometry), read by the
kernel for windows that start on a cell, equal to the run path and to per-base painting."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaksql.server.catalog.signal_store import ZOOM_BASES, SignalTrack, bucket_index, open_track
from peaksql.server.engine.signal_columns import SignalColumns
from peaksql.server.engine.signal_runs import Runs
from peaksql.server.ingest.signal_writer import TrackWriter, add_cell_sums
from tests import reference as ref

#: Two chromosomes of the assembly: offsets not multiples of a cell, lengths not either.
OFFSETS = np.array([0, 1_003], dtype=np.int64)
LENGTHS = np.array([1_003, 901], dtype=np.int64)


@st.composite
def chromosome_runs(draw, length: int):  # type: ignore[no-untyped-def]
    cuts = sorted(set(draw(st.lists(st.integers(0, length), max_size=40))))
    return [
        (a, b, draw(st.floats(-5, 5, allow_nan=False, width=32)))
        for a, b in zip(cuts[::2], cuts[1::2], strict=False)
        if b > a
    ]


@settings(max_examples=100, deadline=None)
@given(chromosome_runs(700))
def test_cell_sums_equal_painting(runs) -> None:  # type: ignore[no-untyped-def]
    cells = np.zeros(-(-700 // ZOOM_BASES))
    array = np.array(runs, dtype=np.float64).reshape(-1, 3)
    add_cell_sums(cells, array[:, 0].astype(np.int64), array[:, 1].astype(np.int64), array[:, 2])
    painted = np.nan_to_num(
        ref.paint_signal([("c", int(a), int(b), v) for a, b, v in runs], "c", 700)
    )
    padded = np.zeros(cells.size * ZOOM_BASES)
    padded[:700] = painted
    np.testing.assert_allclose(cells, padded.reshape(-1, ZOOM_BASES).sum(axis=1), atol=1e-9)


def _write(folder: Path, per_chromosome: list[list]) -> Runs:
    writer = TrackWriter(folder, (OFFSETS, LENGTHS))
    for index, runs in enumerate(per_chromosome):
        if runs:
            array = np.array(runs, dtype=np.float64).reshape(-1, 3)
            offset = int(OFFSETS[index])
            writer.append(
                index, offset + array[:, 0].astype(np.int64), offset + array[:, 1].astype(np.int64),
                array[:, 2],
            )  # fmt: skip
    return Runs.of_track(open_track(folder, writer.finish()))


def _columns(runs: Runs) -> SignalColumns:
    columns = SignalColumns(["s"], [{0: runs}], np.zeros(1, np.int64), [None])
    columns.bind(OFFSETS.copy(), OFFSETS.copy(), np.zeros(2, np.int64))  # plan base = offset
    return columns


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.tuples(chromosome_runs(1_003), chromosome_runs(901)),
    st.sampled_from([32, 64, 96, 128]),
    st.sampled_from(["mean", "sum"]),
    st.lists(
        st.tuples(st.sampled_from([0, 1]), st.integers(0, 20), st.integers(0, 31)), min_size=1
    ),
)
def test_zoom_equals_runs_and_painting(
    tmp_path, per_chromosome, bin_size, aggregate, windows
) -> None:  # type: ignore[no-untyped-def]
    """Windows on a cell (offset 0) and off it, on both chromosomes: the zoom path, the run
    path (the same runs without zoom cells) and per-base painting agree."""
    length = 4 * bin_size
    stored = _write(tmp_path / f"d{len(list(tmp_path.iterdir()))}", list(per_chromosome))
    assert stored.zoom.size > 0 or not any(per_chromosome)
    plain = dataclasses.replace(stored, zoom=np.zeros(0, np.float32), zoom_chromosomes={})
    starts, wanted = [], []
    for chromosome, cell, shift in windows:
        start = min(cell * ZOOM_BASES + shift * (shift % 2), int(LENGTHS[chromosome]) - length)
        rows = [
            ("c", int(a), int(b), float(np.float32(v))) for a, b, v in per_chromosome[chromosome]
        ]
        painted = ref.paint_signal(rows, "c", int(LENGTHS[chromosome]))
        wanted.append(ref.aggregate_signal(painted, start, length, bin_size, aggregate, "zero"))
        starts.append(int(OFFSETS[chromosome]) + start)
    window_starts = np.array(starts, dtype=np.int64)
    zoomed = _columns(stored).signal(window_starts, length, bin_size, aggregate, "zero")
    exact = _columns(plain).signal(window_starts, length, bin_size, aggregate, "zero")
    np.testing.assert_allclose(zoomed[:, 0], np.array(wanted), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(zoomed, exact, rtol=1e-5, atol=1e-4)


def test_meta_records_each_chromosome_cells(tmp_path: Path) -> None:
    runs = _write(tmp_path, [[(5, 40, 1.0)], [(0, 901, 2.0)]])
    meta = json.loads(next(tmp_path.glob("signals/*/meta.json")).read_text())
    assert meta["zoom"] == {"bases": 32, "chromosomes": {"0": [0, 0, 32], "1": [32, 1003, 29]}}
    assert runs.zoom.shape == (61,)
    assert float(runs.zoom[0]) == 27.0 and float(runs.zoom[60]) == 2.0 * 5


def test_windows_on_a_cell_read_the_zoom_cells(tmp_path: Path) -> None:
    """Zeroed zoom cells change a window starting on a cell, not one starting off it."""
    runs = _write(tmp_path, [[(0, 1_003, 1.0)], []])
    blank = _columns(dataclasses.replace(runs, zoom=np.zeros_like(runs.zoom)))
    on, off = blank.signal(np.array([64, 65], dtype=np.int64), 64, 32, "mean", "zero")
    assert (on == 0).all() and (off == 1).all()


def test_track_without_geometry_has_no_zoom_and_same_labels(tmp_path: Path) -> None:
    """Tracks written before zoom cells existed (no geometry) are served by the run path."""
    writer = TrackWriter(tmp_path)
    writer.append(0, np.array([5]), np.array([40]), np.array([1.0], np.float32))
    track = open_track(tmp_path, writer.finish())
    assert track.zoom.size == 0 and track.zoom_chromosomes == {}
    with_zoom = _write(tmp_path / "z", [[(5, 40, 1.0)], []])
    starts = np.array([0, 32], dtype=np.int64)
    a = _columns(Runs.of_track(track)).signal(starts, 64, 32, "mean", "zero")
    b = _columns(with_zoom).signal(starts, 64, 32, "mean", "zero")
    np.testing.assert_allclose(a, b)


def test_index_is_written_at_ingest_and_mapped(tmp_path: Path) -> None:
    """``first.bin`` is the bucket index of the written ends, served as a memory map; a
    track from before it was stored (no file, no meta entry) gets the same index built."""
    runs = _write(tmp_path, [[(5, 40, 1.0), (50, 60, 2.0)], [(0, 901, 2.0)]])
    first, shift = bucket_index(np.asarray(runs.ends))
    assert isinstance(runs.first, np.memmap)
    assert runs.shift == shift and np.array_equal(runs.first, first)
    folder = next(tmp_path.glob("signals/*"))
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["index"] == {"shift": shift, "buckets": int(first.size)}
    del meta["index"]
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "first.bin").unlink()
    older = Runs.of_track(SignalTrack(folder))
    assert older.shift == shift and np.array_equal(older.first, first)
    starts = np.array([0, 7, 1_003, 1_040], dtype=np.int64)
    for aggregate in ("mean", "max"):
        a = _columns(runs).signal(starts, 64, 32, aggregate, "nan")
        b = _columns(older).signal(starts, 64, 32, aggregate, "nan")
        np.testing.assert_array_equal(a, b)

"""Bring signal tracks written by earlier versions up to date (``peaksql migrate``).

A track from before zoom cells (``meta.json`` without ``zoom``) is served from its runs
only, and one without a bucket index (``first.bin``) has the index built in memory by every
server process. ``upgrade_tracks`` rewrites each such track through ``TrackWriter``, its runs
read back from the memory-mapped arrays a chunk at a time (memory flat), then points the
track's ``signal_tracks`` row at the new folder and bumps the generation in one
transaction, and deletes the old folder after the commit. That is an ingest's visibility
protocol (``signal_store``): a crash leaves the old track serving and the new folder an
orphan for the next sweep; servers re-plan on the generation and read the new folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from peaksql.server.catalog.generation import bump_generation
from peaksql.server.catalog.queries import chromosome_rows
from peaksql.server.catalog.schema import signal_tracks
from peaksql.server.catalog.signal_store import (
    ZOOM_BASES,
    delete_tracks,
    open_track,
    store_lock,
    store_root,
)
from peaksql.server.ingest.signal_writer import Geometry, TrackWriter

#: Runs read back at a time (36 bytes each in memory).
CHUNK_RUNS = 4_000_000


def is_stale(meta: dict) -> bool:
    """Whether a track's ``meta.json`` lacks this version's zoom cells or bucket index."""
    return meta.get("zoom", {}).get("bases") != ZOOM_BASES or "index" not in meta


def _geometry(connection: sa.Connection, assembly_id: int) -> Geometry:
    rows = chromosome_rows(connection, assembly_id)
    return (
        np.array([r.offset for r in rows], dtype=np.int64),
        np.array([r.length for r in rows], dtype=np.int64),
    )


def _rewrite(data_dir: Path, name: str, geometry: Geometry) -> str:
    """The track's runs through a new ``TrackWriter`` (zoom cells, index); its folder."""
    track = open_track(data_dir, name)
    offsets = geometry[0]
    by_offset = np.argsort(offsets, kind="stable")
    writer = TrackWriter(data_dir, geometry)
    try:
        for begin in range(0, track.num_runs, CHUNK_RUNS):
            end = min(begin + CHUNK_RUNS, track.num_runs)
            starts = np.asarray(track.starts[begin:end])
            ends = np.asarray(track.ends[begin:end])
            values = np.asarray(track.values[begin:end])
            position = np.searchsorted(offsets[by_offset], starts, side="right") - 1
            chromosome = by_offset[position]
            cuts = np.flatnonzero(np.diff(chromosome)) + 1
            for piece in np.split(np.arange(starts.size), cuts):
                writer.append(int(chromosome[piece[0]]), starts[piece], ends[piece], values[piece])
        return writer.finish()
    except BaseException:
        writer.abort()
        raise


def upgrade_tracks(
    engine: sa.Engine, data_dir: Path, progress: Callable[[str], None] | None = None
) -> list[str]:
    """Rewrite every stale track (``is_stale``); the names of the folders replaced."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(signal_tracks.c.id, signal_tracks.c.path, signal_tracks.c.assembly_id)
        ).all()
    replaced: list[str] = []
    for row in rows:
        meta = json.loads((store_root(data_dir) / row.path / "meta.json").read_text())
        if not is_stale(meta):
            continue
        with store_lock(data_dir, exclusive=False):
            with engine.connect() as connection:
                geometry = _geometry(connection, row.assembly_id)
            new = _rewrite(data_dir, row.path, geometry)
            try:
                with engine.begin() as connection:
                    connection.execute(
                        signal_tracks.update().where(signal_tracks.c.id == row.id).values(path=new)
                    )
                    bump_generation(connection)
            except BaseException:
                delete_tracks(data_dir, [new])
                raise
        delete_tracks(data_dir, [row.path])
        replaced.append(row.path)
        if progress is not None:
            progress(f"rebuilt signal track {row.path} as {new} ({meta['num_runs']:,} runs)")
    return replaced

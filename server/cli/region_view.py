"""The data of ``describe --plot``'s region view: windows and intervals on one stretch.

Both come through a source's two calls (``peaksql.server.cli.sources``), so a server and a
local catalog draw the same picture:

- windows: their coordinates from GetWindows. Stride windows are sorted by (region, start),
  so a search over the region's index range finds the first one in the stretch in a few
  calls; other samplings are scanned (the first :data:`SCAN_LIMIT` windows).
- intervals: what the labels see, not the raw file rows: a ``per_base`` spec with the same
  constraint and label columns tiles the chromosome in :data:`TILE` bp windows, and each
  tile's per-base labels are the covered bases (intervals merged, the constraint's interval
  terms applied). A server has no call that returns intervals, and this is the same answer
  locally, so one code path serves both. The last partial tile of a chromosome is not
  covered (``covered_until``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from peaksql.client import Description
from peaksql.core.errors import InvalidArgument
from peaksql.core.spec import DatasetSpec
from peaksql.server.cli.sources import Windows, chunk_size

#: Bases per tile of the per-base spec that finds the intervals.
TILE = 500
#: Most windows scanned for a sampling whose windows are not sorted by position.
SCAN_LIMIT = 200_000
#: Longest stretch a region view shows, in bases.
MAX_SPAN = 1_000_000
#: Most label columns drawn as interval tracks.
MAX_TRACKS = 12
_REGION = re.compile(r"^(?P<name>.+?)(?::(?P<start>[\d,_]+)-(?P<end>[\d,_]+))?$")


@dataclass(frozen=True)
class Stretch:
    """``[start, end)`` on one region (chromosome) of a dataset; ``region``: its index."""

    region: int
    assembly: str
    chromosome: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.assembly}:{self.chromosome}:{self.start:,}-{self.end:,}"


@dataclass(frozen=True)
class RegionView:
    """Windows (start, positive in any column) and covered bases per column on a stretch."""

    stretch: Stretch
    seq_length: int
    window_starts: np.ndarray  # int64 (W,)
    window_positive: np.ndarray  # bool (W,)
    columns: tuple[str, ...]
    coverage: np.ndarray  # bool (len(columns), end - start)
    covered_until: int
    note: str = ""


def _find_region(description: Description, name: str) -> int:
    """The index of region ``[assembly:]chromosome`` among the dataset's regions."""
    names = [(r.assembly, r.chromosome) for r in description.regions]
    matches = [i for i, (_, c) in enumerate(names) if c == name]
    if not matches and ":" in name:
        assembly, chromosome = name.split(":", 1)
        matches = [i for i, key in enumerate(names) if key == (assembly, chromosome)]
    if len(matches) == 1:
        return matches[0]
    shown = ", ".join(f"{a}:{c}" for a, c in names[:8]) + (" …" if len(names) > 8 else "")
    if matches:
        raise InvalidArgument(f"--plot-region {name} is in several assemblies: name one ({shown})")
    raise InvalidArgument(f"--plot-region: {name} is not a region of this dataset ({shown})")


def parse_stretch(text: str, description: Description) -> Stretch:
    """``[assembly:]chromosome[:start-end]`` (commas allowed) as a Stretch of the dataset."""
    match = _REGION.match(text.strip())
    if not match:
        raise InvalidArgument(f"--plot-region {text!r}: expected chr20:100000-120000")
    index = _find_region(description, match["name"])
    region = description.regions[index]
    start, end = 0, min(region.length, MAX_SPAN)
    if match["start"] is not None:
        start, end = (int(re.sub(r"[,_]", "", match[k])) for k in ("start", "end"))
    end = min(end, region.length)
    if not 0 <= start < end:
        raise InvalidArgument(
            f"--plot-region {text}: empty stretch on a {region.length:,} bp region"
        )
    if end - start > MAX_SPAN:
        raise InvalidArgument(f"--plot-region {text}: at most {MAX_SPAN:,} bp, please")
    return Stretch(index, region.assembly, region.chromosome, start, end)


def _region_ranges(description: Description) -> np.ndarray:
    """First window index of each region, and the total last (windows go region by region)."""
    counts = [r.num_windows for r in description.regions]
    return np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])


def _sorted(spec: DatasetSpec) -> bool:
    return getattr(spec, "sampling", None) == "stride"


def _first_from(source: Windows, spec: DatasetSpec, lo: int, hi: int, target: int) -> int:
    """The first index of ``[lo, hi)`` whose start is ≥ ``target`` (starts sorted), else hi:
    a 64-way search, one call of 64 windows per step."""
    while hi - lo > 1:
        probes = np.unique(np.linspace(lo, hi - 1, num=min(64, hi - lo)).astype(np.int64))
        starts = source.windows(spec, probes)[1]
        after = np.flatnonzero(starts >= target)
        if not after.size:
            return hi
        k = int(after[0])
        if k == 0:
            return int(probes[0])
        lo, hi = int(probes[k - 1]) + 1, int(probes[k]) + 1
    if lo < hi and source.windows(spec, np.array([lo]))[1][0] < target:
        return hi
    return lo


def default_stretch(source: Windows, spec: DatasetSpec, description: Description) -> Stretch:
    """Centred on the window positive in most columns among the first ones (of the first
    region with windows, for sorted samplings), else the first; ``max(10 kb, 20 windows)``."""
    first = _region_ranges(description)
    with_windows = [i for i, r in enumerate(description.regions) if r.num_windows]
    if not with_windows:
        raise InvalidArgument("the dataset has no windows: there is nothing to plot")
    look = np.arange(min(description.num_windows, chunk_size(spec.seq_length)), dtype=np.int64)
    if _sorted(spec):
        r = with_windows[0]
        look = np.arange(first[r], min(first[r + 1], first[r] + look.size), dtype=np.int64)
    regions, starts, labels = source.windows(spec, look)
    columns = labels.reshape(labels.shape[0], labels.shape[1] if labels.ndim > 1 else 1, -1)
    pick = int(np.argmax(columns.any(axis=2).sum(axis=1))) if labels.size else 0
    region = description.regions[int(regions[pick])]
    span = min(region.length, MAX_SPAN, max(10_000, 20 * spec.seq_length))
    centre = int(starts[pick]) + spec.seq_length // 2
    start = int(max(0, min(centre - span // 2, region.length - span)))
    return Stretch(int(regions[pick]), region.assembly, region.chromosome, start, start + span)


def _stretch_windows(
    source: Windows, spec: DatasetSpec, description: Description, stretch: Stretch
) -> tuple[np.ndarray, np.ndarray, str]:
    """Starts and any-column positives of the windows overlapping the stretch, and a note."""
    first = _region_ranges(description)
    if _sorted(spec):
        lo, hi = int(first[stretch.region]), int(first[stretch.region + 1])
        lo = _first_from(source, spec, lo, hi, stretch.start - spec.seq_length + 1)
        indices = np.arange(lo, min(hi, lo + SCAN_LIMIT), dtype=np.int64)
    else:
        indices = np.arange(min(description.num_windows, SCAN_LIMIT), dtype=np.int64)
    found_starts, found_positive = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=bool)]
    step, complete = chunk_size(spec.seq_length), indices.size < SCAN_LIMIT
    for begin in range(0, indices.size, step):
        regions, starts, labels = source.windows(spec, indices[begin : begin + step])
        inside = (regions == stretch.region) & (starts < stretch.end)
        inside &= starts + spec.seq_length > stretch.start
        found_starts.append(starts[inside])
        positive = labels.reshape(labels.shape[0], -1).any(axis=1)
        assert isinstance(positive, np.ndarray)  # a row each (typed as maybe one np.bool)
        found_positive.append(positive[inside])
        if _sorted(spec) and starts.size and starts[-1] >= stretch.end:
            complete = True
            break
    note = "" if complete else f"windows: the first {SCAN_LIMIT:,} of the dataset scanned"
    return np.concatenate(found_starts), np.concatenate(found_positive), note


def _coverage(
    source: Windows, spec: DatasetSpec, description: Description, stretch: Stretch
) -> tuple[tuple[str, ...], np.ndarray, int]:
    """(columns, covered bases per column on the stretch, where the known coverage ends)."""
    columns = tuple(description.label_columns[:MAX_TRACKS])
    span = stretch.end - stretch.start
    coverage = np.zeros((len(columns), span), dtype=bool)
    if not columns:
        return columns, coverage, stretch.start
    tiles = DatasetSpec(
        seq_length=TILE, where=spec.where, stride=TILE, label="per_base", conditions=columns
    )
    tiled = source.describe(tiles, count_positives=False)
    key = (stretch.assembly, stretch.chromosome)
    keys = [(r.assembly, r.chromosome) for r in tiled.regions]
    if key not in keys:  # the same constraint selects the same regions: not expected
        return columns, coverage, stretch.start
    region = keys.index(key)
    count = tiled.regions[region].num_windows
    first_tile = int(_region_ranges(tiled)[region])
    ks = np.arange(stretch.start // TILE, min(count, -(-stretch.end // TILE)), dtype=np.int64)
    if ks.size:
        _, starts, labels = source.windows(tiles, first_tile + ks)
        for start, covered in zip(starts, labels, strict=True):
            a, b = max(int(start), stretch.start), min(int(start) + TILE, stretch.end)
            offset = a - int(start)
            coverage[:, a - stretch.start : b - stretch.start] = covered[:, offset : offset + b - a]
    return columns, coverage, min(stretch.end, count * TILE)


def region_view(
    source: Windows, spec: DatasetSpec, description: Description, where: str | None
) -> RegionView:
    """The region view of ``where`` (``[assembly:]chrom[:start-end]``), or a default stretch."""
    stretch = (
        parse_stretch(where, description) if where else default_stretch(source, spec, description)
    )
    starts, positive, note = _stretch_windows(source, spec, description, stretch)
    columns, coverage, covered_until = _coverage(source, spec, description, stretch)
    return RegionView(
        stretch, spec.seq_length, starts, positive, columns, coverage, covered_until, note
    )


def runs(covered: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in a boolean row."""
    edges = np.diff(np.concatenate([[0], covered.astype(np.int8), [0]]))
    begins, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(b), int(e - b)) for b, e in zip(begins, ends, strict=True)]

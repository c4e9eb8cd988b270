"""A brute-force reference of the dataset engine, in plain Python and numpy over the input TEXT.

FASTA text + interval lines --own parsers--> rows --Python predicates--> windows, letters, labels

Written from the semantics (DESIGN §3-§6), not from the engine: windows are enumerated one
by one, labels come from a boolean array painted per chromosome and condition, and one-hot
rows come from a letter -> bases dict. Nothing here imports the engine or the alphabet table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.reference_sampling import (  # noqa: F401  (re-exported: the reference's API)
    IUPAC_TOKENS,
    TOKENS,
    exclusion,
    gc_bin,
    random_allowed,
    reverse_complement,
    tokens_of,
)

#: IUPAC letter -> the bases it may be (a gap '-' may be none).
BASES_OF: dict[str, str] = {
    "A": "A",
    "C": "C",
    "G": "G",
    "T": "T",
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
    "-": "",
}
_BASE_ORDER = "ACGT"

Row = dict[str, object]
Predicate = Callable[[Row], bool]


# --- parsers -------------------------------------------------------------------------------


def parse_fasta(text: str) -> list[tuple[str, str]]:
    """(name, sequence) pairs of FASTA text; the name is the header's first word."""
    records: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith(">"):
            records.append((line[1:].split()[0], []))
        elif line.strip():
            records[-1][1].append(line.strip())
    return [(name, "".join(parts)) for name, parts in records]


def _optional(text: str, cast: Callable[[str], object], missing: tuple[str, ...] = (".",)):
    return None if text in missing else cast(text)


def parse_intervals(text: str, fmt: str) -> list[Row]:
    """Rows of a BED (3-6 columns) or narrowPeak file, '.' and the -1 placeholders as None."""
    rows: list[Row] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        fields = line.rstrip("\n").split("\t")
        row: Row = {"chromosome": fields[0], "start": int(fields[1]), "end": int(fields[2])}
        row["name"] = _optional(fields[3], str) if len(fields) > 3 else None
        row["score"] = _optional(fields[4], float) if len(fields) > 4 else None
        row["strand"] = _optional(fields[5], str) if len(fields) > 5 else None
        row["signal_value"] = row["p_value"] = row["q_value"] = row["summit"] = None
        if fmt == "narrowpeak":
            row["signal_value"] = _optional(fields[6], float)
            row["p_value"] = _optional(fields[7], float, (".", "-1"))
            row["q_value"] = _optional(fields[8], float, (".", "-1"))
            row["summit"] = _optional(fields[9], int, ("-1",))
        row["value"] = None
        row["length"] = int(row["end"]) - int(row["start"])  # type: ignore[call-overload]
        rows.append(row)
    return rows


# --- the reference catalog ------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    assembly: str
    species: str | None
    chromosome: str
    sequence: str

    @property
    def length(self) -> int:
        return len(self.sequence)

    def row(self) -> Row:
        return {
            "assembly": self.assembly,
            "species": self.species,
            "chromosome": self.chromosome,
            "chromosome_length": self.length,
        }


@dataclass
class ReferenceCatalog:
    """Chromosomes in ingest order and interval rows (each with its condition and region)."""

    regions: list[Region] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def add_fasta(self, assembly: str, species: str | None, path: Path) -> None:
        for name, sequence in parse_fasta(Path(path).read_text()):
            self.regions.append(Region(assembly, species, name, sequence))

    def add_intervals(self, condition: str, assembly: str, path: Path, fmt: str) -> None:
        index = {(r.assembly, r.chromosome): k for k, r in enumerate(self.regions)}
        for row in parse_intervals(Path(path).read_text(), fmt):
            region = index[(assembly, row["chromosome"])]
            row.update(self.regions[region].row(), condition=condition, region=region)
            self.rows.append(row)


@dataclass
class ReferenceDataset:
    """Windows as (region index, start), their letters and labels, and the label columns."""

    region_indices: list[int]  # selected regions, indices into the catalog's regions
    windows: list[tuple[int, int]]  # (position in region_indices, start)
    texts: list[str]
    label_columns: list[str]
    labels: np.ndarray  # bool (B, C) or (B, C, inner)
    #: labels of any windows ``[(position in region_indices, start)]`` (shifted ones too)
    labels_at: Callable[[list[tuple[int, int]]], np.ndarray] | None = None
    #: letters of any window ``(position in region_indices, start)``
    text_at: Callable[[int, int], str] | None = None
    #: excluded bases of any window ``(position, start)`` (0 without exclusion)
    excluded_at: Callable[[int, int], int] | None = None


def centre(row: Row) -> int:
    """Summit (narrowPeak peak offset) or midpoint of an interval."""
    start, end, summit = int(row["start"]), int(row["end"]), row["summit"]  # type: ignore[call-overload]
    return start + int(summit) if summit is not None else (start + end) // 2  # type: ignore[call-overload]


def build_dataset(
    catalog: ReferenceCatalog,
    *,
    seq_length: int,
    sampling: str,
    region_predicate: Predicate,
    interval_predicate: Predicate,
    stride: int = 0,
    num_random: int = 0,
    max_jitter: int = 0,
    label: str = "any",
    fraction: float = 0.5,
    inner_range: int = 0,
    conditions: tuple[str, ...] = (),
    max_n_fraction: float | None = None,
    seed: int = 0,
    exclude: tuple[str, ...] = (),
    exclude_fraction: float = 0.0,
) -> ReferenceDataset:
    """Every window of the dataset with its letters and labels, the slow obvious way."""
    selected = [k for k, r in enumerate(catalog.regions) if region_predicate(r.row())]
    position = {k: p for p, k in enumerate(selected)}
    rows = [
        row
        for row in catalog.rows
        if row["region"] in position
        and interval_predicate(row)
        and (not conditions or row["condition"] in conditions)
        and row["condition"] not in exclude
    ]
    excluded_at, allowed = exclusion(catalog, position, exclude, seq_length, exclude_fraction)
    columns = list(conditions) if conditions else sorted({str(r["condition"]) for r in rows})
    regions = [catalog.regions[k] for k in selected]
    lengths = [r.length for r in regions]

    if sampling == "stride":
        windows = _stride_windows(lengths, seq_length, stride)
    elif sampling == "random":  # without exclusion, every position is allowed
        windows = random_allowed(lengths, seq_length, num_random, seed, allowed, bool(exclude))
    else:
        windows = _around_windows(
            rows, position, lengths, seq_length, max_jitter, seed, allowed if exclude else None
        )
    windows = [w for w in windows if allowed(*w)]  # exclusion, for every sampling

    texts = [regions[p].sequence[s : s + seq_length] for p, s in windows]
    if max_n_fraction is not None:
        keep = [sum(c in "Nn" for c in t) / seq_length <= max_n_fraction for t in texts]
        windows = [w for w, k in zip(windows, keep, strict=True) if k]
        texts = [t for t, k in zip(texts, keep, strict=True) if k]

    def labels_at(some: list[tuple[int, int]]) -> np.ndarray:
        return _labels(rows, position, lengths, columns, some, seq_length, label, fraction, inner)

    def text_at(p: int, start: int) -> str:
        return regions[p].sequence[start : start + seq_length]

    inner = inner_range
    dataset = ReferenceDataset(selected, windows, texts, columns, labels_at(windows))
    dataset.labels_at, dataset.text_at, dataset.excluded_at = labels_at, text_at, excluded_at
    return dataset


def _stride_windows(lengths: list[int], seq_length: int, stride: int) -> list[tuple[int, int]]:
    return [
        (p, start)
        for p, length in enumerate(lengths)
        for start in range(0, length - seq_length + 1, stride)
    ]


def _around_windows(
    rows: list[Row],
    position: dict[int, int],
    lengths: list[int],
    seq_length: int,
    max_jitter: int,
    seed: int,
    allowed: Callable[[int, int], bool] | None = None,
) -> list[tuple[int, int]]:
    """A window on each centre, jittered; with exclusion, an unallowed one draws its jitter
    again (8 rounds, the waiting windows in order, one draw each per round)."""
    keyed = sorted(
        (position[int(r["region"])], int(r["start"]), int(r["end"]), centre(r))  # type: ignore[call-overload]
        for r in rows
    )
    rng = np.random.default_rng(seed)
    jitter = (
        rng.integers(-max_jitter, max_jitter + 1, size=len(keyed)).tolist()
        if max_jitter
        else [0] * len(keyed)
    )

    def place(p: int, middle: int, shift: int) -> int:
        return min(max(middle - seq_length // 2 + shift, 0), lengths[p] - seq_length)

    kept = [
        (p, middle, shift)
        for (p, _, _, middle), shift in zip(keyed, jitter, strict=True)
        if lengths[p] >= seq_length
    ]
    windows = [(p, place(p, middle, shift)) for p, middle, shift in kept]
    waiting = [
        k for k, w in enumerate(windows) if allowed is not None and max_jitter and not allowed(*w)
    ]
    for _ in range(8):
        if not waiting:
            break
        draws = rng.integers(-max_jitter, max_jitter + 1, size=len(waiting)).tolist()
        still = []
        for k, shift in zip(waiting, draws, strict=True):
            p, middle, _ = kept[k]
            moved = (p, place(p, middle, shift))
            if allowed is not None and allowed(*moved):
                windows[k] = moved
            else:
                still.append(k)
        waiting = still
    return windows


def _labels(
    rows: list[Row],
    position: dict[int, int],
    lengths: list[int],
    columns: list[str],
    windows: list[tuple[int, int]],
    seq_length: int,
    label: str,
    fraction: float,
    inner_range: int,
) -> np.ndarray:
    inner = inner_range or seq_length
    offset = (seq_length - inner) // 2
    painted = {
        (p, c): np.zeros(length, dtype=bool)
        for p, length in enumerate(lengths)
        for c in range(len(columns))
    }
    points: dict[tuple[int, int], list[int]] = {key: [] for key in painted}
    for row in rows:
        key = (position[int(row["region"])], columns.index(str(row["condition"])))  # type: ignore[call-overload]
        painted[key][int(row["start"]) : int(row["end"])] = True  # type: ignore[call-overload]
        points[key].append(centre(row))
    shape = (len(windows), len(columns)) + ((inner,) if label == "per_base" else ())
    labels = np.zeros(shape, dtype=bool)
    for i, (p, start) in enumerate(windows):
        begin, end = start + offset, start + offset + inner
        for c in range(len(columns)):
            bases = painted[(p, c)][begin:end]
            if label == "any":
                labels[i, c] = bases.any()
            elif label == "all":
                labels[i, c] = bases.all()
            elif label == "fraction":
                labels[i, c] = bases.sum() / inner >= fraction
            elif label == "summit":
                labels[i, c] = any(begin <= x < end for x in points[(p, c)])
            else:
                labels[i, c] = bases
    return labels


# --- sequences ------------------------------------------------------------------------------


def one_hot(letter: str, policy: str) -> list[float]:
    """The (A, C, G, T) row of one letter under an ambiguity policy (not ``random``)."""
    bases = BASES_OF[letter.upper()]
    if policy == "zeros" and len(bases) != 1:
        bases = ""
    weight = 1.0 / len(bases) if policy == "uniform" and bases else 1.0
    return [weight if b in bases else 0.0 for b in _BASE_ORDER]


def one_hot_texts(texts: list[str], policy: str) -> np.ndarray:
    """(B, L, 4) rows of ``one_hot`` for every letter of every window."""
    return np.array([[one_hot(c, policy) for c in text] for text in texts], dtype=np.float64)


def random_policy_problems(texts: list[str], decoded: np.ndarray) -> list[str]:
    """Why ``decoded`` is not a valid ``random`` decoding of ``texts`` (empty when it is):
    each certain base exact, each ambiguous letter one of its bases, a gap all zeros."""
    problems = []
    for i, text in enumerate(texts):
        for j, letter in enumerate(text):
            row = decoded[i, j].tolist()
            bases = BASES_OF[letter.upper()]
            chosen = "".join(b for b, v in zip(_BASE_ORDER, row, strict=True) if v)
            if not bases:
                ok = chosen == ""
            else:
                ok = len(chosen) == 1 and chosen in bases and sorted(row) == [0, 0, 0, 1]
            if not ok:
                problems.append(f"window {i} base {j}: {letter!r} decoded as {row}")
    return problems


# --- signal tracks: per-base values painted from the files -----------------------------------


def parse_bedgraph_values(text: str) -> list[tuple[str, int, int, float]]:
    """(chromosome, start, end, value) rows of bedGraph text."""
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        chrom, start, end, value = line.split("\t")[:4]
        rows.append((chrom, int(start), int(end), float(value)))
    return rows


def paint_signal(rows: list[tuple[str, int, int, float]], chromosome: str, length: int):
    """Per-base values of one chromosome, NaN where no row has data."""
    values = np.full(length, np.nan)
    for chrom, start, end, value in rows:
        if chrom == chromosome:
            values[start:end] = value
    return values


def aggregate_signal(
    per_base: np.ndarray, start: int, length: int, bin_size: int, aggregate: str, gaps: str
) -> np.ndarray:
    """The aggregate of each bin of ``per_base[start:start + length]``, written from the
    rules (zero: a gap is 0; nan: a gap is NaN and poisons its bin; skip: gaps left out)."""
    window = per_base[start : start + length].reshape(-1, bin_size)
    has = ~np.isnan(window)
    if aggregate == "coverage":
        return has.sum(axis=1).astype(float)
    out = []
    for row, present in zip(window, has, strict=True):
        if gaps == "zero":
            row = np.where(present, row, 0.0)
        elif gaps == "skip":
            row = row[present]
        if row.size == 0 or np.isnan(row).any():
            out.append(np.nan)
            continue
        out.append({"mean": np.mean, "sum": np.sum, "max": np.max, "min": np.min}[aggregate](row))
    return np.array(out)


def class_of(fractions: list[float], threshold: float) -> int:
    """The most covered passing column (first on ties), else the background len(fractions)."""
    best, best_value = len(fractions), -1.0
    for index, value in enumerate(fractions):
        if value >= threshold and value > best_value:
            best, best_value = index, value
    return best


# --- conditions across assemblies -----------------------------------------------------------


def known_labels(catalog: ReferenceCatalog, dataset: ReferenceDataset) -> np.ndarray:
    """(B, C) bool: whether window i's column c can be known, i.e. column c's condition has
    any interval (whatever the constraint) on the assembly of window i's region."""
    on = {(str(row["condition"]), str(row["assembly"])) for row in catalog.rows}
    known = np.zeros((len(dataset.windows), len(dataset.label_columns)), dtype=bool)
    for i, (p, _start) in enumerate(dataset.windows):
        assembly = catalog.regions[dataset.region_indices[p]].assembly
        for c, column in enumerate(dataset.label_columns):
            known[i, c] = (column, assembly) in on
    return known


def masked_labels(catalog: ReferenceCatalog, dataset: ReferenceDataset) -> np.ndarray:
    """The labels under ``missing="mask"``: float32, NaN for every label of an unknown column."""
    labels = dataset.labels.astype(np.float32)
    labels[~known_labels(catalog, dataset)] = np.nan
    return labels

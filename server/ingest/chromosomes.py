"""Chromosome names of an interval file -> the assembly's chromosomes: names, aliases, skips.

A name resolves, in this order, to the chromosome that has it as

1. its own name (``chr20`` in an assembly with ``chr20``);
2. an alias from the user's alias file (``--chromosome-aliases``, UCSC ``chromAlias.txt``
   style: tab-separated, the first column the assembly's name, the others its aliases,
   ``#`` lines are comments); lines whose first column is not a chromosome of the assembly
   are ignored (alias files list every sequence of a release), but a file in which no line
   names one is refused: its columns are probably the other way round;
3. a built-in alias: with or without the ``chr`` prefix, any of ``chr``/``Chr``/``CHR``
   (``chr20`` <-> ``20`` <-> ``Chr20``), and the mitochondrion's ``chrM`` <-> ``MT`` <-> ``M``.
   A built-in alias two chromosomes would share is dropped (neither gets it).

Resolution is one dict lookup per line, aliases included. With ``skip_unknown`` the lines on
unknown chromosomes are dropped and counted by name instead of refusing the file.

Every ingest of data resolves names here, interval files and signal tracks (bigWig,
bedGraph) alike: ``target_assembly`` reads the assembly's chromosomes once per call and
builds the one ``ChromosomeResolver``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from peaksql.core.errors import InputFileError, NotFound
from peaksql.server.catalog import queries
from peaksql.server.ingest.reader import IntervalChunk
from peaksql.server.ingest.text_blocks import clip, normalized_blocks

_PREFIXES = ("chr", "Chr", "CHR")
_MITOCHONDRION = ("M", "MT")
#: Known names shown in an "unknown chromosome" message; unknown names in a skip report.
NUM_HINT_NAMES = 5


def builtin_aliases(names: Sequence[str]) -> dict[str, int]:
    """alias -> position in ``names`` of the built-in aliases no two chromosomes share."""
    claims: dict[str, set[int]] = {}
    for position, name in enumerate(names):
        for alias in _builtin(name):
            claims.setdefault(alias, set()).add(position)
    real = set(names)
    return {
        alias: next(iter(owners))
        for alias, owners in claims.items()
        if len(owners) == 1 and alias not in real
    }


def _builtin(name: str) -> set[str]:
    """The built-in aliases of ``name``: its bare form with every prefix spelling."""
    bare = next((name[len(p) :] for p in _PREFIXES if name.startswith(p) and len(name) > 3), name)
    forms = set(_MITOCHONDRION) if bare in _MITOCHONDRION else {bare}
    aliases = forms | {prefix + form for prefix in _PREFIXES for form in forms}
    aliases.discard(name)
    return aliases


def read_alias_file(path: Path, names: Sequence[str], assembly: str) -> dict[str, int]:
    """alias -> position in ``names`` from a UCSC-style alias file (see the module doc)."""
    positions = {name: position for position, name in enumerate(names)}
    aliases: dict[str, tuple[int, int]] = {}  # alias -> (position, line)
    matched = 0
    for line, fields in _alias_rows(path):
        position = positions.get(fields[0])
        if position is None:
            continue
        matched += 1
        for alias in fields[1:]:
            if not alias or alias == fields[0]:
                continue
            if alias in positions:
                raise InputFileError(
                    path, line, f"alias {clip(alias)!r} of {fields[0]!r} is another chromosome"
                )
            earlier = aliases.setdefault(alias, (position, line))
            if earlier[0] != position:
                raise InputFileError(
                    path,
                    line,
                    f"alias {clip(alias)!r} names both {names[earlier[0]]!r} (line {earlier[1]}) "
                    f"and {fields[0]!r}",
                )
    if not matched:
        raise InputFileError(
            path,
            None,
            f"no line's first column is a chromosome of assembly {assembly!r}: the first "
            "column must be the assembly's name, the others its aliases",
        )
    return {alias: position for alias, (position, _) in aliases.items()}


def _alias_rows(path: Path) -> Iterable[tuple[int, list[str]]]:
    """(line number, fields) of the data lines of an alias file (tabs, else whitespace)."""
    pending, number = b"", 0
    for block, _ in normalized_blocks(path):
        data = pending + block
        cut = data.rfind(b"\n") + 1
        data, pending = data[:cut], data[cut:]
        for raw in data.split(b"\n")[:-1] if data else []:
            number += 1
            yield from _alias_row(path, number, raw)
    if pending:
        yield from _alias_row(path, number + 1, pending)


def _alias_row(path: Path, number: int, raw: bytes) -> Iterable[tuple[int, list[str]]]:
    try:
        text = raw.decode("utf-8").rstrip()
    except UnicodeDecodeError:
        raise InputFileError(path, number, "not UTF-8 text") from None
    if text and not text.startswith("#"):
        fields = text.split("\t") if "\t" in text else text.split()
        yield number, [field.strip() for field in fields]


class ChromosomeResolver:
    """Names of a chunk -> positions in the assembly's chromosome list (aliases included)."""

    def __init__(
        self,
        names: Sequence[str],
        assembly: str,
        alias_file: Path | None = None,
        *,
        skip_unknown: bool = False,
    ) -> None:
        self.names = list(names)
        self.assembly = assembly
        self.skip_unknown = skip_unknown
        self.index: dict[str, int] = {name: position for position, name in enumerate(names)}
        if alias_file is not None:
            for alias, position in read_alias_file(alias_file, self.names, assembly).items():
                self.index.setdefault(alias, position)
        for alias, position in builtin_aliases(self.names).items():
            self.index.setdefault(alias, position)

    def positions(
        self,
        chromosome: list[str],
        lines: np.ndarray | None,
        path: Path,
        skipped: Counter[str],
    ) -> np.ndarray:
        """Position of each name (-1 where skipped, counted in ``skipped``); InputFileError
        naming the line for an unknown name unless ``skip_unknown`` (``lines`` None: a binary
        file such as a bigWig, whose names come from its header, has no lines to name).
        """
        get = self.index.get
        positions = np.fromiter(
            (get(name, -1) for name in chromosome), dtype=np.int64, count=len(chromosome)
        )
        unknown = positions < 0
        if unknown.any():
            rows = np.flatnonzero(unknown)
            if not self.skip_unknown:
                name = chromosome[rows[0]]
                line = None if lines is None else int(lines[rows[0]])
                raise InputFileError(path, line, self.unknown_message(name))
            skipped.update(chromosome[row] for row in rows)
        return positions

    def unknown_message(self, name: str) -> str:
        message = f"chromosome {clip(name)!r} is not in assembly {self.assembly!r}"
        hint = "; pass --chromosome-aliases FILE, or --skip-unknown-chromosomes to skip its lines"
        if not self.names:
            return f"{message} (it has no chromosomes)"
        shown = ", ".join(self.names[:NUM_HINT_NAMES])
        more = f", ... ({len(self.names)} in all)" if len(self.names) > NUM_HINT_NAMES else ""
        return f"{message} (it has {shown}{more}){hint}"


def describe_skipped(skipped: Counter[str], unit: str = "lines") -> str:
    """``12 lines on 3 unknown chromosomes: chrUn_x (7), chrY_y (4), chrZ (1)`` (``unit``:
    what was counted, ``runs`` for a bigWig)."""
    total = sum(skipped.values())
    shown = ", ".join(
        f"{clip(name, 60)} ({count:,})" for name, count in skipped.most_common(NUM_HINT_NAMES)
    )
    more = len(skipped) - NUM_HINT_NAMES
    tail = f" and {more:,} more" if more > 0 else ""
    noun = "chromosome" if len(skipped) == 1 else "chromosomes"
    return f"{total:,} {unit} on {len(skipped):,} unknown {noun}: {shown}{tail}"


@dataclass(frozen=True)
class TargetAssembly:
    """The assembly a call ingests into: id, name resolver, chromosome lengths and offsets
    in the genome store (both indexed by position in ``resolver.names``)."""

    id: int
    resolver: ChromosomeResolver
    lengths: np.ndarray
    offsets: np.ndarray


def target_assembly(
    connection: sa.Connection,
    path: Path,
    assembly: str,
    alias_file: Path | None,
    skip_unknown: bool,
) -> TargetAssembly:
    """The assembly's id and chromosomes (in id order); NotFound naming the known assemblies."""
    found = queries.assembly_id(connection, assembly)
    if found is None:
        names = queries.assembly_names(connection)
        known = ", ".join(names) if names else "(none; add a genome first)"
        raise NotFound(f"{path}: assembly {assembly!r} not found; the assemblies are: {known}")
    rows = queries.chromosome_rows(connection, found)
    resolver = ChromosomeResolver(
        [row.name for row in rows], assembly, alias_file, skip_unknown=skip_unknown
    )
    lengths = np.array([row.length for row in rows], dtype=np.int64)
    offsets = np.array([row.offset for row in rows], dtype=np.int64)
    return TargetAssembly(int(found), resolver, lengths, offsets)


def check_ends(
    chunk: IntervalChunk, positions: np.ndarray, target: TargetAssembly, path: Path
) -> None:
    """InputFileError naming the line of the first interval past its chromosome's end."""
    lengths = target.lengths
    too_long = chunk.end > lengths[positions]
    if too_long.any():
        row = int(np.argmax(too_long))
        raise InputFileError(
            path,
            int(chunk.line[row]),
            f"end {chunk.end[row]} is past the end of {clip(chunk.chromosome[row])} "
            f"({target.resolver.names[positions[row]]}, length {lengths[positions[row]]})",
        )

"""The genome store: one flat file of uint8 base codes per assembly, read as ``np.memmap``.

Written once per assembly by ``peaksql.server.ingest.genome_writer`` (from a FASTA) as
``<data_dir>/genomes/<name>.u8``; read here.

Byte layout of a store file (no header, no padding, chromosomes in FASTA order)::

    offset 0                 offset = len(chr1)          offset = len(chr1) + len(chr2)
    | chr1 codes ...         | chr2 codes ...            | chr3 codes ...          |

One byte per base: ``peaksql.core.alphabet``'s 4-bit IUPAC mask in the low nibble and 0x10 where
the letter was lowercase (soft-masked), so every IUPAC letter, N, '-' and the case survive.
A chromosome row keeps its ``offset`` and ``length``; reading a window afterwards is a slice
of a read-only memmap, and the OS page cache is shared by every server process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STORE_SUFFIX = ".u8"


@dataclass(frozen=True)
class ChromosomeRecord:
    """One chromosome of a store file: its bases are ``store[offset : offset + length]``."""

    name: str
    length: int
    offset: int


# --- reading ------------------------------------------------------------------------------


class GenomeStore:
    """Read-only memmaps of the store files under ``data_dir``, opened once and shared.

    A cached map is reused while the file on disk is the same one (device, inode, size,
    mtime): an assembly removed and added again under the same name is mapped afresh.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._maps: dict[str, tuple[tuple[int, int, int, int], np.ndarray]] = {}
        self._lock = threading.Lock()

    def store_path(self, assembly: str) -> Path:
        """Where the store file of ``assembly`` lives."""
        return self.data_dir / "genomes" / f"{assembly}{STORE_SUFFIX}"

    def relative(self, path: Path) -> str:
        """``path`` as kept in ``assemblies.store_file``: relative to the data dir, '/'."""
        return Path(path).relative_to(self.data_dir).as_posix()

    def open(self, store_file: str) -> np.ndarray:
        """The whole store file as a read-only uint8 memmap (cached, thread-safe)."""
        path = self.data_dir / store_file
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"genome store file {path} is missing: is --data-dir right?"
            ) from None
        identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            cached = self._maps.get(store_file)
            if cached is not None and cached[0] == identity:
                return cached[1]
            if stat.st_size == 0:  # mmap cannot map an empty file
                genome = np.zeros(0, dtype=np.uint8)
                genome.flags.writeable = False
            else:
                genome = np.memmap(path, dtype=np.uint8, mode="r")
            self._maps[store_file] = (identity, genome)
            return genome

    def fetch(self, store_file: str, offset: int, start: int, end: int) -> np.ndarray:
        """Codes of ``[start, end)`` of the chromosome at ``offset`` (a view, no copy)."""
        return self.open(store_file)[offset + start : offset + end]

"""The brute-force reference of training-ready sampling (used by ``tests.reference``).

Written from the issue's words, not from the engine: excluded intervals painted per base,
rejection sampling of random windows in plain Python, the reverse complement and the GC
content and tokens of a window's letters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def exclusion(
    catalog: Any,
    position: dict[int, int],
    exclude: tuple[str, ...],
    seq_length: int,
    fraction: float,
) -> tuple[Callable[[int, int], int], Callable[[int, int], bool]]:
    """(excluded bases of a window, whether it is allowed) from painted excluded intervals."""
    blacklist = {p: np.zeros(catalog.regions[k].length, dtype=bool) for k, p in position.items()}
    for row in catalog.rows:  # excluded intervals: every one on the selected regions
        if row["condition"] in exclude and row["region"] in position:
            blacklist[position[int(row["region"])]][int(row["start"]) : int(row["end"])] = True  # type: ignore[call-overload]

    def excluded_at(p: int, start: int) -> int:
        return int(blacklist[p][start : start + seq_length].sum())

    def allowed(p: int, start: int) -> bool:
        return excluded_at(p, start) / seq_length <= fraction

    return excluded_at, allowed


def random_allowed(
    lengths: list[int],
    seq_length: int,
    num_windows: int,
    seed: int,
    allowed: Callable[[int, int], bool],
    rejection: bool = True,
) -> list[tuple[int, int]]:
    """Random windows. Without ``rejection``: window k is valid position
    ``splitmix64(key, k) % total`` in genome order, the key the first draw of the seed's
    generator. With it (exclusion): rounds of max(need, 64) ``integers(0, total)`` draws, the
    allowed ones kept in draw order until there are ``num_windows``."""
    valid = [max(length - seq_length + 1, 0) for length in lengths]
    rng = np.random.default_rng(seed)
    if not rejection:
        key = int(rng.integers(0, 2**63, dtype=np.int64))
        draws = [_splitmix64(key, k) % sum(valid) for k in range(num_windows)]
        return [_position(valid, draw) for draw in draws]
    windows: list[tuple[int, int]] = []
    while len(windows) < num_windows:
        need = num_windows - len(windows)
        size = max(need, 64) if rejection else need
        for draw in rng.integers(0, sum(valid), size=size).tolist():
            for p, count in enumerate(valid):
                if draw < count:
                    if (not rejection or allowed(p, draw)) and len(windows) < num_windows:
                        windows.append((p, draw))
                    break
                draw -= count
    return windows


_MASK64 = (1 << 64) - 1


def _splitmix64(key: int, k: int) -> int:
    """splitmix64 of the counter k under ``key``, in Python integers."""
    z = (key + (k + 1) * 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _position(valid: list[int], draw: int) -> tuple[int, int]:
    """The valid position number ``draw`` as (region, start), counting region by region."""
    for region, count in enumerate(valid):
        if draw < count:
            return region, draw
        draw -= count
    raise ValueError(f"draw {draw} is past every region")


#: IUPAC letter -> its complement (the letter of the complementary bases).
COMPLEMENT_OF = dict(zip("ACGTRYSWKMBDHVN-", "TGCAYRSWMKVHDBN-", strict=True))


def reverse_complement(text: str) -> str:
    """The reverse complement of a window's letters (upper case)."""
    return "".join(COMPLEMENT_OF[c] for c in reversed(text.upper()))


def gc_bin(text: str, bins: int = 20) -> int:
    """The GC histogram bin of a window: its C, G and S letters over its length."""
    count = sum(c in "CGS" for c in text.upper())
    return min(count * bins // len(text), bins - 1)


#: Tokens of ``encoding="tokens"`` and ``"iupac_tokens"``, written from the documentation.
TOKENS = {c: "ACGT".index(c) if c in "ACGT" else 4 for c in "ACGTRYSWKMBDHVN-"}
IUPAC_TOKENS = {c: k for k, c in enumerate("ACGTNRYSWKMBDHV-")}


def tokens_of(texts: list[str], table: dict[str, int]) -> np.ndarray:
    """(B, L) tokens of windows' letters."""
    return np.array([[table[c] for c in text.upper()] for text in texts], dtype=np.int64)

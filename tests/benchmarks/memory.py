"""Server memory while streaming: RSS sampled from /proc, and how the genome file is mapped.

RSS splits into anonymous (the process's private heap: plans, buffers) and file-backed
(mapped files: libraries and the genome, whose pages are the shared page cache). The genome
is "not read into RAM" when its mapping has no private or anonymous pages and the
anonymous RSS does not grow by the genome's size while streaming.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.benchmarks.common import Row


def _memory(pid: int) -> tuple[int, int, int]:
    """(RSS, anonymous RSS, file-backed RSS) in bytes, from /proc (Linux)."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "RssAnon:", "RssFile:")):
                name, value = line.split(":")
                fields[name] = int(value.split()[0]) * 1024
    return fields.get("VmRSS", 0), fields.get("RssAnon", 0), fields.get("RssFile", 0)


@dataclass
class MemorySampler:
    """Samples a process's memory every ``interval`` seconds in a background thread."""

    pid: int
    interval: float = 0.05
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)
    marks: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.perf_counter(), *_memory(self.pid)))
            except (FileNotFoundError, ProcessLookupError):
                return
            self._stop.wait(self.interval)

    def mark(self, name: str) -> None:
        self.samples.append((time.perf_counter(), *_memory(self.pid)))
        self.marks[name] = len(self.samples) - 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def row(self, name: str, begin: str, end: str, genome_bytes: int) -> Row:
        """Start, peak and end of the server's memory between two marks, in MB."""
        window = self.samples[self.marks[begin] : self.marks[end] + 1]
        mb = 1e6
        return Row(
            "server memory",
            name,
            "",
            {
                "rss_start_MB": window[0][1] / mb,
                "rss_peak_MB": max(s[1] for s in window) / mb,
                "rss_end_MB": window[-1][1] / mb,
                "anon_start_MB": window[0][2] / mb,
                "anon_peak_MB": max(s[2] for s in window) / mb,
                "anon_end_MB": window[-1][2] / mb,
                "file_peak_MB": max(s[3] for s in window) / mb,
                "genome_file_MB": genome_bytes / mb,
            },
            "anon: private memory; file: mapped files (libraries, genome) in the page cache",
        )


def genome_mapping(pid: int, store_file: Path) -> Row:
    """How the genome file is mapped in the server: resident pages, private and anonymous."""
    totals: dict[str, int] = {}
    inside = False
    target = str(store_file.resolve())
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            head = line.split(maxsplit=5)
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                inside = len(head) == 6 and head[5].strip() == target
            elif inside and head[0] in ("Rss:", "Private_Dirty:", "Anonymous:", "Size:"):
                totals[head[0][:-1]] = totals.get(head[0][:-1], 0) + int(head[1]) * 1024
    mb = 1e6
    return Row(
        "server memory",
        "genome mapping (end of run)",
        "",
        {
            "mapped_MB": totals.get("Size", 0) / mb,
            "resident_MB": totals.get("Rss", 0) / mb,
            "private_dirty_MB": totals.get("Private_Dirty", 0) / mb,
            "anonymous_MB": totals.get("Anonymous", 0) / mb,
        },
        "a read-only file mapping: resident pages are the shared page cache, not a copy",
    )

"""In-process figures: the engine's limit, where its time goes, a local loader, client decode.

    plan (compiled here, no gRPC) -> iter_batches -> (optionally) Batch message bytes

The engine limit is the ceiling every remote figure is divided by. The local loader is what a
lab writes when it has no server: pyfaidx reads per window plus a numpy one-hot.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections.abc import Callable

import numpy as np

from peaksql.core.spec import DatasetSpec
from peaksql.core.wire import unpack_sequences
from peaksql.server.catalog.database import open_database
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.engine.batches import gather_sequences, iter_batches, label_windows
from peaksql.server.engine.order import Cursor, positions_for, window_indices
from peaksql.server.engine.plan import Plan, compile_plan
from peaksql.server.rpc.messages import batch_message
from peaksql.v1 import peaksql_pb2 as pb
from tests.benchmarks.common import SEED, Row, Shape, Stopwatch
from tests.benchmarks.data import Catalog


class Engine:
    """The catalog opened in this process, as the server opens it."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.db = open_database(catalog.db)
        self.store = GenomeStore(catalog.data_dir)

    def plan(self, spec: DatasetSpec) -> Plan:
        return compile_plan(self.db, self.store, spec)

    def close(self) -> None:
        self.db.dispose()


def _epochs(plan: Plan, shape: Shape, encode: bool):  # type: ignore[no-untyped-def]
    """Shuffled batches of epoch 0, 1, … forever (as bytes when ``encode``)."""
    epoch = 0
    while True:
        for batch in iter_batches(
            plan, Cursor(epoch, 0, 1, 0), shape.batch_size, shuffle=True, seed=SEED
        ):
            if encode:
                batch_message(batch, shape.seq_length, False).SerializeToString()
            yield batch.batch_size
        epoch += 1


def engine_limit(plan: Plan, shape: Shape, seconds: float, *, encode: bool = False) -> Row:
    """Windows/s of one thread building batches (and encoding messages when ``encode``)."""
    watch = Stopwatch()
    for count in _epochs(plan, shape, encode):
        watch.tick(count)
        if watch.steady_seconds >= seconds:
            break
    rate = watch.windows_per_second()
    return Row(
        "in-process",
        "engine + protobuf encode" if encode else "engine limit (no gRPC)",
        shape.name,
        {
            "windows_per_s": rate,
            "bases_per_s": rate * shape.seq_length,
            "payload_MB_per_s": shape.payload_bytes(int(rate), len(plan.label_columns)) / 1e6,
        },
    )


def servicer_limit(engine: Engine, shape: Shape, seconds: float) -> Row:
    """Windows/s of the servicer's own generator (plan lookup, batches, serialized messages),
    with no transport: remote minus this is the cost of gRPC itself."""
    from peaksql.server.config import Limits
    from peaksql.server.engine.dataset_engine import DatasetEngine
    from peaksql.server.rpc.service import PeakSQLServicer

    datasets = DatasetEngine(engine.db, engine.store, Limits())
    conditions = engine.catalog.peak_conditions
    watch = Stopwatch()
    epoch = 0
    while watch.first is None or watch.steady_seconds < seconds:
        request = pb.StreamRequest(
            spec=shape.spec(conditions).to_proto(),
            batch_size=shape.batch_size,
            shuffle=True,
            seed=SEED,
            cursor=pb.Cursor(epoch=epoch, rank=0, world_size=1),
        )
        plan = datasets.plan(shape.spec(conditions))
        for _message in PeakSQLServicer._messages(plan, request):  # what a stream sends
            watch.tick(shape.batch_size)  # an epoch's last, short batch counts as full
            if watch.steady_seconds >= seconds:
                break
        epoch += 1
    rate = watch.windows_per_second()
    return Row(
        "in-process",
        "servicer generator (no transport)",
        shape.name,
        {"windows_per_s": rate, "bases_per_s": rate * shape.seq_length},
    )


def engine_breakdown(plan: Plan, shape: Shape, num_batches: int) -> Row:
    """Microseconds per batch in each step of building and encoding one batch."""
    steps: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], object]) -> object:
        began = time.perf_counter()
        value = fn()
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - began
        return value

    n = plan.num_windows
    for k in range(num_batches):
        cursor = Cursor(0, 0, 1, (k * shape.batch_size) % max(1, n - shape.batch_size))
        positions = timed("order", lambda c=cursor: positions_for(c, shape.batch_size, n))
        indices = timed("order", lambda p=positions: window_indices(p, n, SEED, 0, True))
        regions, starts = timed("locate", lambda i=indices: plan.windows.locate(i))  # type: ignore[misc]
        timed("gather_pack", lambda r=regions, s=starts: gather_sequences(plan, r, s))
        timed("labels", lambda r=regions, s=starts: label_windows(plan, r, s))
    batches = iter_batches(plan, Cursor(0, 0, 1, 0), shape.batch_size, shuffle=True, seed=SEED)
    for batch, _ in zip(batches, range(num_batches), strict=False):
        message = timed("message", lambda b=batch: batch_message(b, shape.seq_length, False))
        timed("serialize", lambda m=message: m.SerializeToString())  # type: ignore[attr-defined]
    values = {f"{name}_us": 1e6 * total / num_batches for name, total in steps.items()}
    return Row("in-process", "engine time per batch", shape.name, values)


class LocalLoader:
    """What a lab rewrites: pyfaidx per window, numpy one-hot, searchsorted labels."""

    def __init__(self, catalog: Catalog, plan: Plan) -> None:
        import pyfaidx

        self.fasta = pyfaidx.Fasta(str(catalog.fasta), as_raw=True, sequence_always_upper=True)
        self.plan = plan
        self.acgt = np.frombuffer(b"ACGT", np.uint8)
        self.peaks = [_merged_peaks(path) for path in catalog.peak_files]

    def batch(self, indices: np.ndarray, seq_length: int) -> tuple[np.ndarray, np.ndarray]:
        regions, starts = self.plan.windows.locate(indices)
        names = [self.plan.region_names[r][1] for r in regions]
        text = b"".join(
            self.fasta[name][int(s) : int(s) + seq_length].encode()
            for name, s in zip(names, starts, strict=True)
        )
        codes = np.frombuffer(text, np.uint8).reshape(len(names), seq_length)
        x = (codes[:, :, None] == self.acgt).astype(np.float32)
        y = np.zeros((len(names), len(self.peaks)), np.float32)
        for c, by_chromosome in enumerate(self.peaks):
            for name in set(names):
                rows = np.flatnonzero(np.array(names) == name)
                peak_starts, peak_ends = by_chromosome.get(name, (np.zeros(0), np.zeros(0)))
                s = starts[rows]
                first = np.searchsorted(peak_ends, s, side="right")
                last = np.searchsorted(peak_starts, s + seq_length, side="left")
                y[rows, c] = first < last
        return x, y


def _merged_peaks(path) -> dict[str, tuple[np.ndarray, np.ndarray]]:  # type: ignore[no-untyped-def]
    """Per chromosome, the union of a narrowPeak file's intervals (sorted starts, ends)."""
    by_chromosome: dict[str, list[tuple[int, int]]] = {}
    for line in path.read_text().splitlines():
        chrom, start, end = line.split("\t")[:3]
        by_chromosome.setdefault(chrom, []).append((int(start), int(end)))
    merged = {}
    for chrom, pairs in by_chromosome.items():
        pairs.sort()
        out: list[list[int]] = []
        for s, e in pairs:
            if out and s <= out[-1][1]:
                out[-1][1] = max(out[-1][1], e)
            else:
                out.append([s, e])
        array = np.array(out, np.int64)
        merged[chrom] = (array[:, 0].copy(), array[:, 1].copy())
    return merged


def local_loader(catalog: Catalog, plan: Plan, shape: Shape, seconds: float) -> Row:
    """Windows/s of the pyfaidx + numpy loader over the same shuffled windows."""
    loader = LocalLoader(catalog, plan)
    n = plan.num_windows
    watch = Stopwatch()
    delivered = 0
    while watch.steady_seconds < seconds or watch.first is None:
        positions = positions_for(Cursor(0, 0, 1, delivered % n), shape.batch_size, n)
        loader.batch(window_indices(positions, n, SEED, 0, True), shape.seq_length)
        delivered += positions.size
        watch.tick(int(positions.size))
    rate = watch.windows_per_second()
    return Row(
        "baseline",
        "local loader (pyfaidx + numpy)",
        shape.name,
        {"windows_per_s": rate, "bases_per_s": rate * shape.seq_length},
    )


def decode_speed(plan: Plan, shape: Shape, seconds: float) -> Row:
    """Client decode, packed message bytes -> float32 one-hot, on one core (GB/s of output)."""
    batch = next(iter_batches(plan, Cursor(0, 0, 1, 0), shape.batch_size, shuffle=True, seed=SEED))
    payload = batch_message(batch, shape.seq_length, False).SerializeToString()
    sequences = pb.Batch.FromString(payload).sequences
    calls = 0
    began = time.perf_counter()
    while True:
        x = unpack_sequences(sequences, batch.batch_size, shape.seq_length)
        calls += 1
        elapsed = time.perf_counter() - began
        if elapsed >= seconds:
            break
    return Row(
        "client decode",
        "packed -> float32 one-hot (1 core)",
        shape.name,
        {
            "GB_per_s_out": calls * x.nbytes / elapsed / 1e9,
            "us_per_batch": 1e6 * elapsed / calls,
        },
    )


def zero_copy(plan: Plan, shape: Shape) -> Row:
    """Is bytes -> numpy a view? What does reading the bytes field of a parsed message cost?"""
    batch = next(iter_batches(plan, Cursor(0, 0, 1, 0), shape.batch_size, shuffle=True, seed=SEED))
    message = pb.Batch.FromString(batch_message(batch, shape.seq_length, False).SerializeToString())
    field_bytes = message.sequences
    view = np.frombuffer(field_bytes, np.uint8)
    is_view = not view.flags.owndata and view.base is field_bytes
    repeats = 200
    began = time.perf_counter()
    for _ in range(repeats):
        message.sequences  # noqa: B018 (the access is what is timed)
    access = (time.perf_counter() - began) / repeats
    began = time.perf_counter()
    for _ in range(repeats):
        pb.Batch.FromString(batch_message(batch, shape.seq_length, False).SerializeToString())
    parse = (time.perf_counter() - began) / repeats
    megabytes = len(field_bytes) / 1e6
    return Row(
        "client decode",
        "zero-copy bytes -> numpy",
        shape.name,
        {
            "bytes_to_numpy_is_view": float(is_view),
            "field_access_us_per_MB": 1e6 * access / megabytes,
            "encode_parse_us_per_MB": 1e6 * parse / megabytes,
            "field_is_same_object": float(message.sequences is message.sequences),
        },
        "reading a bytes field of a upb message copies it",
    )


def profile(fn: Callable[[], object], top: int = 12) -> str:
    """cProfile of ``fn()``: the ``top`` functions by cumulative time, as text."""
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(top)
    return text.getvalue()

"""Training-ready sampling over real servers: the FASTA (pyfaidx) as the oracle, two server
processes, kill -9 and resume, elastic resume across world sizes, tokens.

Catalog: ``tests.servers``' ``mini`` assembly with conditions heart and liver, plus a
``blacklist`` BED condition that every spec here excludes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyfaidx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import peaksql
from peaksql.core.errors import InvalidArgument
from peaksql.dataset import Dataset
from peaksql.server.catalog.database import open_database
from peaksql.server.ingest.intervals import add_data
from tests import reference
from tests.servers import ASSEMBLY, ServerProcess, Truth, build_catalog, running_server

SEQ_LENGTH = 60
BLACKLIST = [("chr1", 500, 800), ("chr2", 100, 130), ("chr2", 1500, 2100), ("chr3", 0, 40)]
FEATURES = {
    "seq_length": SEQ_LENGTH,
    "stride": 25,
    "label": "per_base",
    "exclude": ("blacklist",),
    "negatives_per_positive": 1.0,
    "reverse_complement": "random",
    "max_shift": 12,
    "seed": 5,
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("sampling-remote")
    data_dir = root / "data"
    db_url = f"sqlite:///{root / 'catalog.db'}"
    build_catalog(db_url, data_dir)
    bed = root / "blacklist.bed"
    bed.write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in BLACKLIST))
    engine = open_database(db_url, data_dir=data_dir)
    add_data(engine, bed, ASSEMBLY, "blacklist", "bed", progress=False)
    engine.dispose()
    return db_url, data_dir


@pytest.fixture(scope="module")
def address(catalog: tuple[str, Path]):  # type: ignore[no-untyped-def]
    with running_server(*catalog) as server:
        yield f"127.0.0.1:{server.port}"


def epoch_of(address: str, **kwargs: object) -> list[tuple[np.ndarray, ...]]:
    with peaksql.Client(address) as client:
        args = {"include_coordinates": True, "batch_size": 16, "shuffle": True, **kwargs}
        return list(client.dataset(**{**FEATURES, **args}))


def test_against_the_fasta(catalog: tuple[str, Path], address: str) -> None:
    """x is pyfaidx's sequence (reverse complemented on the reverse strand), labels follow,
    no window touches the blacklist, positives and negatives as Describe says."""
    truth = Truth(catalog[1].parent / "inputs")
    fasta = pyfaidx.Fasta(str(catalog[1].parent / "inputs" / "mini.fa"))
    names = ["chr1", "chr2", "chr3"]
    batches = epoch_of(address, policy="mask", epoch=1)
    with peaksql.Client(address) as client:
        described = client.describe(client.dataset(**FEATURES).spec)
    rows = [(x, y, c) for b in batches for x, y, c in zip(*b, strict=True)]
    assert len(rows) == described.epoch_windows
    available = described.num_windows - described.epoch_positives  # r = 1: all, or as many
    assert described.epoch_negatives == min(described.epoch_positives, available)
    strands = Counter()
    for x, y, (_, region, start, strand) in rows:
        chromosome = names[region]
        text = str(fasta[chromosome][int(start) : int(start) + SEQ_LENGTH])
        labels = truth.labels(_spec(), chromosome, int(start))
        if strand:
            text, labels = reference.reverse_complement(text), labels[:, ::-1]
        assert np.array_equal(x, reference.one_hot_texts([text], "mask")[0])
        assert np.array_equal(y.astype(bool), labels)
        for c, s, e in BLACKLIST:
            assert c != chromosome or start + SEQ_LENGTH <= s or start >= e
        strands[int(strand)] += 1
    assert strands[0] and strands[1]
    fasta.close()


def _spec():  # type: ignore[no-untyped-def]
    return peaksql.DatasetSpec(**FEATURES)


def test_tokens_match_the_sequence(catalog: tuple[str, Path], address: str) -> None:
    fasta = pyfaidx.Fasta(str(catalog[1].parent / "inputs" / "mini.fa"))
    names = ["chr1", "chr2", "chr3"]
    for encoding, table in (("tokens", reference.TOKENS), ("iupac_tokens", reference.IUPAC_TOKENS)):
        for x, _, coordinates in epoch_of(address, encoding=encoding, dtype=np.int32):
            assert x.dtype == np.int32 and x.shape[1:] == (SEQ_LENGTH,)
            texts = []
            for _, region, start, strand in coordinates:
                text = str(fasta[names[region]][int(start) : int(start) + SEQ_LENGTH])
                texts.append(reference.reverse_complement(text) if strand else text)
            assert np.array_equal(x, reference.tokens_of(texts, table))
    fasta.close()


def _items(batches: list[tuple[np.ndarray, ...]]) -> list[tuple[int, int]]:
    """(window index, strand) of each delivered window."""
    return [(int(c[0]), int(c[3])) for b in batches for c in b[2]]


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    old=st.sampled_from([4, 2, 3]),
    new=st.sampled_from([3, 2, 1]),
    steps=st.integers(0, 6),
    which=st.integers(0, 3),
)
def test_elastic_resume_over_a_server(address: str, old: int, new: int, steps: int, which: int):
    """W ranks in lockstep take ``steps`` batches each; one rank's state resumes on W' ranks
    (each restores it); the epoch's items come once, but for equal shares' padding."""
    spec = {**FEATURES, "reverse_complement": "both", "include_coordinates": True}
    with peaksql.Client(address) as client:
        delivered, states = [], []
        for rank in range(old):
            ds = Dataset(client, rank=rank, world_size=old, equal_shares=True, batch_size=8, **spec)
            iterator = iter(ds)
            for _ in range(steps):  # a batch counts as delivered once yielded
                delivered += _items([next(iterator)])
            iterator.close()  # type: ignore[attr-defined]
            states.append(ds.state_dict())
            total = ds.epoch_windows
        state = states[which % old]
        for rank in range(new):
            ds = Dataset(client, rank=rank, world_size=new, equal_shares=True, batch_size=8, **spec)
            ds.load_state_dict(state)
            delivered += _items(list(ds))
    counts = Counter(delivered)
    assert len(counts) == total  # every item of the epoch
    assert len(delivered) - total < old + new  # repeats: padding of the equal shares only


def test_elastic_resume_refuses_unequal_shares(address: str) -> None:
    with peaksql.Client(address) as client:
        state = Dataset(client, rank=1, world_size=4, **FEATURES).state_dict()
        with pytest.raises(InvalidArgument, match="equal_shares"):
            Dataset(client, rank=0, world_size=3, **FEATURES).load_state_dict(state)


def test_two_processes_and_kill_9(catalog: tuple[str, Path]) -> None:
    """Two server processes give the same bytes; a stream killed by SIGKILL resumes from the
    state on the other and the whole is the uninterrupted epoch."""
    with ServerProcess.start(*catalog) as first, ServerProcess.start(*catalog) as second:
        a = epoch_of(first.address, epoch=2)
        b = epoch_of(second.address, epoch=2)
        assert len(a) == len(b) > 3
        for one, two in zip(a, b, strict=True):
            for left, right in zip(one, two, strict=True):
                assert np.array_equal(left, right)
        with peaksql.Client(first.address) as client:
            ds = client.dataset(**FEATURES, include_coordinates=True, batch_size=16, shuffle=True)
            ds.set_epoch(2)
            got = []
            for batch in ds:
                got.append(batch)
                if len(got) == 3:
                    break
            state = ds.state_dict()
        first.kill()
        with peaksql.Client(second.address) as client:
            ds = client.dataset(**FEATURES, include_coordinates=True, batch_size=16, shuffle=True)
            ds.load_state_dict(state)
            got += list(ds)
        assert len(got) == len(b)
        for one, two in zip(got, b, strict=True):
            for left, right in zip(one, two, strict=True):
                assert np.array_equal(left, right)

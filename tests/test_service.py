"""The gRPC service end to end over 127.0.0.1, on SQLite and PostgreSQL.

What a client receives is compared byte for byte with the in-process engine (``iter_batches``
on a plan compiled in the test process) and, independently, with the input files themselves
(FASTA letters read by pyfaidx, labels computed base by base from the narrowPeak lines).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import peaksql
from peaksql.core.errors import InvalidArgument
from peaksql.core.spec import DatasetSpec
from peaksql.core.wire import pack_labels, unpack_labels, unpack_sequences
from peaksql.dataset import Dataset
from peaksql.server.engine.batches import positive_counts
from peaksql.v1 import peaksql_pb2 as pb
from tests.servers import (
    CHROMOSOME_LENGTHS,
    Reference,
    Truth,
    build_catalog,
    running_server,
)

SEQ_LENGTH = 201  # odd: the last byte of each row carries a pad nibble
SAMPLINGS = {
    "stride": {"stride": 150},
    "random": {"random": 90},
    "around_intervals": {"around_intervals": True, "max_jitter": 25},
}
LABELS = {
    "any": {"label": "any"},
    "all": {"label": "all", "inner_range": 40},
    "fraction": {"label": "fraction", "fraction": 0.3},
    "summit": {"label": "summit", "inner_range": 101},
    "per_base": {"label": "per_base", "inner_range": 64},
}
#: (shuffle, seed, epoch, rank, world_size, equal_shares) of the streams compared.
ORDERS = ((False, 0, 0, 0, 1, False), (True, 5, 2, 1, 2, True))


@pytest.fixture
def catalog(db_url: str, data_dir: Path) -> tuple[str, Path]:
    build_catalog(db_url, data_dir)
    return db_url, data_dir


@pytest.fixture
def reference(catalog: tuple[str, Path]):  # type: ignore[no-untyped-def]
    ref = Reference(*catalog)
    yield ref
    ref.close()


@pytest.fixture
def server(catalog: tuple[str, Path]):  # type: ignore[no-untyped-def]
    with running_server(*catalog) as running:
        yield running


@pytest.fixture
def client(server):  # type: ignore[no-untyped-def]
    with peaksql.Client(f"127.0.0.1:{server.port}") as c:
        yield c


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory) -> Truth:
    folder = tmp_path_factory.mktemp("truth")
    build_catalog(f"sqlite:///{folder / 'catalog.db'}", folder / "data")
    return Truth(folder / "inputs")


def stream_request(spec: DatasetSpec, batch_size: int, order: tuple) -> pb.StreamRequest:
    shuffle, seed, epoch, rank, world_size, equal = order
    return pb.StreamRequest(
        spec=spec.to_proto(),
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        cursor=pb.Cursor(epoch=epoch, rank=rank, world_size=world_size),
        equal_shares=equal,
        include_coordinates=True,
    )


def coordinates(batch: pb.Batch) -> np.ndarray:
    c = batch.coordinates
    return np.stack(
        [np.frombuffer(b, "<i8") for b in (c.window_index, c.region_index, c.start)], axis=1
    )


def assert_same_batches(received: list[pb.Batch], expected: list, seq_length: int) -> None:
    assert len(received) == len(expected)
    for got, want in zip(received, expected, strict=True):
        assert got.sequences == want.sequences.tobytes()
        assert (got.batch_size, got.seq_length) == (want.batch_size, seq_length)
        data, shape, dtype = pack_labels(want.labels)
        assert (got.labels.data, tuple(got.labels.shape), got.labels.dtype) == (data, shape, dtype)
        np.testing.assert_array_equal(
            unpack_labels(got.labels.data, tuple(got.labels.shape), got.labels.dtype), want.labels
        )
        np.testing.assert_array_equal(
            coordinates(got), np.stack([want.window_indices, want.regions, want.starts], axis=1)
        )
        assert got.cursor.delivered == want.cursor.delivered


def test_stream_equals_engine_in_every_sampling_and_label_mode(client, reference, truth) -> None:
    regions = list(CHROMOSOME_LENGTHS)
    for sampling, sampling_args in SAMPLINGS.items():
        for mode, label_args in LABELS.items():
            spec = DatasetSpec(seq_length=SEQ_LENGTH, seed=11, **sampling_args, **label_args)
            for order in ORDERS:
                shuffle, seed, epoch, rank, world, equal = order
                received = list(client.stream(stream_request(spec, 7, order)))
                expected = reference.batches(
                    spec,
                    7,
                    shuffle=shuffle,
                    seed=seed,
                    epoch=epoch,
                    rank=rank,
                    world_size=world,
                    equal_shares=equal,
                )
                assert expected, (sampling, mode, order)
                assert_same_batches(received, expected, SEQ_LENGTH)
            # independent oracle: every window of the epoch against the input files
            seen = np.concatenate(
                [
                    unpack_labels(b.labels.data, tuple(b.labels.shape), b.labels.dtype)
                    for b in received
                ]
            )
            assert seen.any() and not seen.all(), (sampling, mode)  # both outcomes occur
            for batch in received:
                rows = np.frombuffer(batch.sequences, np.uint8).reshape(batch.batch_size, -1)
                labels = unpack_labels(
                    batch.labels.data, tuple(batch.labels.shape), batch.labels.dtype
                )
                for row, label, (_, region, start) in zip(
                    rows, labels, coordinates(batch), strict=True
                ):
                    chromosome = regions[region]
                    assert 0 <= start <= CHROMOSOME_LENGTHS[chromosome] - SEQ_LENGTH
                    assert row.tobytes() == truth.packed(chromosome, start, SEQ_LENGTH)
                    want = truth.labels(spec, chromosome, start)
                    np.testing.assert_array_equal(label, want, err_msg=f"{sampling} {mode}")


def test_stride_windows_tile_each_chromosome_in_order(client) -> None:
    spec = DatasetSpec(seq_length=SEQ_LENGTH, stride=150)
    received = list(client.stream(stream_request(spec, 10, ORDERS[0])))
    got = np.concatenate([coordinates(b) for b in received])
    expected = [
        (k, start)
        for k, length in enumerate(CHROMOSOME_LENGTHS.values())
        for start in range(0, length - SEQ_LENGTH + 1, 150)
    ]
    np.testing.assert_array_equal(got[:, 0], np.arange(len(expected)))
    np.testing.assert_array_equal(got[:, 1:], np.array(expected))


def test_a_small_first_message_carries_the_same_windows(client) -> None:
    """``first_batch_size``: the first message is that small, the rest ``batch_size``, and
    the windows, their order and the cursors are those of equal messages."""
    spec = DatasetSpec(seq_length=SEQ_LENGTH, stride=40)
    whole = list(client.stream(stream_request(spec, 10, ORDERS[1])))
    request = stream_request(spec, 10, ORDERS[1])
    request.first_batch_size = 3
    split = list(client.stream(request))
    assert [b.batch_size for b in split[:3]] == [3, 10, 10]
    assert [b.cursor.delivered for b in split[:2]] == [3, 13]
    np.testing.assert_array_equal(
        np.concatenate([coordinates(b) for b in split]),
        np.concatenate([coordinates(b) for b in whole]),
    )
    request.first_batch_size = 11
    with pytest.raises(InvalidArgument, match="first_batch_size 11 is over batch_size 10"):
        list(client.stream(request))
    data = Dataset(client, seq_length=SEQ_LENGTH, stride=40, batch_size=4)
    assert data._request(data.windows_per_message()).first_batch_size == 4


def test_constraint_restricts_regions_and_labelling_intervals(client, reference, truth) -> None:
    spec = DatasetSpec(
        seq_length=SEQ_LENGTH, stride=97, where="chromosome != 'chr2' AND p_value > 8"
    )
    description = client.describe(spec)
    assert [r.chromosome for r in description.regions] == ["chr1", "chr3"]
    assert description.region_constraint and "p_value" in description.interval_constraint
    received = list(client.stream(stream_request(spec, 16, ORDERS[0])))
    assert_same_batches(received, reference.batches(spec, 16), SEQ_LENGTH)
    for batch in received:
        labels = unpack_labels(batch.labels.data, tuple(batch.labels.shape), batch.labels.dtype)
        for label, (_, region, start) in zip(labels, coordinates(batch), strict=True):
            chromosome = ("chr1", "chr3")[region]
            assert label.tolist() == truth.labels(spec, chromosome, start, 8.0).tolist()


def test_mostly_zero_labels_travel_sparse_and_users_get_dense_arrays(client, reference) -> None:
    """Few positives per batch: ``bool-sparse`` on the wire, the same (B, C) for users."""
    spec = DatasetSpec(seq_length=SEQ_LENGTH, stride=50, label="summit", inner_range=1)
    received = list(client.stream(stream_request(spec, 16, ORDERS[0])))
    assert "bool-sparse" in {b.labels.dtype for b in received}
    assert_same_batches(received, reference.batches(spec, 16), SEQ_LENGTH)
    train = Dataset(
        client, seq_length=SEQ_LENGTH, stride=50, label="summit", inner_range=1, batch_size=16
    )
    for (_, y), want in zip(train, reference.batches(spec, 16), strict=True):
        assert y.shape == want.labels.shape and y.ndim == 2
        np.testing.assert_array_equal(y, want.labels)


def test_describe_can_skip_counting_positives(client, reference) -> None:
    spec = DatasetSpec(seq_length=SEQ_LENGTH, stride=50, label="any")
    full = client.describe(spec)
    cheap = client.describe(spec, count_positives=False)
    assert any(full.num_positive) and cheap.num_positive == (0,) * len(full.label_columns)
    assert (cheap.num_windows, cheap.regions, cheap.label_columns) == (
        full.num_windows,
        full.regions,
        full.label_columns,
    )
    plan = reference.plan(spec)
    np.testing.assert_array_equal(full.num_positive, positive_counts(plan))


def test_dataset_decodes_the_engine_bytes(client, reference) -> None:
    for policy, dtype in (("zeros", np.float32), ("uniform", np.float16), ("mask", np.uint8)):
        train = Dataset(
            client,
            seq_length=SEQ_LENGTH,
            stride=120,
            label="per_base",
            inner_range=10,
            batch_size=9,
            shuffle=True,
            seed=4,
            policy=policy,
            dtype=dtype,
            label_dtype=np.int64,
        )
        expected = reference.batches(train.spec, 9, shuffle=True, seed=4)
        got = list(train)
        assert len(got) == len(expected) == len(train)
        for (x, y), want in zip(got, expected, strict=True):
            assert x.dtype == dtype and y.dtype == np.int64
            reference_x = unpack_sequences(
                want.sequences, want.batch_size, SEQ_LENGTH, policy=policy, dtype=dtype
            )
            np.testing.assert_array_equal(x, reference_x)
            np.testing.assert_array_equal(y, want.labels.astype(np.int64))


def test_random_policy_is_reproducible_and_resolves_every_base(client) -> None:
    def epoch(seed: int) -> list[np.ndarray]:
        train = Dataset(client, seq_length=SEQ_LENGTH, batch_size=8, seed=seed, policy="random")
        return [x for x, _ in train]

    first, again, other = epoch(1), epoch(1), epoch(2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    for x in first:  # every base is one-hot or a gap
        assert set(np.unique(x.sum(axis=2))) <= {0.0, 1.0}


def test_len_getitem_and_get_batch_match_the_engine(client, reference) -> None:
    train = Dataset(client, seq_length=SEQ_LENGTH, random=50, seed=3, batch_size=8)
    plan = reference.plan(train.spec)
    assert train.num_windows == plan.num_windows == 50
    assert len(train) == 7  # ceil(50 / 8)
    from peaksql.server.engine.batches import build_batch

    for i in (0, 17, 49, -1):
        x, y = train[i]
        want = build_batch(plan, np.array([i % 50]))
        np.testing.assert_array_equal(x, unpack_sequences(want.sequences, 1, SEQ_LENGTH)[0])
        np.testing.assert_array_equal(y, want.labels[0])
    with pytest.raises(IndexError):
        train[50]
    indices = [42, 3, 3, 0]
    x, y = train.get_batch(indices)
    want = build_batch(plan, np.array(indices))
    np.testing.assert_array_equal(x, unpack_sequences(want.sequences, 4, SEQ_LENGTH))
    np.testing.assert_array_equal(y, want.labels)


def test_len_counts_this_ranks_batches(client) -> None:
    for world, rank, equal in ((3, 0, False), (3, 2, False), (4, 3, True)):
        train = Dataset(
            client,
            seq_length=SEQ_LENGTH,
            random=50,
            batch_size=4,
            rank=rank,
            world_size=world,
            equal_shares=equal,
        )
        assert len(train) == len(list(train))


def test_set_epoch_reshuffles_reproducibly(client) -> None:
    def order(epoch: int, seed: int = 9) -> list[int]:
        train = Dataset(
            client,
            seq_length=SEQ_LENGTH,
            stride=50,
            batch_size=16,
            shuffle=True,
            seed=seed,
            include_coordinates=True,
        )
        train.set_epoch(epoch)
        return np.concatenate([c[:, 0] for _, _, c in train]).tolist()

    first, second = order(0), order(1)
    assert sorted(first) == sorted(second) == list(range(len(first)))
    assert first != second
    assert order(1) == second
    assert order(1, seed=10) != second


def test_iteration_moves_to_the_next_epoch(client) -> None:
    train = Dataset(
        client,
        seq_length=SEQ_LENGTH,
        stride=200,
        batch_size=16,
        shuffle=True,
        seed=2,
        include_coordinates=True,
    )
    first = np.concatenate([c[:, 0] for _, _, c in train])
    assert train.state_dict()["epoch"] == 1 and train.state_dict()["delivered"] == 0
    second = np.concatenate([c[:, 0] for _, _, c in train])
    train.set_epoch(1)
    again = np.concatenate([c[:, 0] for _, _, c in train])
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(second, again)

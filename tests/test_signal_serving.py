"""Signal labels where they meet serving: batch byte limits by label dtype, summit refused over
signal columns, reverse-complement augmentation (bins reversed, stranded pairs swapped) and
``missing="mask"`` on stream batches. The bundled example, SQLite (and PostgreSQL)."""

from __future__ import annotations

import numpy as np
import pytest

from peaksql.core.errors import InvalidArgument, ResourceExhausted
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.config import Limits
from peaksql.server.engine import augment
from peaksql.server.engine.batches import build_batch, build_epoch_batch
from peaksql.server.engine.dataset_engine import DatasetEngine
from peaksql.server.engine.epochs import epoch_view
from peaksql.server.engine.plan import compile_plan
from tests.test_signals import catalog  # noqa: F401  (the module-scoped example catalog)

SIGNAL = dict(seq_length=1024, label="signal", bin_size=32, conditions=("gc", "tss"))


def _plan(catalog, **kwargs):  # type: ignore[no-untyped-def]  # noqa: F811
    _, folder, engine = catalog
    return compile_plan(engine, GenomeStore(folder), DatasetSpec(**kwargs))


def test_label_bits_follow_the_wire_dtype(catalog) -> None:  # noqa: F811
    """Bits per window: 32 a float32 label, 16 a float16 one, 32 a class index, 1 a bool."""
    assert _plan(catalog, **SIGNAL).label_bits == 3 * 32 * 32
    assert _plan(catalog, **SIGNAL, label_wire_dtype="float16").label_bits == 3 * 32 * 16
    columns = ("ctcf_peaks", "genes")
    assert _plan(catalog, seq_length=1000, label="class", conditions=columns).label_bits == 32
    one_hot = _plan(
        catalog, seq_length=1000, label="class", one_hot_classes=True, conditions=columns
    )
    assert one_hot.label_bits == 3
    assert _plan(catalog, seq_length=1000, conditions=columns).label_bits == 2


def test_check_batch_counts_float_label_bytes(catalog) -> None:  # noqa: F811
    """100 windows of 1,024 bp with 3 x 32 float32 labels: 100 x (512 + 384) = 89,600 bytes
    (a bit a label would say 52,400); float16 labels: 100 x (512 + 192) = 70,400."""
    _, folder, engine = catalog
    limited = DatasetEngine(engine, GenomeStore(folder), Limits(max_batch_bytes=75_000))
    with pytest.raises(ResourceExhausted, match="89,600 bytes"):
        limited.check_batch(_plan(catalog, **SIGNAL), 100)
    limited.check_batch(_plan(catalog, **SIGNAL, label_wire_dtype="float16"), 100)
    plan = _plan(catalog, **SIGNAL, label_wire_dtype="float16")
    assert build_batch(plan, np.arange(100)).labels.nbytes == 100 * 192


def test_summit_over_signal_columns_is_refused_when_the_plan_compiles(catalog) -> None:  # noqa: F811
    with pytest.raises(InvalidArgument, match=r"summit.*signal"):
        _plan(catalog, seq_length=1000, label="summit", conditions=("gc",))
    with pytest.raises(InvalidArgument, match="summit"):
        _plan(catalog, seq_length=1000, label="summit", conditions=("tss",), bin_size=100)


@pytest.mark.parametrize("wire", ["float32", "float16"])
def test_reverse_complement_reverses_bins_and_swaps_strands(catalog, wire: str) -> None:  # noqa: F811
    """Under reverse_complement="both" item 2j is window j forward, item 2j + 1 the same
    window reverse complemented: its labels are the forward ones with the bins reversed and
    the + and - columns swapped (gc is unstranded: only reversed)."""
    plan = _plan(catalog, **SIGNAL, reverse_complement="both", label_wire_dtype=wire)
    assert plan.label_columns == ["gc", "tss:+", "tss:-"]
    view = epoch_view(plan, 0)
    items = np.arange(0, 2 * 300, dtype=np.int64)
    batch = build_epoch_batch(plan, view, items)
    forward, reverse = batch.labels[0::2], batch.labels[1::2]
    assert batch.strands[1::2].all() and not batch.strands[0::2].any()
    np.testing.assert_array_equal(reverse[:, 0], forward[:, 0, ::-1])
    np.testing.assert_array_equal(reverse[:, 1], forward[:, 2, ::-1])
    np.testing.assert_array_equal(reverse[:, 2], forward[:, 1, ::-1])
    assert np.abs(forward[:, 1:]).sum() > 0  # the tss windows hold signal


def test_class_indices_swap_to_the_partner_strand() -> None:
    """swap_stranded maps class c to its partner; the background class stays."""
    labels = np.array([[0, 1, 2, 3], [1, 1, 3, 2]], dtype=np.int32)
    flip = np.array([True, False])
    augment.swap_stranded(labels, flip, np.array([0, 2, 1]))
    np.testing.assert_array_equal(labels, [[0, 2, 1, 3], [1, 1, 3, 2]])


def test_stream_batches_follow_missing_mask(catalog) -> None:  # noqa: F811
    """Epoch (stream) batches mark missing labels like build_batch does: float32 labels."""
    plan = _plan(catalog, seq_length=1000, conditions=("ctcf_peaks",), missing="mask")
    batch = build_epoch_batch(plan, epoch_view(plan, 0), np.arange(50, dtype=np.int64))
    assert batch.labels.dtype == np.float32
    np.testing.assert_array_equal(batch.labels, build_batch(plan, np.arange(50)).labels)
    with pytest.raises(InvalidArgument, match="mask"):
        DatasetSpec(seq_length=1000, label="class", missing="mask")

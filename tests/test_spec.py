"""DatasetSpec is the one list of dataset fields: the proto, Dataset, TorchDataset and the
registries must agree with it, and every valid spec survives the proto round trip."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from peaksql.client import Client
from peaksql.core.errors import InvalidArgument
from peaksql.core.label_modes import LABEL_MODES, MISSING
from peaksql.core.label_targets import AGGREGATES, LABEL_WIRE_DTYPES, SIGNAL_GAPS, TRANSFORMS
from peaksql.core.spec import SAMPLING_PARAMETERS, SAMPLINGS, DatasetSpec
from peaksql.core.wire import POLICIES, POLICY_REGISTRY
from peaksql.dataset import Dataset
from peaksql.server.engine.constraints import parse_where
from peaksql.server.engine.plan import spec_key
from peaksql.server.engine.samplings import SAMPLING_FUNCTIONS, sampling
from peaksql.v1 import peaksql_pb2 as pb


def proto_paths(descriptor: Any, prefix: str = "") -> set[str]:
    """Leaf fields of a message, dotted through sub-messages; a oneof counts as one path."""
    paths: set[str] = set()
    for f in descriptor.fields:
        oneof = f.containing_oneof
        if oneof is not None and not oneof.name.startswith("_"):  # "_x": proto3 optional
            paths.add(prefix + oneof.name)
        elif f.message_type is not None:
            paths |= proto_paths(f.message_type, f"{prefix}{f.name}.")
        else:
            paths.add(prefix + f.name)
    return paths


def test_spec_fields_are_the_proto_fields() -> None:
    """A field added to the proto or to DatasetSpec alone fails here."""
    spec_paths = {f.metadata.get("proto", f.name) for f in dataclasses.fields(DatasetSpec)}
    assert spec_paths == proto_paths(pb.DatasetSpec.DESCRIPTOR)


#: A non-default value of each spec field; a new field without one fails the test below.
FIELD_EXAMPLES: dict[str, Any] = {
    "seq_length": 12,
    "where": "chromosome = 'chr1'",
    "sampling": "random",
    "sampling_args": (("random", 4),),
    "label": "all",
    "fraction": 0.25,
    "inner_range": 3,
    "conditions": ("a", "b"),
    "max_n_fraction": 0.1,
    "seed": 7,
    "missing": "mask",
    "exclude": ("blacklist",),
    "exclude_fraction": 0.25,
    "negatives_per_positive": 2.0,
    "gc_matched": True,
    "reverse_complement": "both",
    "max_shift": 20,
    "bin_size": 5,
    "aggregate": "max",
    "signal_gaps": "nan",
    "scale": (2.0,),
    "clip_min": 0.0,
    "clip_max": 5.0,
    "transform": "log1p",
    "one_hot_classes": True,
    "label_wire_dtype": "float16",
}


def example_keywords(keyword: str) -> dict[str, Any]:
    """Keywords that set ``keyword`` to a valid, non-default value."""
    if keyword in ("sampling", "sampling_args"):
        return {k: FIELD_EXAMPLES[k] for k in ("sampling", "sampling_args")}
    if keyword in SAMPLINGS:
        valued = keyword in SAMPLINGS[keyword].fields_by_name
        return {keyword: 3 if valued else True}
    if keyword in SAMPLING_PARAMETERS:
        return {**example_keywords(SAMPLING_PARAMETERS[keyword]), keyword: 2}
    if keyword == "gc_matched":  # draws negatives: needs their ratio
        return {"gc_matched": True, "negatives_per_positive": 1.0}
    return {keyword: FIELD_EXAMPLES[keyword]}


def test_dataset_takes_every_spec_keyword_and_declares_none() -> None:
    """Dataset passes the spec's keywords to DatasetSpec and keeps no copy of the list."""
    own = set(inspect.signature(Dataset.__init__).parameters) - {"self", "client", "spec"}
    assert not own & set(DatasetSpec.keywords())
    assert set(DatasetSpec.keywords()) <= set(Dataset.keywords())
    assert not set(SAMPLING_PARAMETERS) & {f.name for f in dataclasses.fields(DatasetSpec)}
    assert set(FIELD_EXAMPLES) == {f.name for f in dataclasses.fields(DatasetSpec)}
    default = DatasetSpec(seq_length=10)
    for keyword in DatasetSpec.keywords():
        kwargs = {"seq_length": 10, **example_keywords(keyword)}
        spec = Dataset(None, **kwargs).spec
        assert spec == DatasetSpec(**kwargs) != default, keyword
    assert Dataset(None, seq_length=10, seed=5).seed == 5  # the spec's seed orders epochs too


def test_torch_dataset_takes_every_client_argument() -> None:
    torch_module = pytest.importorskip("peaksql.torch")
    client_args = [
        p.name
        for p in inspect.signature(Client.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    assert set(torch_module.TorchDataset.CLIENT_ARGS) == set(client_args)
    data = torch_module.TorchDataset("localhost:1", seq_length=10, server_name="x", timeout=3.0)
    assert data.client_args == {"server_name": "x", "timeout": 3.0}
    with pytest.raises(TypeError, match="colour"):
        torch_module.TorchDataset("localhost:1", seq_length=10, colour=1)


def test_registries_match_the_proto_and_each_other() -> None:
    # supersets, not lists: adding a sampling or a label mode must not need an edit here
    assert set(SAMPLING_FUNCTIONS) == set(SAMPLINGS) >= {"stride", "random", "around_intervals"}
    assert list(LABEL_MODES)[:5] == ["any", "all", "fraction", "summit", "per_base"]
    assert tuple(POLICY_REGISTRY) == POLICIES
    for name in SAMPLINGS:
        assert f"``{name}" in (DatasetSpec.__doc__ or "")
    for name in LABEL_MODES:
        assert f"``{name}``" in (DatasetSpec.__doc__ or "")


def test_keywords_read_back_as_before() -> None:
    tiled = DatasetSpec(seq_length=10)
    assert (tiled.sampling, tiled.stride, tiled.random, tiled.around_intervals) == (
        "stride",
        10,
        None,
        False,
    )
    around = DatasetSpec(seq_length=31, around_intervals=True, max_jitter=9)
    assert (around.sampling, around.max_jitter, around.stride) == ("around_intervals", 9, None)
    assert DatasetSpec(10, random=80).random == 80
    assert dataclasses.replace(tiled, random=5).sampling_kwargs == {"random": 5}
    assert dataclasses.replace(around, max_jitter=2).max_jitter == 2
    assert DatasetSpec(seq_length=10, stride=np.int64(4)).stride == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seq_length": 0}, "seq_length must be positive"),
        ({"seq_length": 10, "stride": 0}, "stride must be positive"),
        ({"seq_length": 10, "random": 0}, "random must be positive"),
        (
            {"seq_length": 10, "random": 3, "stride": 2},
            "choose one sampling, not stride and random",
        ),
        ({"seq_length": 10, "label": "x"}, "choose one of any, all, fraction, summit, per_base"),
        ({"seq_length": 10, "label": "fraction", "fraction": 0}, r"fraction must be in \(0, 1\]"),
        ({"seq_length": 10, "inner_range": 11}, "inner_range must be between 0 and seq_length"),
        ({"seq_length": 10, "sampling": "tiles"}, "choose one of stride, random, around_intervals"),
        ({"seq_length": 10, "around_intervals": True, "max_jitter": -1}, "max_jitter must be >= 0"),
    ],
)
def test_invalid_specs_name_the_problem(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        DatasetSpec(**kwargs)


def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="colour"):
        DatasetSpec(seq_length=10, colour=1)
    with pytest.raises(TypeError, match="seq_length"):
        DatasetSpec(stride=3)


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_uint64 = st.integers(0, 2**64 - 1)


@st.composite
def specs(draw: st.DrawFn) -> DatasetSpec:
    """Any valid spec, drawn from the registries and the proto (no per-sampling code)."""
    seq_length = draw(st.integers(1, 2**64 - 1))
    name = draw(st.sampled_from(list(SAMPLINGS)))
    args = {}
    for p in SAMPLINGS[name].fields:
        options = p.GetOptions()
        low = options.Extensions[pb.minimum] if options.HasExtension(pb.minimum) else 0
        args[p.name] = draw(st.integers(low, 2**64 - 1))
    label = draw(st.sampled_from(list(LABEL_MODES)))
    inner_range = draw(st.integers(0, seq_length))
    clips = sorted(draw(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=2)))
    kwargs = dict(
        seq_length=seq_length,
        where=draw(_text),
        sampling=name,
        sampling_args=tuple(args.items()),
        label=label,
        fraction=draw(st.floats(0, 1, exclude_min=True)),
        inner_range=inner_range,
        conditions=tuple(draw(st.lists(_text, max_size=4))),
        max_n_fraction=draw(st.none() | st.floats(allow_nan=False)),
        seed=draw(_uint64),
        missing=draw(st.sampled_from(list(MISSING))),
        bin_size=draw(st.sampled_from([0, inner_range or seq_length])),
        aggregate=draw(st.sampled_from(AGGREGATES)),
        signal_gaps=draw(st.sampled_from(SIGNAL_GAPS)),
        scale=tuple(draw(st.lists(st.floats(-1e6, 1e6), max_size=3))),
        clip_min=draw(st.none() | st.just(clips[0])),
        clip_max=draw(st.none() | st.just(clips[1])),
        transform=draw(st.sampled_from(TRANSFORMS)),
        one_hot_classes=draw(st.booleans()),
        label_wire_dtype=draw(st.sampled_from(LABEL_WIRE_DTYPES)),
    )
    try:
        return DatasetSpec(**kwargs)
    except InvalidArgument:  # a combination a mode's own check refuses (class with mask)
        assume(False)
        raise


@settings(max_examples=300, deadline=None)
@given(spec=specs())
def test_every_valid_spec_round_trips_through_the_proto(spec: DatasetSpec) -> None:
    message = spec.to_proto()
    assert DatasetSpec.from_proto(message) == spec
    assert DatasetSpec.from_proto(pb.DatasetSpec.FromString(message.SerializeToString())) == spec
    again = DatasetSpec(**{f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)})
    assert again == spec and hash(again) == hash(spec)


def test_plan_key_covers_every_field() -> None:
    base = DatasetSpec(seq_length=20, stride=5)
    where = parse_where("")
    changed = [
        dataclasses.replace(base, seq_length=21),
        dataclasses.replace(base, stride=6),
        dataclasses.replace(base, random=5),
        dataclasses.replace(base, label="all"),
        dataclasses.replace(base, fraction=0.25),
        dataclasses.replace(base, inner_range=3),
        dataclasses.replace(base, conditions=("a",)),
        dataclasses.replace(base, max_n_fraction=0.1),
        dataclasses.replace(base, seed=1),
        dataclasses.replace(base, missing="mask"),
    ]
    keys = {spec_key(s, where) for s in [base, *changed]}
    assert len(keys) == len(changed) + 1


def test_a_sampling_outside_the_proto_is_refused() -> None:
    with pytest.raises(ValueError, match="oneof sampling"):
        sampling("tiles")(lambda spec, source, rng: source)
    with pytest.raises(ValueError, match="twice"):
        sampling("stride")(lambda spec, source, rng: source)

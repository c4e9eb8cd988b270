from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
MINIMUM_FIELD_NUMBER: _ClassVar[int]
minimum: _descriptor.FieldDescriptor

class DatasetSpec(_message.Message):
    __slots__ = ("where", "seq_length", "stride", "random", "around_intervals", "label", "conditions", "max_n_fraction", "seed", "exclude", "exclude_fraction", "negatives_per_positive", "gc_matched", "reverse_complement", "max_shift")
    WHERE_FIELD_NUMBER: _ClassVar[int]
    SEQ_LENGTH_FIELD_NUMBER: _ClassVar[int]
    STRIDE_FIELD_NUMBER: _ClassVar[int]
    RANDOM_FIELD_NUMBER: _ClassVar[int]
    AROUND_INTERVALS_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_N_FRACTION_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FRACTION_FIELD_NUMBER: _ClassVar[int]
    NEGATIVES_PER_POSITIVE_FIELD_NUMBER: _ClassVar[int]
    GC_MATCHED_FIELD_NUMBER: _ClassVar[int]
    REVERSE_COMPLEMENT_FIELD_NUMBER: _ClassVar[int]
    MAX_SHIFT_FIELD_NUMBER: _ClassVar[int]
    where: str
    seq_length: int
    stride: StrideSampling
    random: RandomSampling
    around_intervals: IntervalSampling
    label: LabelSpec
    conditions: _containers.RepeatedScalarFieldContainer[str]
    max_n_fraction: float
    seed: int
    exclude: _containers.RepeatedScalarFieldContainer[str]
    exclude_fraction: float
    negatives_per_positive: float
    gc_matched: bool
    reverse_complement: str
    max_shift: int
    def __init__(self, where: _Optional[str] = ..., seq_length: _Optional[int] = ..., stride: _Optional[_Union[StrideSampling, _Mapping]] = ..., random: _Optional[_Union[RandomSampling, _Mapping]] = ..., around_intervals: _Optional[_Union[IntervalSampling, _Mapping]] = ..., label: _Optional[_Union[LabelSpec, _Mapping]] = ..., conditions: _Optional[_Iterable[str]] = ..., max_n_fraction: _Optional[float] = ..., seed: _Optional[int] = ..., exclude: _Optional[_Iterable[str]] = ..., exclude_fraction: _Optional[float] = ..., negatives_per_positive: _Optional[float] = ..., gc_matched: _Optional[bool] = ..., reverse_complement: _Optional[str] = ..., max_shift: _Optional[int] = ...) -> None: ...

class StrideSampling(_message.Message):
    __slots__ = ("stride",)
    STRIDE_FIELD_NUMBER: _ClassVar[int]
    stride: int
    def __init__(self, stride: _Optional[int] = ...) -> None: ...

class RandomSampling(_message.Message):
    __slots__ = ("random",)
    RANDOM_FIELD_NUMBER: _ClassVar[int]
    random: int
    def __init__(self, random: _Optional[int] = ...) -> None: ...

class IntervalSampling(_message.Message):
    __slots__ = ("max_jitter",)
    MAX_JITTER_FIELD_NUMBER: _ClassVar[int]
    max_jitter: int
    def __init__(self, max_jitter: _Optional[int] = ...) -> None: ...

class LabelSpec(_message.Message):
    __slots__ = ("mode", "fraction", "inner_range", "missing", "bin_size", "aggregate", "signal_gaps", "scale", "clip_min", "clip_max", "transform", "one_hot_classes", "wire_dtype")
    MODE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    INNER_RANGE_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    BIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_GAPS_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    CLIP_MIN_FIELD_NUMBER: _ClassVar[int]
    CLIP_MAX_FIELD_NUMBER: _ClassVar[int]
    TRANSFORM_FIELD_NUMBER: _ClassVar[int]
    ONE_HOT_CLASSES_FIELD_NUMBER: _ClassVar[int]
    WIRE_DTYPE_FIELD_NUMBER: _ClassVar[int]
    mode: str
    fraction: float
    inner_range: int
    missing: str
    bin_size: int
    aggregate: str
    signal_gaps: str
    scale: _containers.RepeatedScalarFieldContainer[float]
    clip_min: float
    clip_max: float
    transform: str
    one_hot_classes: bool
    wire_dtype: str
    def __init__(self, mode: _Optional[str] = ..., fraction: _Optional[float] = ..., inner_range: _Optional[int] = ..., missing: _Optional[str] = ..., bin_size: _Optional[int] = ..., aggregate: _Optional[str] = ..., signal_gaps: _Optional[str] = ..., scale: _Optional[_Iterable[float]] = ..., clip_min: _Optional[float] = ..., clip_max: _Optional[float] = ..., transform: _Optional[str] = ..., one_hot_classes: _Optional[bool] = ..., wire_dtype: _Optional[str] = ...) -> None: ...

class Cursor(_message.Message):
    __slots__ = ("epoch", "rank", "world_size", "delivered", "offset")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    WORLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    rank: int
    world_size: int
    delivered: int
    offset: int
    def __init__(self, epoch: _Optional[int] = ..., rank: _Optional[int] = ..., world_size: _Optional[int] = ..., delivered: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class StreamRequest(_message.Message):
    __slots__ = ("spec", "batch_size", "shuffle", "seed", "cursor", "max_batches", "equal_shares", "include_coordinates", "first_batch_size")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    SHUFFLE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCHES_FIELD_NUMBER: _ClassVar[int]
    EQUAL_SHARES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_COORDINATES_FIELD_NUMBER: _ClassVar[int]
    FIRST_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    spec: DatasetSpec
    batch_size: int
    shuffle: bool
    seed: int
    cursor: Cursor
    max_batches: int
    equal_shares: bool
    include_coordinates: bool
    first_batch_size: int
    def __init__(self, spec: _Optional[_Union[DatasetSpec, _Mapping]] = ..., batch_size: _Optional[int] = ..., shuffle: _Optional[bool] = ..., seed: _Optional[int] = ..., cursor: _Optional[_Union[Cursor, _Mapping]] = ..., max_batches: _Optional[int] = ..., equal_shares: _Optional[bool] = ..., include_coordinates: _Optional[bool] = ..., first_batch_size: _Optional[int] = ...) -> None: ...

class GetWindowsRequest(_message.Message):
    __slots__ = ("spec", "indices", "include_coordinates")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    INDICES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_COORDINATES_FIELD_NUMBER: _ClassVar[int]
    spec: DatasetSpec
    indices: _containers.RepeatedScalarFieldContainer[int]
    include_coordinates: bool
    def __init__(self, spec: _Optional[_Union[DatasetSpec, _Mapping]] = ..., indices: _Optional[_Iterable[int]] = ..., include_coordinates: _Optional[bool] = ...) -> None: ...

class Tensor(_message.Message):
    __slots__ = ("data", "shape", "dtype")
    DATA_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: str
    def __init__(self, data: _Optional[bytes] = ..., shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[str] = ...) -> None: ...

class Coordinates(_message.Message):
    __slots__ = ("window_index", "region_index", "start", "strand")
    WINDOW_INDEX_FIELD_NUMBER: _ClassVar[int]
    REGION_INDEX_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    STRAND_FIELD_NUMBER: _ClassVar[int]
    window_index: bytes
    region_index: bytes
    start: bytes
    strand: bytes
    def __init__(self, window_index: _Optional[bytes] = ..., region_index: _Optional[bytes] = ..., start: _Optional[bytes] = ..., strand: _Optional[bytes] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("sequences", "batch_size", "seq_length", "labels", "coordinates", "cursor")
    SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    SEQ_LENGTH_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    COORDINATES_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    sequences: bytes
    batch_size: int
    seq_length: int
    labels: Tensor
    coordinates: Coordinates
    cursor: Cursor
    def __init__(self, sequences: _Optional[bytes] = ..., batch_size: _Optional[int] = ..., seq_length: _Optional[int] = ..., labels: _Optional[_Union[Tensor, _Mapping]] = ..., coordinates: _Optional[_Union[Coordinates, _Mapping]] = ..., cursor: _Optional[_Union[Cursor, _Mapping]] = ...) -> None: ...

class ListAssembliesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Chromosome(_message.Message):
    __slots__ = ("name", "length")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    name: str
    length: int
    def __init__(self, name: _Optional[str] = ..., length: _Optional[int] = ...) -> None: ...

class Assembly(_message.Message):
    __slots__ = ("name", "species", "length", "chromosomes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPECIES_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    CHROMOSOMES_FIELD_NUMBER: _ClassVar[int]
    name: str
    species: str
    length: int
    chromosomes: _containers.RepeatedCompositeFieldContainer[Chromosome]
    def __init__(self, name: _Optional[str] = ..., species: _Optional[str] = ..., length: _Optional[int] = ..., chromosomes: _Optional[_Iterable[_Union[Chromosome, _Mapping]]] = ...) -> None: ...

class ListAssembliesResponse(_message.Message):
    __slots__ = ("assemblies",)
    ASSEMBLIES_FIELD_NUMBER: _ClassVar[int]
    assemblies: _containers.RepeatedCompositeFieldContainer[Assembly]
    def __init__(self, assemblies: _Optional[_Iterable[_Union[Assembly, _Mapping]]] = ...) -> None: ...

class ListConditionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Condition(_message.Message):
    __slots__ = ("name", "assembly", "num_intervals", "metadata", "assemblies", "num_runs", "num_tracks")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ASSEMBLY_FIELD_NUMBER: _ClassVar[int]
    NUM_INTERVALS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ASSEMBLIES_FIELD_NUMBER: _ClassVar[int]
    NUM_RUNS_FIELD_NUMBER: _ClassVar[int]
    NUM_TRACKS_FIELD_NUMBER: _ClassVar[int]
    name: str
    assembly: str
    num_intervals: int
    metadata: str
    assemblies: _containers.RepeatedScalarFieldContainer[str]
    num_runs: int
    num_tracks: int
    def __init__(self, name: _Optional[str] = ..., assembly: _Optional[str] = ..., num_intervals: _Optional[int] = ..., metadata: _Optional[str] = ..., assemblies: _Optional[_Iterable[str]] = ..., num_runs: _Optional[int] = ..., num_tracks: _Optional[int] = ...) -> None: ...

class ListConditionsResponse(_message.Message):
    __slots__ = ("conditions",)
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    def __init__(self, conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ("spec", "skip_positives")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SKIP_POSITIVES_FIELD_NUMBER: _ClassVar[int]
    spec: DatasetSpec
    skip_positives: bool
    def __init__(self, spec: _Optional[_Union[DatasetSpec, _Mapping]] = ..., skip_positives: _Optional[bool] = ...) -> None: ...

class Region(_message.Message):
    __slots__ = ("assembly", "chromosome", "length", "num_windows")
    ASSEMBLY_FIELD_NUMBER: _ClassVar[int]
    CHROMOSOME_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    NUM_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    assembly: str
    chromosome: str
    length: int
    num_windows: int
    def __init__(self, assembly: _Optional[str] = ..., chromosome: _Optional[str] = ..., length: _Optional[int] = ..., num_windows: _Optional[int] = ...) -> None: ...

class LabelColumn(_message.Message):
    __slots__ = ("name", "num_positive", "assemblies", "signal_min", "signal_max", "signal_mean", "strand_partner")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUM_POSITIVE_FIELD_NUMBER: _ClassVar[int]
    ASSEMBLIES_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_MIN_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_MAX_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_MEAN_FIELD_NUMBER: _ClassVar[int]
    STRAND_PARTNER_FIELD_NUMBER: _ClassVar[int]
    name: str
    num_positive: int
    assemblies: _containers.RepeatedScalarFieldContainer[str]
    signal_min: float
    signal_max: float
    signal_mean: float
    strand_partner: int
    def __init__(self, name: _Optional[str] = ..., num_positive: _Optional[int] = ..., assemblies: _Optional[_Iterable[str]] = ..., signal_min: _Optional[float] = ..., signal_max: _Optional[float] = ..., signal_mean: _Optional[float] = ..., strand_partner: _Optional[int] = ...) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("num_windows", "regions", "label_columns", "region_constraint", "interval_constraint", "label_shape", "plan_key", "positives_pending", "epoch_windows", "epoch_positives", "epoch_negatives", "gc_max_difference")
    NUM_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    LABEL_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    REGION_CONSTRAINT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_CONSTRAINT_FIELD_NUMBER: _ClassVar[int]
    LABEL_SHAPE_FIELD_NUMBER: _ClassVar[int]
    PLAN_KEY_FIELD_NUMBER: _ClassVar[int]
    POSITIVES_PENDING_FIELD_NUMBER: _ClassVar[int]
    EPOCH_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_POSITIVES_FIELD_NUMBER: _ClassVar[int]
    EPOCH_NEGATIVES_FIELD_NUMBER: _ClassVar[int]
    GC_MAX_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    num_windows: int
    regions: _containers.RepeatedCompositeFieldContainer[Region]
    label_columns: _containers.RepeatedCompositeFieldContainer[LabelColumn]
    region_constraint: str
    interval_constraint: str
    label_shape: _containers.RepeatedScalarFieldContainer[int]
    plan_key: str
    positives_pending: bool
    epoch_windows: int
    epoch_positives: int
    epoch_negatives: int
    gc_max_difference: float
    def __init__(self, num_windows: _Optional[int] = ..., regions: _Optional[_Iterable[_Union[Region, _Mapping]]] = ..., label_columns: _Optional[_Iterable[_Union[LabelColumn, _Mapping]]] = ..., region_constraint: _Optional[str] = ..., interval_constraint: _Optional[str] = ..., label_shape: _Optional[_Iterable[int]] = ..., plan_key: _Optional[str] = ..., positives_pending: _Optional[bool] = ..., epoch_windows: _Optional[int] = ..., epoch_positives: _Optional[int] = ..., epoch_negatives: _Optional[int] = ..., gc_max_difference: _Optional[float] = ...) -> None: ...

"""PeakSQL: genomic training data served over gRPC.

constraint -> plan -> windows -> gather/pack -> Batch -> unpack -> (x, y)

``import peaksql`` is the light client (grpcio, protobuf, numpy); the server lives in
``peaksql.server`` and needs the ``server`` extra.
"""

from peaksql.client import Client
from peaksql.core.errors import (
    AlreadyExists,
    ConstraintError,
    InputFileError,
    InvalidArgument,
    NotFound,
    PeakSQLError,
    ResourceExhausted,
    Unauthenticated,
)
from peaksql.core.spec import DatasetSpec
from peaksql.dataset import Dataset

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "Client",
    "ConstraintError",
    "Dataset",
    "DatasetSpec",
    "InputFileError",
    "InvalidArgument",
    "NotFound",
    "PeakSQLError",
    "ResourceExhausted",
    "Unauthenticated",
    "__version__",
]

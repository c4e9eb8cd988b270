"""PeakSQL: genomic training data served over gRPC.

constraint -> plan -> windows -> gather/pack -> Batch -> unpack -> (x, y)

``import peaksql`` is the light client (grpcio, protobuf, numpy); the server lives in
``peaksql.server`` and needs the ``server`` extra.
"""

from peaksql.errors import (
    AlreadyExists,
    ConstraintError,
    InputFileError,
    InvalidArgument,
    NotFound,
    PeakSQLError,
    ResourceExhausted,
    Unauthenticated,
)

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "ConstraintError",
    "InputFileError",
    "InvalidArgument",
    "NotFound",
    "PeakSQLError",
    "ResourceExhausted",
    "Unauthenticated",
    "__version__",
]

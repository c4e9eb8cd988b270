"""Domain errors. Each subclasses the builtin a caller would catch and carries the gRPC
status code the server aborts with; the client maps the same closed set of codes back.
"""

from __future__ import annotations

import grpc


class PeakSQLError(Exception):
    """Base of every PeakSQL error."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgument(PeakSQLError, ValueError):
    """A request, constraint or spec that can never succeed as written."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class ConstraintError(InvalidArgument):
    """A ``where`` constraint outside the allowed language."""


class InputFileError(InvalidArgument):
    """A malformed input file; the message names the file, the line and the problem."""

    def __init__(self, path: object, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class NotFound(PeakSQLError, LookupError):
    """An assembly, chromosome or condition that does not exist."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(PeakSQLError, ValueError):
    """An assembly or condition name that is taken."""

    code = grpc.StatusCode.ALREADY_EXISTS


class ResourceExhausted(PeakSQLError, RuntimeError):
    """A request over one of the server's limits; the message names the limit."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unauthenticated(PeakSQLError, PermissionError):
    """A call without a valid token."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(PeakSQLError, PermissionError):
    """A caller that may not do this. The PeakSQL server never sends it (it offers no remote
    writes and every valid token may read everything); a proxy in front of it may."""

    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(PeakSQLError, ConnectionError):
    """No server could be reached (every address tried)."""

    code = grpc.StatusCode.UNAVAILABLE


#: status code -> exception class, used by the client to re-raise remote errors.
ERROR_BY_CODE: dict[grpc.StatusCode, type[PeakSQLError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        ResourceExhausted,
        Unauthenticated,
        PermissionDenied,
        Unavailable,
    )
}

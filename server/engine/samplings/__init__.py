"""Samplings: how a plan places its windows, one module each (see ARCHITECTURE.md).

Every module of this package is imported here, and each registers its function with
``@sampling("name")`` (``registry``). To add a sampling: a message and a field of
``oneof sampling`` in the proto (its name is the client keyword), a module here, a test.
"""

from __future__ import annotations

import importlib
import pkgutil

from peaksql.core.spec import SAMPLINGS
from peaksql.server.engine.samplings.registry import (
    SAMPLING_FUNCTIONS,
    Source,
    build_windows,
    sampling,
)

__all__ = ["SAMPLING_FUNCTIONS", "Source", "build_windows", "sampling"]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

_missing = [name for name in SAMPLINGS if name not in SAMPLING_FUNCTIONS]
if _missing:
    raise ImportError(f"the proto's sampling(s) {', '.join(_missing)} have no module here")

"""Training-ready sampling fields of ``DatasetSpec``: their values and rules (shared).

The fields (``exclude``, ``exclude_fraction``, ``negatives_per_positive``, ``gc_matched``,
``reverse_complement``, ``max_shift``) live in the proto and in ``DatasetSpec`` like every
other field; what they mean is the server's (``peaksql.server.engine.exclusion``,
``negatives``, ``augment``). Here: the checks both sides run when a spec is built, so a
client hears of a bad value before it connects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from peaksql.core.errors import InvalidArgument

if TYPE_CHECKING:
    from peaksql.core.spec import DatasetSpec

#: Values of ``reverse_complement``: "" (off; ``False`` and ``None`` read as ""), "random"
#: (each window flipped with probability 1/2, seeded per window and epoch) and "both" (each
#: window delivered forward and reverse, doubling the epoch).
REVERSE_COMPLEMENT_MODES: tuple[str, ...] = ("", "random", "both")

#: GC-fraction histogram bins of ``gc_matched``: 20 bins of width 0.05 over [0, 1], the last
#: one closed (a window of GC fraction 1.0 falls in bin 19).
GC_BINS = 20


def normalise(given: dict[str, Any]) -> None:
    """Spellings the proto cannot hold, rewritten in place: ``reverse_complement=False``."""
    value = given.get("reverse_complement")
    if value is None or value is False:
        given["reverse_complement"] = ""
    elif value is True:
        raise InvalidArgument(
            "reverse_complement takes 'random' or 'both' (or False), not True: say which"
        )


def check(spec: DatasetSpec) -> None:
    """The rules of the training fields, beyond their types and minimums."""
    if spec.reverse_complement not in REVERSE_COMPLEMENT_MODES:
        raise InvalidArgument(
            f"reverse_complement must be False, 'random' or 'both', got {spec.reverse_complement!r}"
        )
    if not 0.0 <= spec.exclude_fraction < 1.0:
        raise InvalidArgument(f"exclude_fraction must be in [0, 1), got {spec.exclude_fraction}")
    if len(set(spec.exclude)) != len(spec.exclude):
        raise InvalidArgument("exclude lists a condition twice")
    both = sorted(set(spec.exclude) & set(spec.conditions))
    if both:
        raise InvalidArgument(f"condition {both[0]!r} is both excluded and a label column")
    r = spec.negatives_per_positive
    if r is not None and not 0.0 <= r <= 1e6:
        raise InvalidArgument(f"negatives_per_positive must be in [0, 1e6], got {r}")
    if spec.gc_matched and r is None:
        raise InvalidArgument("gc_matched draws negatives: set negatives_per_positive too")

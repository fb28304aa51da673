"""The log cursor: per step, the sequence number of the last line a reader has seen."""

from __future__ import annotations

from collections.abc import Mapping

from blastflow.errors import InputError
from blastflow.model import STEP_ORDER, StepName

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(positions: Mapping[StepName, int]) -> str:
    """The opaque cursor string for `positions` (steps in step order; unseen steps left out).

    Example:
        >>> encode_cursor({StepName.SUBMIT: 12, StepName.PREPARE: 3})
        'prepare:3,submit:12'
    """
    return ",".join(f"{step.value}:{positions[step]}" for step in STEP_ORDER if positions.get(step, 0) > 0)


def decode_cursor(cursor: str | None) -> dict[StepName, int]:
    """The positions in a cursor made by `encode_cursor`; None or "" is the start of every step.

    Raises:
        InputError: the cursor is not one a store returned.

    Example:
        >>> decode_cursor("prepare:3,submit:12") == {StepName.PREPARE: 3, StepName.SUBMIT: 12}
        True
    """
    if not cursor:
        return {}
    positions: dict[StepName, int] = {}
    for part in cursor.split(","):
        name, sep, number = part.partition(":")
        try:
            step = StepName(name)
            seq = int(number)
        except ValueError:
            step, seq = None, -1
        if not sep or step is None or seq < 0 or step in positions or not number.isdigit():
            raise InputError(
                f"log cursor {cursor[:80]!r} is not one a store returned (expected 'step:seq,…', e.g. "
                "'prepare:3,submit:12'); pass the cursor of the last LogPage, or None to start over"
            )
        positions[step] = seq
    return positions

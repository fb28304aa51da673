"""Azure Table service limits, and the checks every store applies before it writes.

The real service rejects entities over 1 MiB, more than 252 own properties,
string properties over 64 KiB (32K UTF-16 code units) and keys over 1 KiB or
with ``/ \\ # ?`` or control characters. Azurite enforces only some of these,
so blastflow checks them itself, in both stores: a job that fits the embedded
SQLite store also fits Table storage.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from blastflow.errors import InputError, StoreLimitError
from blastflow.sanitise import sanitise

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_OPERATIONS",
    "MAX_ENTITY_BYTES",
    "MAX_JOB_ID_CHARS",
    "MAX_KEY_BYTES",
    "MAX_LOG_LINE_UNITS",
    "MAX_PROPERTIES",
    "MAX_STRING_UNITS",
    "PROPERTY_CHUNK_UNITS",
    "check_entity",
    "check_job_id",
    "check_key",
    "check_log_line",
    "clip_log_line",
    "encoded_line_units",
    "entity_size",
    "fit_log_line",
    "split_utf16",
    "utf16_units",
]

MAX_ENTITY_BYTES = 1024 * 1024  # one entity, as the service counts it (see entity_size)
MAX_PROPERTIES = 252  # own properties, besides PartitionKey, RowKey and Timestamp
MAX_STRING_UNITS = 32 * 1024  # 64 KiB of UTF-16
MAX_KEY_BYTES = 1024  # PartitionKey / RowKey, UTF-16
MAX_BATCH_OPERATIONS = 100  # one entity-group transaction
MAX_BATCH_BYTES = 4 * 1024 * 1024  # one entity-group transaction's payload
# What blastflow puts in one string property: below the limit, so a chunk never rides on the edge.
PROPERTY_CHUNK_UNITS = 32_000
# One log line, JSON-encoded, must leave room in a 32,000-unit chunk for its quotes and comma.
MAX_LOG_LINE_UNITS = 30_000  # THE longest step-log line: the streamer and the step log clip to it
# Sanitised, a character takes at most 2 units stored (an escaped tab, newline, quote or backslash; a
# character beyond the BMP): a sanitised line up to half the limit fits without being measured.
_MAX_UNITS_PER_CHAR = 2
MAX_JOB_ID_CHARS = 100

_FORBIDDEN_KEY_CHARS = frozenset("/\\#?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ASTRAL = re.compile(r"[\U00010000-\U0010FFFF]")
_JOB_ID_CHARS = re.compile(r"[A-Za-z0-9._-]+")


def utf16_units(text: str) -> int:
    """How many UTF-16 code units `text` takes (what the service's string limits count).

    Example:
        >>> utf16_units("ACGT"), utf16_units("é"), utf16_units("🧬")
        (4, 1, 2)
    """
    return len(text) + len(_ASTRAL.findall(text))


def split_utf16(text: str, max_units: int) -> list[str]:
    """Split `text` into pieces of at most `max_units` UTF-16 code units, never inside a character.

    Example:
        >>> split_utf16("abcde", 2)
        ['ab', 'cd', 'e']
        >>> split_utf16("a🧬b", 2)
        ['a', '🧬', 'b']
    """
    if max_units < 2:
        raise ValueError("max_units must be at least 2 (one astral character takes 2)")
    if not _ASTRAL.search(text):
        return [text[i : i + max_units] for i in range(0, len(text), max_units)]
    pieces: list[str] = []
    start = units = 0
    for i, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > max_units:
            pieces.append(text[start:i])
            start, units = i, 0
        units += width
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _property_size(name: str, value: Any) -> int:
    # The service's own formula: 8 bytes + the name in UTF-16 + the value's size.
    size = 8 + 2 * utf16_units(name)
    if isinstance(value, bool):
        return size + 1
    if isinstance(value, int):
        return size + (4 if -(2**31) <= value < 2**31 else 8)
    if isinstance(value, float | datetime):
        return size + 8
    if isinstance(value, uuid.UUID):
        return size + 16
    if isinstance(value, bytes | bytearray):
        return size + 4 + len(value)
    return size + 4 + 2 * utf16_units(str(value))


def entity_size(entity: Mapping[str, Any]) -> int:
    """The size the Table service counts for `entity`, in bytes.

    4 bytes, plus the keys in UTF-16, plus for each property 8 bytes, its name
    in UTF-16 and its value (string: 4 + 2 per code unit; int32 4; int64,
    double and datetime 8; bool 1; GUID 16; binary 4 + length).

    Example:
        >>> entity_size({"PartitionKey": "p", "RowKey": "r", "n": 1, "s": "ab"})
        40
    """
    size = 4 + 2 * (utf16_units(str(entity.get("PartitionKey", ""))) + utf16_units(str(entity.get("RowKey", ""))))
    for name, value in entity.items():
        if name not in ("PartitionKey", "RowKey") and value is not None:
            size += _property_size(name, value)
    return size


def check_key(value: str, what: str) -> None:
    """Raise StoreLimitError unless `value` is a valid PartitionKey / RowKey."""
    bad = sorted(_FORBIDDEN_KEY_CHARS.intersection(value))
    if bad:
        raise StoreLimitError(
            f"{what} contains {' '.join(repr(c) for c in bad)}, which Table storage forbids in keys (/ \\ # ?)"
        )
    control = _CONTROL.search(value)
    if control:
        raise StoreLimitError(f"{what} contains the control character U+{ord(control.group()):04X}; keys cannot")
    if 2 * utf16_units(value) > MAX_KEY_BYTES:
        raise StoreLimitError(f"{what} is {2 * utf16_units(value):,} bytes in UTF-16; keys are at most 1 KiB")


def check_entity(entity: Mapping[str, Any], what: str) -> None:
    """Raise StoreLimitError naming the limit when `entity` would be rejected by the Table service.

    Args:
        entity: the entity as it would be sent (PartitionKey, RowKey and properties).
        what: how to name it in the message, e.g. "the record of job 3f2c…".
    """
    check_key(str(entity.get("PartitionKey", "")), f"the PartitionKey of {what}")
    check_key(str(entity.get("RowKey", "")), f"the RowKey of {what}")
    own = [name for name, value in entity.items() if name not in ("PartitionKey", "RowKey") and value is not None]
    if len(own) > MAX_PROPERTIES:
        raise StoreLimitError(f"{what} would have {len(own)} properties; a Table entity has at most {MAX_PROPERTIES}")
    for name in own:
        value = entity[name]
        if isinstance(value, str) and utf16_units(value) > MAX_STRING_UNITS:
            raise StoreLimitError(
                f"property {name!r} of {what} is {utf16_units(value):,} UTF-16 characters; "
                f"a Table string property holds at most {MAX_STRING_UNITS:,} (64 KiB)"
            )
    size = entity_size(entity)
    if size > MAX_ENTITY_BYTES:
        raise StoreLimitError(
            f"{what} would be {size:,} bytes as a Table entity; the Table service stores at most "
            f"{MAX_ENTITY_BYTES:,} bytes (1 MiB) per entity"
        )


def check_job_id(job_id: object) -> str:
    """Return `job_id` when it can be a Table key and a directory name; raise InputError otherwise.

    Job ids are UUIDs (`blastflow.model.new_job_id`); any id of letters,
    digits, ``.``, ``_`` and ``-`` up to 100 characters is accepted.

    Example:
        >>> check_job_id("3f2c0b9e-8d1a-4c5e-9f00-0123456789ab")
        '3f2c0b9e-8d1a-4c5e-9f00-0123456789ab'
    """
    hint = "job ids look like 3f2c0b9e-8d1a-4c5e-9f00-0123456789ab (blastflow.model.new_job_id)"
    if not isinstance(job_id, str) or not job_id:
        raise InputError(f"job id is empty or not text ({type(job_id).__name__}); {hint}")
    shown = sanitise(repr(job_id[:60]))
    if len(job_id) > MAX_JOB_ID_CHARS:
        raise InputError(f"job id {shown}… is {len(job_id)} characters, more than {MAX_JOB_ID_CHARS}; {hint}")
    forbidden = sorted(_FORBIDDEN_KEY_CHARS.intersection(job_id))
    if forbidden:
        raise InputError(
            f"job id {shown} contains {' '.join(repr(c) for c in forbidden)}, which Table storage forbids "
            f"in keys (/ \\ # ?); {hint}"
        )
    control = _CONTROL.search(job_id)
    if control:
        raise InputError(f"job id {shown} contains the control character U+{ord(control.group()):04X}; {hint}")
    if not _JOB_ID_CHARS.fullmatch(job_id) or job_id in (".", ".."):
        raise InputError(f"job id {shown} may only hold letters, digits, '.', '_' and '-'; {hint}")
    return job_id


def encoded_line_units(line: str) -> int:
    """UTF-16 code units `line` takes inside a stored log chunk (JSON-escaped, without its quotes).

    Example:
        >>> encoded_line_units("a\\tb")
        4
    """
    return utf16_units(json.dumps(line, ensure_ascii=False)) - 2


def check_log_line(line: str, position: int) -> None:
    """Raise StoreLimitError when a log line cannot be stored; `position` (from 1) names it."""
    units = encoded_line_units(line)
    if units > MAX_LOG_LINE_UNITS:
        raise StoreLimitError(
            f"log line {position} of this append is {units:,} characters once stored (UTF-16, quotes, "
            f"backslashes, tabs and newlines count twice); a line holds at most {MAX_LOG_LINE_UNITS:,} so it "
            "fits one Table property. Nothing from this append was stored: fit long lines first "
            "(blastflow.store.limits.fit_log_line, which step logs use)"
        )


def clip_log_line(line: str, max_units: int = MAX_LOG_LINE_UNITS) -> str:
    """`line` itself when it fits a stored log chunk, else its head and a visible note of how much was cut.

    Example:
        >>> clip_log_line("x" * 40, max_units=30)
        'xxxxxxxx [… 32 characters cut]'
    """
    if encoded_line_units(line) <= max_units:
        return line
    low, high = 0, len(line)
    best = ""
    while low <= high:  # the longest head that fits with its note; encoding is monotonic in the head
        mid = (low + high) // 2
        candidate = f"{line[:mid]} [… {len(line) - mid:,} characters cut]"
        if encoded_line_units(candidate) <= max_units:
            best, low = candidate, mid + 1
        else:
            high = mid - 1
    return best


def fit_log_line(line: str) -> str:
    """`line` sanitised and clipped to the one line limit (`MAX_LOG_LINE_UNITS`), ready for a step log.

    The streamer and the step log both call this, so no single line can fail a job: the store's own
    sanitise changes nothing in what comes out (it is a fixed point), and `check_log_line` never fires.
    A cut can end inside a mask (``password=**``) that sanitising completes again, a few characters
    longer; the clip is then redone a little shorter.

    Example:
        >>> fit_log_line("ok"), fit_log_line("N" * 40_000).endswith("[… 10,026 characters cut]")
        ('ok', True)
    """
    text, margin = sanitise(line), 0
    if len(text) * _MAX_UNITS_PER_CHAR <= MAX_LOG_LINE_UNITS:  # fits whatever it holds: not measured
        return text
    while True:
        fitted = sanitise(clip_log_line(text, MAX_LOG_LINE_UNITS - margin))
        if encoded_line_units(fitted) <= MAX_LOG_LINE_UNITS:
            return fitted
        margin = margin * 2 or 64

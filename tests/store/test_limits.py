"""The Table service limits, as pure checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blastflow.errors import InputError, StoreLimitError
from blastflow.sanitise import sanitise
from blastflow.store.limits import (
    MAX_ENTITY_BYTES,
    MAX_LOG_LINE_UNITS,
    MAX_PROPERTIES,
    check_entity,
    check_job_id,
    check_key,
    check_log_line,
    clip_log_line,
    encoded_line_units,
    entity_size,
    fit_log_line,
    split_utf16,
    utf16_units,
)


def _entity(**properties: object) -> dict[str, object]:
    return {"PartitionKey": "job", "RowKey": "current", **properties}


@given(st.text(), st.integers(min_value=2, max_value=50))
def test_split_utf16_keeps_every_character_and_the_unit_bound(text: str, max_units: int) -> None:
    pieces = split_utf16(text, max_units)
    assert "".join(pieces) == text
    assert all(0 < utf16_units(piece) <= max_units for piece in pieces)


def test_utf16_units_count_astral_characters_twice() -> None:
    assert utf16_units("🧬🧬a") == len("🧬🧬a".encode("utf-16-le")) // 2 == 5


def test_entity_size_follows_the_service_formula() -> None:
    entity = _entity(s="abc", n=1, big=2**40, f=1.5, b=True, t=datetime(2026, 1, 1, tzinfo=UTC), raw=b"xy")
    keys = 4 + 2 * len("jobcurrent")
    props = (8 + 2 + 4 + 6) + (8 + 2 + 4) + (8 + 6 + 8) + (8 + 2 + 8) + (8 + 2 + 1) + (8 + 2 + 8) + (8 + 6 + 4 + 2)
    assert entity_size(entity) == keys + props


def test_an_entity_over_one_mebibyte_is_refused_naming_the_limit() -> None:
    big = _entity(**{f"p{i}": "x" * 30_000 for i in range(18)})
    assert entity_size(big) > MAX_ENTITY_BYTES
    with pytest.raises(StoreLimitError, match=r"bytes as a Table entity.*1 MiB"):
        check_entity(big, "the record")
    check_entity(_entity(**{f"p{i}": "x" * 30_000 for i in range(17)}), "the record")  # just under


def test_too_many_properties_and_a_too_long_string_are_refused() -> None:
    with pytest.raises(StoreLimitError, match=f"at most {MAX_PROPERTIES}"):
        check_entity(_entity(**{f"p{i}": i for i in range(MAX_PROPERTIES + 1)}), "x")
    check_entity(_entity(**{f"p{i}": i for i in range(MAX_PROPERTIES)}), "x")
    with pytest.raises(StoreLimitError, match=r"property 's'.*32,768"):
        check_entity(_entity(s="🧬" * 16_385), "x")  # 32,770 UTF-16 units in 16,385 characters


@pytest.mark.parametrize(("key", "message"), [("a/b", "'/'"), ("a#b?", "'#' '?'"), ("a\tb", "U\\+0009")])
def test_forbidden_key_characters_are_named(key: str, message: str) -> None:
    with pytest.raises(StoreLimitError, match=message):
        check_key(key, "the RowKey")


def test_a_key_over_one_kibibyte_is_refused() -> None:
    check_key("k" * 512, "the key")
    with pytest.raises(StoreLimitError, match="1 KiB"):
        check_key("k" * 513, "the key")


@pytest.mark.parametrize(
    ("job_id", "message"),
    [
        ("", "empty"),
        ("a/b", "'/'.*forbids"),
        ("run#1", "'#'"),
        ("x\x1b[31m", "control character U\\+001B"),
        ("j" * 101, "101 characters"),
        ("my job", "letters, digits"),
        ("..", "letters, digits"),
    ],
)
def test_bad_job_ids_say_what_is_wrong(job_id: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as raised:
        check_job_id(job_id)
    assert "new_job_id" in str(raised.value)
    assert "\x1b" not in str(raised.value)


def test_check_job_id_rejects_non_text() -> None:
    with pytest.raises(InputError, match="not text"):
        check_job_id(42)


def test_a_log_line_is_measured_as_stored() -> None:
    check_log_line("x" * MAX_LOG_LINE_UNITS, 1)
    with pytest.raises(StoreLimitError, match="log line 7"):
        check_log_line("x" * (MAX_LOG_LINE_UNITS + 1), 7)
    with pytest.raises(StoreLimitError):  # escaped: a tab takes two characters stored
        check_log_line("\t" * (MAX_LOG_LINE_UNITS // 2 + 1), 1)


@given(st.text(min_size=0, max_size=400))
def test_clip_log_line_fits_and_keeps_short_lines(text: str) -> None:
    clipped = clip_log_line(text, max_units=120)
    assert encoded_line_units(clipped) <= 120
    if encoded_line_units(text) <= 120:
        assert clipped == text
    else:
        head, note = clipped.rsplit(" [… ", 1)
        assert text.startswith(head)
        assert note == f"{len(text) - len(head):,} characters cut]"


def test_a_long_line_is_fitted_once_with_a_visible_note() -> None:
    fitted = fit_log_line("N" * 100_000)
    assert encoded_line_units(fitted) <= MAX_LOG_LINE_UNITS
    assert fitted.endswith(f" [… {100_000 - len(fitted.split(' ')[0]):,} characters cut]")
    assert fit_log_line(fitted) == fitted  # a fitted line passes again unchanged: it is cut once
    check_log_line(fitted, 1)


def test_a_fitted_line_is_sanitised_and_the_store_changes_nothing_in_it() -> None:
    """Sanitised first (a cut never leaves half a secret), and a fixed point of sanitise (what the store stores)."""
    secret = "AccountKey=" + "k" * 40 + "=="
    fitted = fit_log_line("\x1b[31m" + secret + " " + "x" * 50_000)
    assert fitted.startswith("AccountKey=*** xxx") and "\x1b" not in fitted and "kkkk" not in fitted
    assert sanitise(fitted) == fitted


def test_a_cut_inside_a_mask_is_redone_shorter() -> None:
    """A cut right after ``password=*`` leaves a value sanitise masks again, two characters longer:
    the line would then be over the limit, and the store would refuse it."""
    for pad in range(40):
        text = "a" * (29_960 + pad) + " password=*** " + "b" * 20_000
        if clip_log_line(text).split(" [… ")[0].endswith("password=*"):
            break
    else:
        pytest.fail("no padding puts the cut inside the mask")
    fitted = fit_log_line(text)
    assert encoded_line_units(fitted) <= MAX_LOG_LINE_UNITS
    assert sanitise(fitted) == fitted  # the store stores it as it is
    check_log_line(fitted, 1)

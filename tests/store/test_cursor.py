"""The log cursor format."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blastflow.errors import InputError
from blastflow.model import StepName
from blastflow.store.cursor import decode_cursor, encode_cursor


@given(st.dictionaries(st.sampled_from(list(StepName)), st.integers(min_value=1, max_value=10**12)))
def test_a_cursor_decodes_to_what_was_encoded(positions: dict[StepName, int]) -> None:
    assert decode_cursor(encode_cursor(positions)) == positions


def test_no_cursor_is_the_start() -> None:
    assert decode_cursor(None) == {} == decode_cursor("")


@pytest.mark.parametrize("cursor", ["garbage", "run:", "run:x", "run:-1", "nope:3", "run:1,run:2", "run:1;prepare:2"])
def test_a_foreign_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InputError, match="not one a store returned"):
        decode_cursor(cursor)

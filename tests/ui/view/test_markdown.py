"""Markdown escaping: job text in a heading or caption shows as the text it is."""

from __future__ import annotations

import pytest

from ui.view.markdown import escape_markdown


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "**bold** _it_ [link](http://x)",
        "![img](http://evil/t.png)",
        ":red[colour] :material/home:",
        "$x^2$",
        "# heading\n- list",
        "a\\*b",
    ],
)
def test_escape_markdown_leaves_no_markup_character_unescaped(text: str) -> None:
    escaped = escape_markdown(text)
    specials = set("\\`*_{}[]()#+-.!|<>~$:&\"'=^")
    i = 0
    while i < len(escaped):
        if escaped[i] == "\\":
            assert escaped[i + 1] in specials
            i += 2
            continue
        assert escaped[i] not in specials, (text, escaped)
        i += 1
    assert "\n" not in escaped

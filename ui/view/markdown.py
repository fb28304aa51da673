"""Job text made safe for the few page elements that take Markdown (a heading, a caption)."""

from __future__ import annotations

import re

__all__ = ["escape_markdown"]

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&\"'=^])")


def escape_markdown(text: str) -> str:
    """`text` with every Markdown/HTML-significant character escaped, for the few places that take Markdown.

    Job text goes to text elements; a heading is the exception, and goes through this.

    Example:
        >>> escape_markdown("**x** <script>")
        '\\\\*\\\\*x\\\\*\\\\* \\\\<script\\\\>'
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))

"""The one sanitiser: every text headed for a state row, the log table, Prefect
logs, an artifact or the page goes through `sanitise` first.

It strips terminal control (ANSI CSI/OSC sequences, lone ESC, other control
characters except tab and newline) and masks secrets: storage account keys,
connection strings, SAS query strings, bearer tokens, Authorization headers,
passwords and tokens in key=value form, credentials in URLs, and the exact
values registered with `register_secret`. Sequences and ordinary log text pass
unchanged. `sanitise(sanitise(x)) == sanitise(x)`.
"""

from __future__ import annotations

import re
import threading

__all__ = ["MASK", "register_secret", "registered_secret_count", "sanitise"]

MASK = "***"

# ANSI: OSC (ESC ] … BEL|ST), CSI (ESC [ … final), other two-byte ESC sequences, 8-bit CSI.
_ANSI = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[ -/]*[0-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x1b"
)
# Control characters other than tab and newline (and DEL, C1).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

_CONN_KEYS = (
    r"AccountKey|SharedAccessKey|SharedAccessSignature|SharedAccessKeyName|AccessKey"
    r"|ClientSecret|Password|Pwd"
)
# A whole Azure connection string: mask every value but the endpoint/account names.
_CONN_PART = re.compile(rf"(?i)\b({_CONN_KEYS})=([^;\s\"']+)")
# SAS: mask the whole query string of a URL that carries a signature.
_SAS_URL = re.compile(r"(?i)(https?://[^\s?\"'<>]+)\?([^\s\"'<>]*\bsig=[^\s\"'<>]*)")
_SAS_BARE = re.compile(r"(?i)(?<![\w-])(sig|signature|se?c?ret)=(?!\*\*\*)([^&\s\"';]+)")
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)(?!\*\*\*)[A-Za-z0-9\-._~+/]+=*")
_AUTH_HEADER = re.compile(
    r"(?i)(['\"]?\b(?:authorization|x-ms-authorization|proxy-authorization|api-key|x-api-key|ocp-apim-subscription-key)"
    r"['\"]?\s*+[:=]\s*+['\"]?+)(?!\*\*\*)[^'\"\n,}]+"
)
# password=…, token: …, client_secret="…" and friends.
_KEY_VALUE = re.compile(
    r"(?i)(\b(?:[a-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|account[_-]?key|credential|auth[_-]?code))['\"]?\s*+[=:]\s*+)"
    r"(?!\*\*\*)(\"[^\"\n]*\"|'[^'\n]*'|[^\s;&,'\"}]+)"
)
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)(?!\*\*\*@)[^\s/@]+@")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
# An Azure storage account key: 64 random bytes, base64 → 86 chars + "==".
_ACCOUNT_KEY = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==")
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL
)
_GITHUB_TOKEN = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})\b")

_registered: set[str] = set()
_registered_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()

# Characters that can begin something this module changes; text without any is
# returned as it is (the common case: sequences and plain log lines).
_TRIGGERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f=:@]|-----BEGIN|eyJ|AKIA|ASIA|gh[pousr]_|github_pat_")


def register_secret(value: str | None) -> None:
    """Mask every later occurrence of `value` exactly (a configured key, token…).

    Values shorter than 6 characters are ignored: masking them would eat
    ordinary words and sequence letters.
    """
    global _registered_pattern
    if not value or len(value) < 6:
        return
    with _lock:
        if value in _registered:
            return
        _registered.add(value)
        ordered = sorted(_registered, key=len, reverse=True)
        _registered_pattern = re.compile("|".join(re.escape(v) for v in ordered))


def registered_secret_count() -> int:
    return len(_registered)


def sanitise(text: str) -> str:
    """Return `text` without terminal control and with secrets masked.

    Example:
        >>> sanitise("\\x1b[33mINFO: uploading\\x1b[0m AccountKey=abc123==;")
        'INFO: uploading AccountKey=***;'
        >>> sanitise("ATGAATACCCTCTGGCTCTC")
        'ATGAATACCCTCTGGCTCTC'
    """
    if not text:
        return text
    pattern = _registered_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    if not _TRIGGERS.search(text) and not _ACCOUNT_KEY.search(text):
        return text
    if "\x1b" in text or "\x9b" in text:
        text = _ANSI.sub("", text)
    text = _carriage_returns(text)
    text = _CONTROL.sub("", text)
    text = _PRIVATE_KEY.sub(MASK, text)
    text = _SAS_URL.sub(rf"\1?{MASK}", text)
    text = _CONN_PART.sub(rf"\1={MASK}", text)
    text = _BEARER.sub(rf"\1\2{MASK}", text)
    text = _AUTH_HEADER.sub(rf"\1{MASK}", text)
    text = _KEY_VALUE.sub(rf"\1{MASK}", text)
    text = _SAS_BARE.sub(rf"\1={MASK}", text)
    text = _URL_CREDENTIALS.sub(rf"\1{MASK}@", text)
    text = _JWT.sub(MASK, text)
    text = _ACCOUNT_KEY.sub(MASK, text)
    text = _AWS_KEY_ID.sub(MASK, text)
    text = _GITHUB_TOKEN.sub(MASK, text)
    if pattern is not None:
        text = pattern.sub(MASK, text)  # a secret split by control characters is whole now
    return text


def _carriage_returns(text: str) -> str:
    """A line redrawn with CR (progress bars) keeps what the terminal would show last."""
    if "\r" not in text:
        return text
    lines = []
    for line in text.split("\n"):
        parts = [p for p in line.rstrip("\r").split("\r") if p]
        lines.append(parts[-1] if parts else "")
    return "\n".join(lines)

"""The one sanitiser: every text headed for a state row, the log table, Prefect
logs, an artifact or the page goes through `sanitise` first.

What it does, in order:

1. Masks the exact values registered with `register_secret` (and their
   URL-encoded forms).
2. Strips terminal control: ANSI CSI sequences (colour, cursor, erase), OSC
   sequences (window titles, OSC 8 hyperlinks: the link text stays), other
   two-byte ESC sequences, a lone ESC, C0/C1 control characters and Unicode
   bidirectional overrides. Tab and newline stay. A line redrawn with carriage
   returns (a progress bar) keeps its last drawing.
3. Masks secrets, keeping the context a reader needs (the key name, the URL
   path, ``AccountName=``):

   - storage account keys (88-character base64) anywhere;
   - ``AccountKey=`` / ``SharedAccessKey=`` / ``SharedAccessSignature=`` /
     ``Password=`` … parts of connection strings;
   - the whole query string of a URL that carries ``sig=`` (SAS), and a bare
     ``sig=`` / ``signature=`` / ``secret=`` value;
   - ``Authorization`` / ``api-key`` style headers, plain (``Authorization:
     Bearer …``) or as Python-dict / JSON items (``'Authorization': '…'``);
   - bearer and basic credentials (``Bearer <token>``; a token must look like
     one: 8+ characters with a digit, ``+/=`` or mixed case, or 24+ characters,
     so "Basic Local Alignment Search Tool" and "bearer token" stay);
   - values of keys ending in password, passwd, pwd, secret, token, auth code,
     and api/access/private/account/storage/secret/master/shared/subscription/
     signing/encryption/sas/client key, in ``key=value``,
     ``key: value``, JSON and Python-dict forms, and ``--flag value`` CLI forms.
     The key must END with the word: ``tokens=5``, ``token_count=3``,
     ``RowKey=…`` and ``PartitionKey=…`` are ordinary text and stay;
   - credentials in URLs (``scheme://user:***@host``), JWTs, AWS access key
     ids (with a digit, so no protein line matches), GitHub tokens and PEM
     private keys.
4. Masks registered values once more (a value split by control characters is
   whole again after step 2).

Every rule is line-local (except a PEM private key block, masked whole within
one string): sanitising a text equals sanitising its lines one by one. DNA and
protein sequences, BLAST output and ordinary log text pass unchanged, and
``sanitise(sanitise(x)) == sanitise(x)``.

Known limit: a private key printed across several *separate* lines (as a
streamer sees it) has only its BEGIN line masked; register the key instead.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote

__all__ = ["MASK", "LineSanitiser", "register_secret", "registered_secret_count", "sanitise"]

MASK = "***"
MIN_SECRET_CHARS = 6
_MAX_MASK_ROUNDS = 8

# ── terminal control ──────────────────────────────────────────────────────────
# OSC (ESC ] … BEL|ST, never past a newline), CSI (ESC [ … final), other ESC
# sequences, 8-bit CSI, and a lone ESC.
_ANSI = re.compile(
    r"\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?"
    r"|\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[ -/]*[0-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x1b"
)
# Control characters other than tab, newline and CR (CR is resolved first), DEL,
# C1, and the Unicode bidirectional embedding/override/isolate characters.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_HAS_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


# ── secrets ───────────────────────────────────────────────────────────────────
# Most rules run on `low`, the text with ASCII letters lower-cased (same length and
# indices as the text), and begin with a literal, so the regex engine jumps from
# candidate to candidate instead of trying every position. What a rule masks is
# its group `s` (or `sdq` / `ssq`: a quoted value, whose quotes stay).
class _Rule:
    __slots__ = ("case_sensitive", "groups", "pattern")

    def __init__(self, pattern: str, *, case_sensitive: bool = False) -> None:
        self.pattern = re.compile(pattern)
        self.groups = tuple(name for name in ("s", "sdq", "ssq") if name in self.pattern.groupindex)
        self.case_sensitive = case_sensitive

    def apply(self, text: str, low: str) -> tuple[str, str]:
        parts: list[str] = []
        pos = 0
        for match in self.pattern.finditer(text if self.case_sensitive else low):
            for name in self.groups:
                start, end = match.span(name)
                if start >= 0:
                    break
            parts += (text[pos:start], MASK)
            pos = end
        if not parts:
            return text, low
        parts.append(text[pos:])
        text = "".join(parts)
        return text, _lower(text)


def _value(bare: str) -> str:
    """A value after a key: double- or single-quoted (an unclosed quote runs to the line end) or bare."""
    return rf"(?:\"(?P<sdq>[^\"\n]*)\"?|'(?P<ssq>[^'\n]*)'?|(?P<s>{bare}))"


def _ends_with(words: tuple[str, ...], *tails: str) -> str:
    """Lookbehinds for "one of `words`, then one of `tails`" (fixed width each, as Python requires)."""
    by_length: dict[int, list[str]] = {}
    for word in words:
        by_length.setdefault(len(word.replace("\\b", "")), []).append(word)
    return (
        "(?:" + "|".join(rf"(?<=(?:{'|'.join(group)}){tail})" for group in by_length.values() for tail in tails) + ")"
    )


_ASSIGN = r"['\"]?[ \t]*+[=:][ \t]*+"  # key=, key:, "key": , 'key' =
_KEY_VALUE_END = _ASSIGN + _value(r"[^\s;&,'\"}]+")
_KEY_PREFIXES = (
    "api", "access", "private", "account", "storage", "secret", "master", "shared", "subscription", "signing",
    "encryption", "sas", "client",
)  # fmt: skip

_PRIVATE_KEY = _Rule(
    r"(?P<s>-----BEGIN [A-Z ]*PRIVATE KEY-----[A-Za-z0-9+/=\r\n]*+(?:-----END [A-Z ]*PRIVATE KEY-----)?)",
    case_sensitive=True,
)
# SAS: the whole query string of a URL that carries a signature; the path stays.
_SAS_URL = _Rule(r"https?://[^\s?\"'<>]+\?(?P<s>[^\s\"'<>]*?\bsig=[^\s\"'<>]*)")
_CONN_KEYS = ("accountkey", "sharedaccesskey", "sharedaccesssignature", "accesskey", "clientsecret", "password", "pwd")
_CONN_PART = _Rule("=" + _ends_with(tuple(rf"\b{key}" for key in _CONN_KEYS), "=") + r"(?P<s>[^;\s\"']+)")
_AUTH_HEADER = _Rule(r"authorization" + _ASSIGN + r"['\"]?+(?P<s>[^'\"\n,}]+)")
_TOKEN_CHARS = r"[A-Za-z0-9\-._~+/]"
_BEARER = _Rule(
    rf"\b(?i:bearer|basic)[ \t]+(?=(?:{_TOKEN_CHARS}*?(?:[0-9+/=]|[a-z][A-Z])|{_TOKEN_CHARS}{{24}}))"
    rf"(?P<s>{_TOKEN_CHARS}{{8,}}=*)",
    case_sensitive=True,
)
_CLI_FLAG = _Rule(
    r"--(?=[a-z])[a-z0-9-]{0,40}?(?:password|passwd|pwd|secret|token|sas|connection-string|signature|"
    rf"(?:{'|'.join(_KEY_PREFIXES)})-key)[ =]" + _value(r"[^\s\"']+")
)
# key=value, key: value, "key": "value", 'key': 'value'. The word must END the key.
# (gate literal, rule): each rule runs only when its literal is in the text.
_KEY_VALUE = (
    ("pass", _Rule(r"pass(?:word|wd)" + _KEY_VALUE_END)),
    ("pwd", _Rule(r"pwd" + _KEY_VALUE_END)),
    ("secret", _Rule(r"secret" + _KEY_VALUE_END)),
    ("token", _Rule(r"token" + _KEY_VALUE_END)),
    ("code", _Rule(r"code" + _ends_with(("auth", "auth_", "auth-"), "code") + _KEY_VALUE_END)),
    ("key", _Rule(r"key" + _ends_with(_KEY_PREFIXES, "key", "[_-]key") + _KEY_VALUE_END)),
)
_SAS_BARE = _Rule(r"s(?<![\w-]s)(?:ig(?:nature)?|ecret)=(?P<s>[^&\s\"';]+)")
_URL_CREDENTIALS = _Rule(r"://[^\s:/@]+:(?P<s>[^\s/@]+)@")
_JWT = _Rule(r"(?P<s>eyJ(?<![A-Za-z0-9_]eyJ)[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)", case_sensitive=True)
# An Azure storage account key: 64 random bytes in base64, 86 characters + "==".
_ACCOUNT_KEY = _Rule(r"==(?<=(?<![A-Za-z0-9+/])(?P<s>[A-Za-z0-9+/]{86}==))", case_sensitive=True)
# AKIA/ASIA + 16 base32 characters with at least one digit, so a protein line never matches.
_AWS_KEY_ID = _Rule(r"(?P<s>A(?<![A-Za-z0-9_]A)(?:KIA|SIA)(?=[A-Z]{0,15}[0-9])[0-9A-Z]{16})\b", case_sensitive=True)
_GITHUB_TOKEN = _Rule(
    r"(?P<s>gh(?<![A-Za-z0-9_]gh)(?:[pousr]_[A-Za-z0-9]{30,}|ithub_pat_[A-Za-z0-9_]{30,}))\b", case_sensitive=True
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_registered: tuple[str, ...] = ()  # longest first, so no value is half-masked by a shorter one
_lock = threading.Lock()

# Texts longer than this are sanitised line by line (every rule is line-local), which
# keeps the cheap per-line checks in front of the costly regular expressions.
_SPLIT_CHARS = 4096


def register_secret(value: str | None) -> None:
    """Mask every later occurrence of `value` exactly (a configured key, token…).

    Its URL-encoded form is masked too. Values shorter than 6 characters are
    ignored: masking them would eat ordinary words and sequence letters.

    Args:
        value: the secret, e.g. a connection string or an account key.

    Example:
        >>> register_secret("s3cr3t-value-for-doctest")
        >>> sanitise("connecting with s3cr3t-value-for-doctest")
        'connecting with ***'
    """
    global _registered
    if not value or len(value) < MIN_SECRET_CHARS:
        return
    with _lock:
        forms = {value, quote(value, safe="")} | set(_registered)
        _registered = tuple(sorted(forms, key=len, reverse=True))


def registered_secret_count() -> int:
    """How many exact values (including URL-encoded forms) are masked."""
    return len(_registered)


def sanitise(text: str) -> str:
    """Return `text` without terminal control and with secrets masked.

    Args:
        text: one line, or many lines joined by newlines.

    Returns:
        The text a person may see and a store may keep.

    Example:
        >>> sanitise("\\x1b[33mINFO: uploading\\x1b[0m AccountName=acct;AccountKey=abc123==;")
        'INFO: uploading AccountName=acct;AccountKey=***;'
        >>> sanitise("ATGAATACCCTCTGGCTCTC")
        'ATGAATACCCTCTGGCTCTC'
    """
    if len(text) > _SPLIT_CHARS and "\n" in text:
        return _sanitise_lines(text)
    if not text:
        return text
    registered = _registered
    for value in registered:
        if value in text:
            text = text.replace(value, MASK)
    if not text.isprintable() and _HAS_CONTROL.search(text) is not None:
        text = _strip_control(text)
        for value in registered:  # a value split by control characters is whole now
            if value in text:
                text = text.replace(value, MASK)
    masked = _mask_secrets(text)
    # A mask can complete a pattern next to it ("AccountKey=''AccountKey=x"):
    # repeat until nothing changes, so a second sanitise changes nothing either.
    rounds = 1
    while masked != text and rounds < _MAX_MASK_ROUNDS:
        text, masked = masked, _mask_secrets(masked)
        rounds += 1
    return masked


def _sanitise_lines(text: str) -> str:
    """A long text, line by line: the cheap checks then stay in front of the costly patterns."""
    if "-----BEGIN" in text:
        text = _PRIVATE_KEY.apply(text, text)[0]  # the one rule that spans lines
    return "\n".join(map(sanitise, text.split("\n")))


def _strip_control(text: str) -> str:
    if "\x1b" in text or "\x9b" in text:
        text = _ANSI.sub("", text)
    if "\r" in text:
        text = _carriage_returns(text)
    return _CONTROL.sub("", text)


def _carriage_returns(text: str) -> str:
    """A line redrawn with CR (progress bars) keeps what the terminal would show last."""
    lines = []
    for line in text.split("\n"):
        parts = [p for p in line.split("\r") if p]
        lines.append(parts[-1] if parts else "")
    return "\n".join(lines)


def _lower(text: str) -> str:
    """ASCII letters lower-cased; the same length as `text`, so match positions carry over."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def _mask_secrets(text: str) -> str:
    """One round of every secret rule, in order; each runs only when a literal it needs is present.

    Masking never creates such a literal (a mask adds only ``*``), so the gates
    are computed once per round.
    """
    if text.isalnum():  # sequence lines and single words: only an AWS key id fits
        return _AWS_KEY_ID.apply(text, text)[0] if "IA" in text and ("AKIA" in text or "ASIA" in text) else text
    low = _lower(text)
    has_eq = "=" in text
    if has_eq or ":" in text:
        key, sig, secret = "key" in low, "sig" in low, "secret" in low
        password = "pass" in low or "pwd" in low
        sas_url = sig and "sig=" in low
        conn_part = has_eq and (key or sig or secret or password)
        auth_header = "authorization" in low
        key_value = key or secret or password or "token" in low or "code" in low
        sas_bare = sig or secret
        url_credentials = "@" in text and "://" in text
    else:
        sas_url = conn_part = auth_header = key_value = sas_bare = url_credentials = False
    if "-----BEGIN" in text:
        text, low = _PRIVATE_KEY.apply(text, low)
    if sas_url:
        text, low = _SAS_URL.apply(text, low)
    if conn_part:
        text, low = _CONN_PART.apply(text, low)
    if auth_header:
        text, low = _AUTH_HEADER.apply(text, low)
    if "bearer" in low or "basic" in low:
        text, low = _BEARER.apply(text, low)
    if "--" in text:
        text, low = _CLI_FLAG.apply(text, low)
    if key_value:
        for literal, rule in _KEY_VALUE:
            if literal in low:
                text, low = rule.apply(text, low)
    if sas_bare:
        text, low = _SAS_BARE.apply(text, low)
    if url_credentials:
        text, low = _URL_CREDENTIALS.apply(text, low)
    if "eyJ" in text:
        text, low = _JWT.apply(text, low)
    if has_eq and "==" in text:
        text, low = _ACCOUNT_KEY.apply(text, low)
    if "IA" in text and ("AKIA" in text or "ASIA" in text):
        text, low = _AWS_KEY_ID.apply(text, low)
    if "gh" in text and "_" in text:
        text, low = _GITHUB_TOKEN.apply(text, low)
    return text


_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END [A-Z ]*PRIVATE KEY-----")


class LineSanitiser:
    """`sanitise` for a stream that arrives one line at a time (a child's stdout).

    A PEM private key printed over several lines is masked whole: every line
    from its BEGIN line to its END line, which `sanitise` on one line cannot see.

    Example:
        >>> clean = LineSanitiser()
        >>> [clean(line) for line in ["-----BEGIN PRIVATE KEY-----", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        ...                           "-----END PRIVATE KEY-----", "ATGAATACC"]]
        ['***', '***', '***', 'ATGAATACC']
    """

    def __init__(self) -> None:
        self._in_key = False

    def __call__(self, line: str) -> str:
        if self._in_key:
            if _PEM_END.search(line):
                self._in_key = False
            return MASK
        clean = sanitise(line)
        if _PEM_BEGIN.search(line) and not _PEM_END.search(line):
            self._in_key = True
        return clean

"""TEST DOUBLE of Google Cloud Storage's `gsutil` 5.x, for `elastic-blast` 1.5.0.

Run as a program (`python -m tests.doubles.gcp_cli.gsutil`, through the `gsutil` launcher that
`world.GcpWorld` writes first on PATH). gs:// is the store of `objects.py`: a local directory (gs://BUCKET/KEY
is the file <ELB_DOUBLE_GCS>/BUCKET/KEY) or, when ELB_DOUBLE_GCS_ENDPOINT is set, the real gcp-storage-emulator,
where blastflow reads the results through gcsfs. A bucket exists when the store has it (or state
gcs.auto_create_buckets); state gcs.denied_buckets answers 403. elastic-blast 1.5.0 reaches GCS only
through this command (util.safe_exec, util.py 220-255, and subprocess.Popen in filehelper.py 219, 247, 494),
never through a Python client, so this double is the only way its uploads reach the emulator. What it calls
(file:line in the elastic_blast package):

  gsutil --version                             gcp.py 1026
  gsutil [-m] [-q] [-u PROJECT] stat URL       filehelper.py 383/443, util.py 302, submit.py 198, gcp.py 683
  gsutil [-u PROJECT] cat URL                  filehelper.py 493, util.py 313, db_metadata.py 83/103, gcp.py 692
  gsutil [-u PROJECT] ls URL                   util.py 275
  gsutil cp - URL  (the object on stdin)       filehelper.py 219, 247 (the writer never closes the pipe
                                               before it exits: stdin is drained before any lock)
  gsutil -mq cp -r 'LOCALDIR/*' gs://DIR/      filehelper.py 126 (the '*' arrives literally: gsutil expands it)
  gsutil [-q] [-m] rm [-r] [-f] URL            filehelper.py 172/224, gcp.py 1045
Wildcards: '*' and '?' within one path level, '**' across levels. Texts and exit codes imitate gsutil's.
"""

from __future__ import annotations

import base64
import email.utils
import glob
import hashlib
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

from tests.doubles.gcp_cli.objects import Objects, objects_from_env
from tests.doubles.gcp_cli.state import Call, Result, State, run_tool

__all__ = ["main"]

VERSION = "gsutil version: 5.27\n"
_GLOBAL_WITH_VALUE = ("-u", "-o", "-h", "-i")


class GsError(Exception):
    def __init__(self, text: str, rc: int = 1) -> None:
        super().__init__(text)
        self.text, self.rc = text, rc


# -- the bucket store -------------------------------------------------------------------------------------------
_STORE: list[Objects] = []  # made once per call: this double is one process per command line


def _store() -> Objects:
    if not _STORE:
        _STORE.append(objects_from_env())
    return _STORE[0]


def _split(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("gs://").partition("/")
    return bucket, key


def _wild(text: str) -> bool:
    return any(c in text for c in "*?[")


def _pattern(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    wild = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wild.get(part, re.escape(part)) for part in parts) + r"\Z")


def _keys(bucket: str, prefix: str = "") -> list[str]:
    return _store().keys(bucket, prefix)


def _check_bucket(data: dict[str, Any], bucket: str, action: str = "storage.objects.list") -> None:
    gcs = data["gcs"]
    if bucket in gcs["denied_buckets"]:
        account = data.get("account") or "anonymous"
        raise GsError(f"AccessDeniedException: 403 {account} does not have {action} access to the Google Cloud "
                      f"Storage bucket. Permission '{action}' denied on resource (or it may not exist).\n")  # fmt: skip
    if not _store().bucket_exists(bucket):
        if not gcs["auto_create_buckets"]:
            raise GsError(f"BucketNotFoundException: 404 gs://{bucket} bucket does not exist.\n")
        _store().create_bucket(bucket)


def _match(data: dict[str, Any], url: str) -> list[str]:
    """The objects `url` names (one object, or a wildcard's matches), as gs:// URLs."""
    bucket, key = _split(url)
    _check_bucket(data, bucket)
    if _wild(key):
        pattern = _pattern(key)
        fixed = re.split(r"[*?\[]", key, maxsplit=1)[0]
        return [f"gs://{bucket}/{k}" for k in _keys(bucket, fixed) if pattern.match(k)]
    return [url] if key and _store().info(bucket, key) is not None else []


def _read(url: str) -> bytes:
    data = _store().read(*_split(url))
    if data is None:
        raise GsError(f"CommandException: No URLs matched: {url}\n")
    return data


def _write(url: str, data: bytes) -> None:
    bucket, key = _split(url)
    if not key or key.endswith("/"):
        raise GsError(f"CommandException: Invalid destination {url}\n")
    _store().write(bucket, key, data)


# -- command line -----------------------------------------------------------------------------------------------
def _global_options(argv: list[str]) -> tuple[bool, list[str]]:
    """(-q given, the command and its arguments)."""
    quiet, i = False, 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        if argv[i] in _GLOBAL_WITH_VALUE:
            i += 2
            continue
        quiet = quiet or "q" in argv[i]
        i += 1
    return quiet, argv[i:]


def _flags(args: list[str], known: str) -> tuple[set[str], list[str]]:
    """The single-letter flags among `args` (e.g. -r, -mq) and the other arguments."""
    seen: set[str] = set()
    rest = []
    for arg in args:
        if arg.startswith("-") and len(arg) > 1 and all(c in known for c in arg[1:]):
            seen.update(arg[1:])
        else:
            rest.append(arg)
    return seen, rest


def _stat_text(url: str) -> str:
    size, mtime, md5_hex = _store().info(*_split(url)) or (0, 0.0, hashlib.md5(b"").hexdigest())
    when = email.utils.formatdate(mtime, usegmt=True)
    md5 = base64.b64encode(bytes.fromhex(md5_hex)).decode()
    return (f"{url}:\n    Creation time:          {when}\n    Update time:            {when}\n"
            f"    Storage class:          STANDARD\n    Content-Length:         {size}\n"
            f"    Content-Type:           application/octet-stream\n    Hash (md5):             {md5}\n")  # fmt: skip


def _stat(data: dict[str, Any], args: list[str], quiet: bool) -> Result:
    flags, urls = _flags(args, "q")
    quiet = quiet or "q" in flags
    out, err, rc = "", "", 0
    for url in urls:
        try:
            matched = _match(data, url)
        except GsError:
            if quiet:
                return Result(1)
            raise
        if not matched:
            rc, err = 1, err + ("" if quiet else f"No URLs matched: {url}\n")
        elif not quiet:
            out += "".join(_stat_text(u) for u in matched)
    return Result(rc, out, err)


def _cat(data: dict[str, Any], args: list[str], _quiet: bool) -> Result:
    content = b""
    for url in _flags(args, "h")[1]:
        matched = _match(data, url)
        if not matched:
            return Result(1, content, f"CommandException: No URLs matched: {url}\n")
        content += b"".join(_read(u) for u in matched)
    return Result(0, content)


def _listing(data: dict[str, Any], url: str) -> list[str]:
    """What `gsutil ls URL` lists: the matching objects, or a "directory"'s objects and sub-directories."""
    bucket, key = _split(url)
    _check_bucket(data, bucket)
    if _wild(key) or (key and _store().info(bucket, key) is not None):
        return _match(data, url)
    below = key.rstrip("/") + "/" if key.strip("/") else ""
    entries = {k[len(below) :].split("/", 1)[0] + ("/" if "/" in k[len(below) :] else "") for k in _keys(bucket, below)}
    return [f"gs://{bucket}/{below}{entry}" for entry in sorted(entries)]


def _ls(data: dict[str, Any], args: list[str], _quiet: bool) -> Result:
    flags, urls = _flags(args, "lrRabeh")
    out, err, rc = "", "", 0
    for url in urls:
        names = _listing(data, url)
        if not names:
            rc, err = 1, err + "CommandException: One or more URLs matched no objects.\n"
        for name in names:
            info = None if "l" not in flags or name.endswith("/") else _store().info(*_split(name))
            size = "" if info is None else f"{info[0]:>10}  "
            out += f"{size}{name}\n"
    return Result(rc, out, err)


def _rm(data: dict[str, Any], args: list[str], quiet: bool) -> Result:
    flags, urls = _flags(args, "rRfaI")
    err, rc, removed = "", 0, 0
    for url in urls:
        bucket, key = _split(url)
        _check_bucket(data, bucket, "storage.objects.delete")
        targets = set(_match(data, url))
        if flags & {"r", "R"} and not _wild(key):
            below = key.rstrip("/") + "/"
            targets.update(f"gs://{bucket}/{k}" for k in _keys(bucket, below))
        if not targets:
            rc, err = 1, err + f"CommandException: No URLs matched: {url}\n"
        for target in sorted(targets):
            _store().remove(*_split(target))
            removed += 1
            err += "" if quiet else f"Removing {target}...\n"
    if removed and not quiet:
        err += f"Operation completed over {removed} objects.\n"
    return Result(rc, "", err)


# -- cp ---------------------------------------------------------------------------------------------------------
def _local_sources(src: str, recursive: bool) -> Iterator[tuple[str, str]]:
    """(local file, name under the destination) for a local source; the literal '*' expanded here."""
    local = src.removeprefix("file://")
    expanded = sorted(glob.glob(local)) if _wild(local) else [local]
    if not expanded or not all(os.path.exists(path) for path in expanded):
        raise GsError(f"CommandException: No URLs matched: {src}\n")
    for path in expanded:
        if not os.path.isdir(path):
            yield path, os.path.basename(path)
        elif recursive:
            top = os.path.dirname(path.rstrip("/"))
            for d, _dirs, files in os.walk(path):
                yield from ((os.path.join(d, f), os.path.relpath(os.path.join(d, f), top)) for f in files)


def _sources(data: dict[str, Any], srcs: list[str], recursive: bool) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for src in srcs:
        if not src.startswith("gs://"):
            items += _local_sources(src, recursive)
            continue
        matched = _match(data, src)
        if not matched:
            raise GsError(f"CommandException: No URLs matched: {src}\n")
        items += [(url, os.path.basename(_split(url)[1])) for url in matched]
    return items


def _cp(data: dict[str, Any], args: list[str], quiet: bool, stdin: bytes | None) -> Result:
    flags, paths = _flags(args, "rRnpveDcLI")
    if len(paths) < 2:
        return Result(1, "", 'CommandException: Wrong number of arguments for "cp" command.\n')
    srcs, dst = paths[:-1], paths[-1]
    if dst.startswith("gs://"):
        _check_bucket(data, _split(dst)[0], "storage.objects.create")
    if srcs == ["-"]:
        _write(dst, stdin or b"")
        return Result(0, "", "" if quiet else "Copying from <STDIN>...\nOperation completed over 1 objects.\n")
    recursive = bool(flags & {"r", "R"})
    items = _sources(data, srcs, recursive)
    as_dir = dst.endswith("/") or len(items) > 1 or recursive
    for src, name in items:
        content = _read(src) if src.startswith("gs://") else open(src, "rb").read()  # noqa: SIM115
        target = dst.rstrip("/") + "/" + name.replace(os.sep, "/") if as_dir else dst
        if target.startswith("gs://"):
            _write(target, content)
        else:
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(content)
    return Result(0, "", "" if quiet else f"Operation completed over {len(items)} objects.\n")


_COMMANDS = {"stat": _stat, "cat": _cat, "ls": _ls, "rm": _rm}


def handle(argv: list[str], call: Call) -> Result:
    """Answer one gsutil command line."""
    if argv[:1] in (["--version"], ["version"]):
        return Result(0, VERSION)
    quiet, rest = _global_options(argv)
    if not rest:
        return Result(1, "", "CommandException: No command was given.\n")
    command, args = rest[0], rest[1:]
    if command != "cp" and command not in _COMMANDS:
        call.note = "UNHANDLED"
        return Result(1, "", f'CommandException: Invalid command "{command}".\n')
    try:
        with State() as state:
            if command == "cp":
                return _cp(state.data, args, quiet, call.stdin)
            return _COMMANDS[command](state.data, args, quiet)
    except GsError as err:
        return Result(err.rc, "", err.text)


def _reads_stdin(argv: list[str]) -> bool:
    rest = _global_options(argv)[1]
    return rest[:1] == ["cp"] and "-" in rest[1:-1]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return run_tool("gsutil", handle, argv, reads_stdin=_reads_stdin(argv))


if __name__ == "__main__":
    sys.exit(main())

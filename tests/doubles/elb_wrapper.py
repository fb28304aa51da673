"""TEST DOUBLE: an `elastic-blast` that says extra lines and records its output, around the Azure-fork double.

For `submit` only (every other subcommand is the double's, untouched; fake_elastic_blast.py imitates the Azure fork
of ElasticBLAST). The extra lines are the test's own, not the fork's:

- FAULTS_ELB_SAY: a JSON file of ``[stream, text, pause_s]`` entries, printed (and flushed) one by one before
  the fake runs, each after sleeping `pause_s`: what a chatty real CLI prints (secrets in a debug dump, a
  stream of progress lines). ``["wait", path, timeout_s]`` holds until `path` exists (at most `timeout_s`).
- FAULTS_ELB_SAY_EXIT: an exit code; exit with it after those lines instead of running the fake submit.
- FAULTS_ELB_RECORD: a file; every line this process writes to stdout or stderr (its own and the fake's) is
  appended to it as a JSON ``[stream, text]`` line, exactly as written: the ground truth of what was printed.

Like the fake, it is a Python program: stdout is block-buffered on a pipe unless PYTHONUNBUFFERED=1. It runs as
`python -m tests.doubles.elb_wrapper` (the launcher from `tests.doubles.faultkit.elb_wrapper`) and runs the fake
in this same process.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import time
from pathlib import Path
from typing import TextIO

FAKE = "tests.doubles.fake_elastic_blast"


class _Recorded:
    """A text stream that writes through and appends each complete line to the record file."""

    def __init__(self, stream: TextIO, name: str, record: Path) -> None:
        self._stream, self._name, self._record = stream, name, record
        self._partial = ""

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        if lines:
            with self._record.open("a", encoding="utf-8") as out:
                out.writelines(json.dumps([self._name, line]) + "\n" for line in lines)
        return written

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def main() -> int:
    submitting = len(sys.argv) > 1 and sys.argv[1] == "submit"
    record = os.environ.get("FAULTS_ELB_RECORD")
    if submitting and record:
        sys.stdout = _Recorded(sys.stdout, "stdout", Path(record))  # type: ignore[assignment]
        sys.stderr = _Recorded(sys.stderr, "stderr", Path(record))  # type: ignore[assignment]
    say = os.environ.get("FAULTS_ELB_SAY")
    if submitting and say:
        for stream, text, pause_s in json.loads(Path(say).read_text()):
            if stream == "wait":  # hold until the file `text` exists, at most `pause_s` seconds
                deadline = time.monotonic() + pause_s
                while not Path(text).exists() and time.monotonic() < deadline:
                    time.sleep(0.02)
                continue
            time.sleep(pause_s)
            out = sys.stdout if stream == "stdout" else sys.stderr
            print(text, file=out, flush=True)
        if os.environ.get("FAULTS_ELB_SAY_EXIT"):
            return int(os.environ["FAULTS_ELB_SAY_EXIT"])
    try:
        runpy.run_module(FAKE, run_name="__main__")
    except SystemExit as done:
        sys.stdout.flush()
        sys.stderr.flush()
        return done.code if isinstance(done.code, int) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

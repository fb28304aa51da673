"""TEST DOUBLE of the AWS command-line tool (`aws`, awscli v2) for the real `elastic-blast` 1.5.0.

elastic-blast reaches AWS through boto3, except for two child processes (util.py `safe_exec`):

- `aws --version` (aws.py:154 `check_auxiliary_versions`, from bin/elastic-blast:82 on every command; only
  logged, a missing `aws` is ignored);
- `aws s3 ls s3://<bucket>/<database>` (util.py:304 `check_user_provided_blastdb_exists`, run by
  commands/submit.py:155 for a database in S3): exit 0 when something starts with that name, else 1,
  which elastic-blast reports as exit 2 "BLAST database s3://... was not found".

This program answers those, against the same S3 as elastic-blast (boto3 with AWS_ENDPOINT_URL and the AWS
credentials of its environment, as the real `aws` reads them): `s3 ls` lists like the real one, common
prefixes as `PRE name/` and objects as `date time size name`. Anything else exits 252 (the real CLI's
usage-error code) with `UNHANDLED` on stderr. Runs as `python -m tests.doubles.aws.aws_cli` behind a
launcher named `aws` (elb_doubles.module_launcher); calls go to `<BOTO3_DOUBLE_STATE>.calls.jsonl`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence

__all__ = ["main"]

VERSION = "aws-cli/2.15.0 Python/3.11.7 Linux/x86_64 exe/x86_64.test-double prompt/off"
USAGE_ERROR = 252


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    if args == ["--version"]:
        print(VERSION)
        return _logged(args, 0)
    if len(args) == 3 and args[:2] == ["s3", "ls"] and args[2].startswith("s3://"):
        return _logged(args, _s3_ls(args[2]))
    print(f"UNHANDLED by the aws test double: aws {' '.join(args)}", file=sys.stderr)
    return _logged(args, USAGE_ERROR)


def _s3_ls(url: str) -> int:
    import boto3
    from botocore.exceptions import ClientError

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    try:
        found = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/")
    except ClientError as exc:
        print(f"\nAn error occurred ({exc.response['Error']['Code']}) when calling the ListObjectsV2 operation: "
              f"{exc.response['Error'].get('Message', '')}", file=sys.stderr)  # fmt: skip
        return 254
    shown = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    lines = [f"{'PRE':>30} {p['Prefix'][len(shown):]}" for p in found.get("CommonPrefixes", [])]
    lines += [f"{o['LastModified']:%Y-%m-%d %H:%M:%S} {o['Size']:>10} {o['Key'][len(shown):]}"
              for o in found.get("Contents", [])]  # fmt: skip
    if not lines:
        return 1
    print("\n".join(lines))
    return 0


def _logged(args: list[str], code: int) -> int:
    state = os.environ.get("BOTO3_DOUBLE_STATE")
    if state:
        with open(f"{state}.calls.jsonl", "a") as handle:
            handle.write(json.dumps({"t": round(time.time(), 3), "pid": os.getpid(), "service": "aws-cli",
                                     "operation": " ".join(args), "status": code, "by": "double"}) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

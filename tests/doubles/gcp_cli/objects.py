"""TEST DOUBLE plumbing: the object store behind the `gsutil` double and the cluster double, i.e. what gs:// is.

Not a program. Two stores answer the same few questions (does a bucket exist, which keys, read, write, remove):

- `LocalObjects`: a directory, gs://BUCKET/KEY being the file <root>/BUCKET/KEY (the default; fast, inspectable);
- `EmulatorObjects`: the real gcp-storage-emulator (the `gcs_emulator` fixture) over Google's JSON API, so that
  what the real `elastic-blast` uploads through `gsutil` (query batches, metadata) and what the cluster double
  exports (result archives) land where blastflow reads them, through gcsfs.

`objects_from_env()` picks one the way every double finds its world: ELB_DOUBLE_GCS_ENDPOINT (the emulator's
URL) when set, else the directory ELB_DOUBLE_GCS. Standard library only (urllib, not gcsfs): every double call is
a new Python, and importing gcsfs costs about a second each time. Uploads use `uploadType=multipart`, because
gcp-storage-emulator 2025.x fails a `uploadType=media` upload of an empty object (SUCCESS.txt is empty).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Protocol

__all__ = ["EmulatorObjects", "LocalObjects", "Objects", "objects_from_env"]

_PREFIX_TEMP = ".gcp-cli-double-"  # a LocalObjects write in progress: never listed
_TIMEOUT_S = 30.0


class Objects(Protocol):
    """gs:// as the doubles see it: buckets of keys, each key a whole object."""

    def bucket_exists(self, bucket: str) -> bool: ...
    def create_bucket(self, bucket: str) -> None: ...
    def keys(self, bucket: str, prefix: str = "") -> list[str]: ...
    def read(self, bucket: str, key: str) -> bytes | None: ...
    def write(self, bucket: str, key: str, data: bytes) -> None: ...
    def remove(self, bucket: str, key: str) -> bool: ...
    def info(self, bucket: str, key: str) -> tuple[int, float, str] | None: ...


class LocalObjects:
    """A directory acting as gs://: <root>/BUCKET/KEY."""

    def __init__(self, root: str) -> None:
        self.root = root

    def _path(self, bucket: str, key: str = "") -> str:
        return os.path.join(self.root, bucket, key) if key else os.path.join(self.root, bucket)

    def bucket_exists(self, bucket: str) -> bool:
        return os.path.isdir(self._path(bucket))

    def create_bucket(self, bucket: str) -> None:
        os.makedirs(self._path(bucket), exist_ok=True)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        base = self._path(bucket)
        found = (os.path.join(d, f) for d, _dirs, files in os.walk(base) for f in files
                 if not f.startswith(_PREFIX_TEMP))  # fmt: skip
        keys = (os.path.relpath(path, base).replace(os.sep, "/") for path in found)
        return sorted(key for key in keys if key.startswith(prefix))

    def read(self, bucket: str, key: str) -> bytes | None:
        try:
            with open(self._path(bucket, key), "rb") as handle:
                return handle.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def write(self, bucket: str, key: str, data: bytes) -> None:
        path = self._path(bucket, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=_PREFIX_TEMP)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    def remove(self, bucket: str, key: str) -> bool:
        try:
            os.remove(self._path(bucket, key))
        except FileNotFoundError:
            return False
        return True

    def info(self, bucket: str, key: str) -> tuple[int, float, str] | None:
        """(size, modification time, md5 hex) of an object."""
        data = self.read(bucket, key)
        if data is None:
            return None
        return len(data), os.path.getmtime(self._path(bucket, key)), hashlib.md5(data).hexdigest()


class EmulatorObjects:
    """gcp-storage-emulator (or any GCS JSON API without authentication) at `endpoint`."""

    def __init__(self, endpoint: str, project: str = "test-project") -> None:
        self.endpoint = endpoint.rstrip("/")
        self.project = project

    def _call(self, method: str, path: str, body: bytes | None = None, ctype: str = "") -> tuple[int, bytes]:
        headers = {"Content-Type": ctype} if ctype else {}
        request = urllib.request.Request(self.endpoint + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    @staticmethod
    def _object(bucket: str, key: str) -> str:
        return f"/b/{urllib.parse.quote(bucket, safe='')}/o/{urllib.parse.quote(key, safe='')}"

    def bucket_exists(self, bucket: str) -> bool:
        return self._call("GET", f"/storage/v1/b/{urllib.parse.quote(bucket, safe='')}")[0] == 200

    def create_bucket(self, bucket: str) -> None:
        if not self.bucket_exists(bucket):
            body = json.dumps({"name": bucket}).encode()
            status, said = self._call("POST", f"/storage/v1/b?project={self.project}", body, "application/json")
            if status != 200:
                raise OSError(f"the GCS emulator refused bucket {bucket}: HTTP {status} {said[:200]!r}")

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        query = urllib.parse.urlencode({"prefix": prefix}) if prefix else ""
        status, body = self._call("GET", f"/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o?{query}")
        if status != 200:
            return []
        return sorted(item["name"] for item in json.loads(body).get("items") or [])

    def read(self, bucket: str, key: str) -> bytes | None:
        status, body = self._call("GET", "/download/storage/v1" + self._object(bucket, key) + "?alt=media")
        return body if status == 200 else None

    def write(self, bucket: str, key: str, data: bytes) -> None:
        boundary = "gcp-cli-double-" + hashlib.md5(data).hexdigest()
        head = (f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{json.dumps({'name': key})}"
                f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n").encode()  # fmt: skip
        body = head + data + f"\r\n--{boundary}--\r\n".encode()
        path = f"/upload/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o?uploadType=multipart"
        status, said = self._call("POST", path, body, f'multipart/related; boundary="{boundary}"')
        if status != 200:
            raise OSError(f"the GCS emulator refused gs://{bucket}/{key}: HTTP {status} {said[:200]!r}")

    def remove(self, bucket: str, key: str) -> bool:
        return self._call("DELETE", "/storage/v1" + self._object(bucket, key))[0] in (200, 204)

    def info(self, bucket: str, key: str) -> tuple[int, float, str] | None:
        status, body = self._call("GET", "/storage/v1" + self._object(bucket, key))
        if status != 200:
            return None
        meta = json.loads(body)
        data = self.read(bucket, key) or b""
        stamp = meta.get("updated")
        updated = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else 0.0
        return int(meta.get("size", len(data))), updated, hashlib.md5(data).hexdigest()


def objects_from_env() -> Objects:
    """The store the doubles' environment names: the emulator (ELB_DOUBLE_GCS_ENDPOINT) or the directory."""
    endpoint = os.environ.get("ELB_DOUBLE_GCS_ENDPOINT")
    if endpoint:
        return EmulatorObjects(endpoint)
    from tests.doubles.gcp_cli.state import gcs_root

    return LocalObjects(gcs_root())

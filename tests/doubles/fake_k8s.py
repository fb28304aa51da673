"""TEST DOUBLE: a fake Kubernetes API server over HTTP, for the real Kubernetes client libraries.

It serves the two calls blastflow makes (pods.py), from a pod source:
`GET /api/v1/namespaces/{ns}/pods?labelSelector=…` (a `PodList`) and
`GET /api/v1/namespaces/{ns}/pods/{name}/log?container=…&tailLines=…` (text).
The pod source is anything with `pods(namespace)`, `pod_log(namespace, name,
container, tail_lines)` and `revoke_credentials()`: the fake cluster behind the
fake `elastic-blast` (fake_cluster.FakeCluster) or the GCP world's cluster double
(gcp_cli/cluster.GkePods). Label selectors are parsed as the API server does,
equality-based (`a=b`, `a==b`, `a!=b`, `a`, `!a`) and set-based (`a in (x,y)`,
`a notin (x,y)`), e.g. blastflow's `app in (setup,submit)`.
Clients reach it through a kubeconfig (`write_kubeconfig`) with a bearer token,
exactly as they would reach a real cluster. Errors are injected on demand:
any status (401, 403, 404, 429, 500…) for the next N matching requests,
slow answers (client timeouts), and credentials revoked after N requests.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import yaml

__all__ = ["FakeKubernetes", "PodSource"]


class PodSource(Protocol):
    """Where the server's pods come from (fake_cluster.FakeCluster, gcp_cli.cluster.GkePods)."""

    def pods(self, namespace: str) -> list[dict[str, Any]]: ...  # V1Pod objects as JSON; one observation
    def pod_log(self, namespace: str, name: str, container: str, tail_lines: int | None) -> tuple[int, str]: ...
    def revoke_credentials(self) -> None: ...

_PODS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$")
_LOG = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/log$")
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 408: "Timeout",
            429: "TooManyRequests", 500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable",
            504: "GatewayTimeout"}


@dataclass
class _Fault:
    status: int  # 0: answer slowly instead
    times: int
    after: int  # let this many matching requests through first
    path: str  # only requests whose path contains this
    delay_s: float = 0.0
    message: str = ""


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int = 0


@dataclass
class FakeKubernetes:
    """The server; `start()` it, point a kubeconfig at it, inject faults, read `requests`."""

    cluster: PodSource
    token: str = "fake-k8s-token-0123456789"
    requests: list[_Request] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _revoke_after: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeKubernetes:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-k8s", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes slow answers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake Kubernetes API server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def write_kubeconfig(self, path: Path, *, namespace: str = "default", token: str | None = None) -> Path:
        """A kubeconfig whose current context talks to this server with a bearer token."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake-user", "user": {"token": token or self.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake-user",
                                                      "namespace": namespace}}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # -- fault injection ---------------------------------------------------------------------
    def fail(self, status: int, *, times: int = 1, after: int = 0, path: str = "", message: str = "") -> None:
        """Answer `status` to the next `times` requests whose path contains `path`, after `after` of them."""
        with self._lock:
            self._faults.append(_Fault(status, times, after, path, message=message))

    def slow(self, delay_s: float, *, times: int = 1, after: int = 0, path: str = "") -> None:
        """Wait `delay_s` before answering (longer than the client's timeout makes it time out)."""
        with self._lock:
            self._faults.append(_Fault(0, times, after, path, delay_s=delay_s))

    def revoke_credentials(self, *, after: int = 0) -> None:
        """From `after` more requests on, the token is rejected with 401 (and `elastic-blast` is refused too)."""
        with self._lock:
            self._revoke_after = len(self.requests) + after
        if after == 0:
            self.cluster.revoke_credentials()

    # -- serving -----------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._serve(self)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        request = _Request("GET", url.path, parse_qs(url.query))
        with self._lock:
            self.requests.append(request)
            count = len(self.requests)
            revoked = self._revoke_after is not None and count > self._revoke_after
            fault = self._take_fault(url.path)
        if revoked:
            self.cluster.revoke_credentials()
        if fault is not None and fault.status == 0:
            self._stop.wait(fault.delay_s)
        if handler.headers.get("Authorization") != f"Bearer {self.token}" or revoked:
            return self._status(handler, request, 401, "Unauthorized")
        if fault is not None and fault.status:
            return self._status(handler, request, fault.status, fault.message or _REASONS.get(fault.status, "Error"))
        if match := _PODS.match(url.path):
            return self._list_pods(handler, request, match["ns"])
        if match := _LOG.match(url.path):
            return self._log(handler, request, match["ns"], match["name"])
        return self._status(handler, request, 404, f"the server could not find the requested resource {url.path}")

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.path not in path or fault.times <= 0:
                continue
            if fault.after > 0:
                fault.after -= 1
                continue
            fault.times -= 1
            return fault
        return None

    def _list_pods(self, handler: BaseHTTPRequestHandler, request: _Request, namespace: str) -> None:
        selector = request.query.get("labelSelector", [""])[0]
        try:
            match = _selector(selector)
        except ValueError as exc:
            return self._status(handler, request, 400, str(exc))
        items = [p for p in self.cluster.pods(namespace) if match(p["metadata"]["labels"])]
        body = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}
        self._send(handler, request, 200, json.dumps(body).encode(), "application/json")

    def _log(self, handler: BaseHTTPRequestHandler, request: _Request, namespace: str, name: str) -> None:
        container = request.query.get("container", [""])[0]
        tail = request.query.get("tailLines", [None])[0]
        status, text = self.cluster.pod_log(namespace, name, container, int(tail) if tail is not None else None)
        if status != 200:
            return self._status(handler, request, status, text)
        self._send(handler, request, 200, text.encode(), "text/plain")

    def _status(self, handler: BaseHTTPRequestHandler, request: _Request, code: int, message: str) -> None:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                "reason": _REASONS.get(code, "Unknown"), "code": code}
        self._send(handler, request, code, json.dumps(body).encode(), "application/json")

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, request: _Request, code: int, body: bytes, ctype: str) -> None:
        request.status = code
        handler.send_response(code)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            handler.wfile.write(body)


_SET_TERM = re.compile(r"\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*")


def _selector(text: str) -> Callable[[dict[str, str]], bool]:
    """A label selector as a predicate over labels: equality-based (`a=b`, `a==b`, `a!=b`, `a`, `!a`) and
    set-based (`a in (x,y)`, `a notin (x,y)`) terms, comma-separated (commas inside parentheses belong to the set).
    """
    terms: list[tuple[str, str, frozenset[str]]] = []
    for term in _split_terms(text):
        if match := _SET_TERM.fullmatch(term):
            values = frozenset(v.strip() for v in match[3].split(",") if v.strip())
            terms.append((match[2], match[1], values))
        elif "!=" in term:
            key, value = term.split("!=", 1)
            terms.append(("!=", key.strip(), frozenset({value.strip()})))
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            terms.append(("=", key.strip(), frozenset({value.strip()})))
        elif term.startswith("!"):
            terms.append(("absent", term[1:].strip(), frozenset()))
        elif re.fullmatch(r"[\w./-]+", term):
            terms.append(("present", term, frozenset()))
        else:
            raise ValueError(f"unable to parse requirement: {term!r}")

    def matches(labels: dict[str, str]) -> bool:
        checks = {
            "=": lambda k, v: labels.get(k) in v,
            "in": lambda k, v: labels.get(k) in v,
            "!=": lambda k, v: labels.get(k) not in v,
            "notin": lambda k, v: labels.get(k) not in v,
            "absent": lambda k, _v: k not in labels,
            "present": lambda k, _v: k in labels,
        }
        return all(checks[op](key, values) for op, key, values in terms)

    return matches


def _split_terms(text: str) -> list[str]:
    """The selector's terms: split at commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    return [term.strip() for term in [*terms, current] if term.strip()]

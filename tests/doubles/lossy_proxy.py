"""TEST DOUBLE: a TCP proxy in front of a server that can lose the response to a request.

Clients talk to the proxy exactly as to the server (plain HTTP/1.1 passes through
unchanged). `lose_response_to(marker, times)` arms it: the next `times` requests
whose bytes contain `marker` (e.g. ``b"POST /devstoreaccount1/$batch"``) reach the
server, which handles them, but the client never gets the answer: the proxy drops
it and closes the connection, as a network that fails after the request is sent.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

__all__ = ["LossyProxy"]


@dataclass
class LossyProxy:
    """Listens on 127.0.0.1:`port` and forwards every connection to 127.0.0.1:`target_port`."""

    target_port: int
    port: int = 0
    lost: int = 0  # responses dropped so far
    _marker: bytes = b""
    _times: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: socket.socket | None = None
    _stopped: threading.Event = field(default_factory=threading.Event)

    def start(self) -> LossyProxy:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name="lossy-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()

    def lose_response_to(self, marker: bytes, times: int = 1) -> None:
        with self._lock:
            self._marker, self._times = marker, times

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            doomed = threading.Event()
            threading.Thread(target=self._upstream, args=(client, server, doomed), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, doomed), daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket, doomed: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                with self._lock:
                    if self._times and self._marker in data:
                        self._times -= 1
                        doomed.set()  # the server gets this request; its answer goes nowhere
                server.sendall(data)
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_WR)

    def _downstream(self, server: socket.socket, client: socket.socket, doomed: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if doomed.is_set():
                    with self._lock:
                        self.lost += 1
                    break
                client.sendall(data)
        for sock in (client, server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the other pump and tells the client at once
            with contextlib.suppress(OSError):
                sock.close()

"""A loopback HTTP/1.1 server that answers every request with given event-stream bytes.

``fastsmr.testing.StreamingEndpoint`` speaks only SageMaker Runtime; the
drop-in tests also need Bedrock, Lambda, S3 and Kinesis responses, so this
server just streams whatever bytes the test queued, with chunked transfer
encoding, optionally ending the response early or resetting the connection.
A reply's ``wire`` is sent as it is, for tests of the transfer coding itself;
with ``keep_alive`` the server answers several requests per connection and
``Request.connection`` tells which connection each came on.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Dict, List, NamedTuple, Optional


class Reply(NamedTuple):
    body: bytes
    chunk_size: int = 64
    #: send only the first ``cut`` bytes (of ``wire`` if given, then close), then...
    cut: Optional[int] = None
    #: ...reset the connection (True) or end the response properly (False)
    reset: bool = False
    headers: Dict[str, str] = {}
    #: the body exactly as sent, transfer coding included (then ``body`` is unused)
    wire: Optional[bytes] = None


class Request(NamedTuple):
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    connection: int = 0


class LoopbackServer:
    """``with LoopbackServer() as server: server.reply(...)`` then call ``server.url``."""

    def __init__(self, keep_alive: bool = False) -> None:
        self.keep_alive = keep_alive
        self._connections = 0
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self._socket.settimeout(0.2)
        self._replies: List[Reply] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.requests: List[Request] = []

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()
        return f"http://{host}:{port}"

    def reply(self, body: bytes, **options: object) -> None:
        """Queue the answer to the next request."""
        with self._lock:
            self._replies.append(Reply(body, **options))  # type: ignore[arg-type]

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._connections += 1
            threading.Thread(target=self._answer, args=(connection, self._connections), daemon=True).start()

    def _answer(self, connection: socket.socket, number: int) -> None:
        connection.settimeout(10)
        with connection:
            while self._answer_one(connection, number) and self.keep_alive:
                pass

    def _answer_one(self, connection: socket.socket, number: int) -> bool:
        """Answer one request; False when the connection is over."""
        try:
            request = _read_request(connection)
        except (OSError, ValueError):
            return False
        self.requests.append(request._replace(connection=number))
        with self._lock:
            reply = self._replies.pop(0) if self._replies else Reply(b"", headers={})
        head = [
            "HTTP/1.1 200 OK",
            "Content-Type: application/vnd.amazon.eventstream",
            "Transfer-Encoding: chunked",
            "x-amzn-RequestId: 5e1f0c1e-0000-4000-8000-000000000000",
        ] + [f"{name}: {value}" for name, value in reply.headers.items()]
        if not self.keep_alive:
            head.append("Connection: close")
        body = reply.body if reply.cut is None else reply.body[: reply.cut]
        try:
            connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            if reply.wire is not None:
                # Cut short, the response ends with the connection (a FIN).
                connection.sendall(reply.wire[: reply.cut])
                return reply.cut is None
            for start in range(0, len(body), reply.chunk_size):
                piece = body[start : start + reply.chunk_size]
                connection.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            if reply.reset:
                # SO_LINGER with a zero timeout: close() sends a RST, not a FIN.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return False
            connection.sendall(b"0\r\n\r\n")
        except OSError:
            return False
        return True


def _read_request(connection: socket.socket) -> Request:
    data = b""
    while b"\r\n\r\n" not in data:
        more = connection.recv(65536)
        if not more:
            raise ValueError("connection closed before the request ended")
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        more = connection.recv(65536)
        if not more:
            break
        body += more
    return Request(method, path, headers, body)

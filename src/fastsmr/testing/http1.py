"""HTTP/1.1 on the local endpoint's connections: reading requests, writing whole responses.

A request's body in chunked transfer coding is taken apart by the codec's
``ChunkedDecoder``, the one HTTP chunked parser of the project. The response
streams themselves are written by :mod:`fastsmr.testing.stream_writer`.

>>> import asyncio
>>> async def parse(wire):
...     reader = asyncio.StreamReader()
...     reader.feed_data(wire)
...     reader.feed_eof()
...     return await RequestReader(reader, None).next()
>>> head = b"POST /ping HTTP/1.1\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"
>>> request = asyncio.run(parse(head + b"2\\r\\n{}\\r\\n0\\r\\n\\r\\n"))
>>> request.method, request.path, request.body, request.keep_alive
('POST', '/ping', b'{}', True)
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
import uuid
from email.utils import formatdate
from typing import Any, Dict, Mapping, NoReturn, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from ..codec import backend
from ..codec.errors import ChunkedEncodingError

__all__ = ["Request", "RequestReader", "HangUp", "respond", "error", "date_header", "region_of", "MAX_HEAD"]

#: The longest request head the endpoint reads; a longer one gets HTTP 431.
MAX_HEAD = 64 * 1024
# Bodies past SageMaker's limit are read up to this size so the client gets a
# ValidationError instead of a broken pipe; beyond it we hang up.
_DISCARD_LIMIT = 64 * 1024 * 1024
_READ = 64 * 1024
_REASONS = {
    200: "OK", 400: "Bad Request", 404: "Not Found", 424: "Failed Dependency", 431: "Request Header Fields Too Large",
}
_REGION = re.compile(r"Credential=[^/,]+/\d{8}/([a-z0-9-]+)/")


@dataclasses.dataclass
class Request:
    """One request: ``path`` without its query, header names in lower case, the whole body."""

    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    keep_alive: bool


class HangUp(Exception):
    """The connection must end now (bad framing, reset fault)."""


class RequestReader:
    """Reads the requests of one connection, one after the other.

    What a read takes past the end of one request (a pipelined next one) is
    kept for the next :meth:`next`.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: Any) -> None:
        self.reader = reader
        self.writer = writer
        self._buffer = bytearray()

    async def _more(self) -> bool:
        data = await self.reader.read(_READ)
        self._buffer += data
        return bool(data)

    async def next(self) -> Optional[Request]:
        """The next request; ``None`` when the client closed between requests.

        Raises :class:`HangUp` (after answering 400 or 431 where HTTP has an
        answer) when the request cannot be read.
        """
        buffer = self._buffer
        if not buffer and not await self._more():
            return None
        if buffer[0] == 0x16:
            # A TLS handshake record: an https:// client. Answering in plain HTTP
            # at once fails its handshake now ("wrong version number") instead of
            # leaving it to wait for a ServerHello until its timeout.
            self._refuse(400, b"this endpoint speaks plain HTTP: use http://")
        end = buffer.find(b"\r\n\r\n")
        while end < 0:
            if len(buffer) > MAX_HEAD:
                self._refuse(431)
            scanned = max(0, len(buffer) - 3)
            if not await self._more():
                raise HangUp  # the connection ended inside a request head
            end = buffer.find(b"\r\n\r\n", scanned)
        if end + 4 > MAX_HEAD:
            self._refuse(431)
        lines = buffer[:end].decode("latin-1").split("\r\n")
        del buffer[: end + 4]
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self._refuse(400)
        headers: Dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        if headers.get("expect", "").lower() == "100-continue":
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._chunked_body()
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                length = -1
            if not 0 <= length <= _DISCARD_LIMIT:
                self._refuse(400)
            while len(buffer) < length:
                if not await self._more():
                    raise HangUp  # the connection ended inside the body
            body = bytes(buffer[:length])
            del buffer[:length]
        return Request(method, urlsplit(target).path, headers, body, keep_alive)

    async def _chunked_body(self) -> bytes:
        decoder = backend.impl.ChunkedDecoder()
        body = bytearray()
        piece = bytes(self._buffer)
        self._buffer.clear()
        try:
            while True:
                body += decoder.feed(piece)
                if decoder.done:
                    # The bytes past the body belong to the next request.
                    self._buffer += piece[len(piece) - decoder.unused :]
                    return bytes(body)
                if len(body) > _DISCARD_LIMIT:
                    raise HangUp
                piece = await self.reader.read(_READ)
                if not piece:
                    decoder.close()  # raises: the body ended before its last chunk
        except ChunkedEncodingError:
            raise HangUp from None

    def _refuse(self, status: int, body: bytes = b"") -> NoReturn:
        respond(self.writer, status, body, "text/plain", str(uuid.uuid4()), close=True)
        raise HangUp


def date_header() -> str:
    """The ``Date`` header line, now."""
    return "Date: " + formatdate(time.time(), usegmt=True)


def region_of(headers: Mapping[str, str]) -> str:
    """The region a SigV4 ``authorization`` header names (us-east-1 without one)."""
    found = _REGION.search(headers.get("authorization", ""))
    return found.group(1) if found else "us-east-1"


def respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    content_type: str,
    request_id: str,
    extra: Sequence[Tuple[str, str]] = (),
    *,
    close: bool = False,
) -> None:
    """Write a whole response (``Content-Length`` framed) with the request ID AWS services send."""
    head = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        f"x-amzn-RequestId: {request_id}",
        *(f"{name}: {value}" for name, value in extra),
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        date_header(),
    ]
    if close:
        head.append("Connection: close")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def error(writer: asyncio.StreamWriter, status: int, code: str, body: Dict[str, Any], request_id: str) -> None:
    """A rest-json service's error: the code in ``x-amzn-ErrorType``, the message in the JSON body."""
    # botocore reads the code from the header and the message from the body's "message"/"Message".
    respond(writer, status, json.dumps(body).encode(), "application/json", request_id, [("x-amzn-ErrorType", code)])

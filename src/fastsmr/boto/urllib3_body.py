"""A botocore response body read in large reads, de-chunked by the codec.

botocore reads an event stream through urllib3's ``HTTPResponse.stream()``,
which takes the chunked transfer coding apart in Python, one HTTP chunk per
step; a model server sends a token per chunk, and those steps cost more than
decoding the event-stream message inside each chunk. :func:`body_chunks`
reads the same response with ``read1`` (one socket read of whatever has
arrived, up to 64 KiB) and lets the backend's ``ChunkedDecoder`` find the
chunks. urllib3 stays in charge of what it owns: its ``_error_catcher`` turns
socket errors into the exceptions ``stream()`` raises and returns the
connection to the pool when the body is read, or closes it when reading
failed or stopped early, exactly as around its own chunked reads.

On a plain TCP socket the body goes further from Python: a
:class:`SocketBody` hands the socket to the codec's ``BodyReader``, which
receives, de-chunks and decodes in one call per arrival (see
:func:`socket_body` for what is taken).
"""

from __future__ import annotations

import os
import socket
import struct
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional, Tuple, Type

from ..codec import backend

if TYPE_CHECKING:
    from urllib3.response import HTTPResponse

_HTTPResponse: Optional[Type[HTTPResponse]]
try:
    from urllib3.response import HTTPResponse as _HTTPResponse
    from urllib3.util.response import is_response_to_head as _is_response_to_head
except ImportError:  # no urllib3: every body goes through its own stream()
    _HTTPResponse = None

__all__ = ["body_chunks", "short_body", "socket_body", "SocketBody", "READ_SIZE"]

#: The most one socket read takes (urllib3's ``stream()`` default too).
READ_SIZE = 65536


def body_chunks(raw: Any) -> Iterator[bytes]:
    """The body of ``raw`` (botocore's ``raw_stream``) as ``raw.stream()`` would yield it.

    A urllib3 response in chunked transfer coding whose body is still unread
    and not content-decoded is read directly; anything else goes through
    ``raw.stream()``.
    """
    reader = _socket_reader(raw)
    if reader is None:
        return iter(raw.stream())
    return _dechunked(raw, reader)


def short_body(raw: Any) -> Optional[Tuple[int, int]]:
    """(Content-Length, bytes received) of a urllib3 body read to its end short
    of its Content-Length, else None (a body without one, or complete).

    botocore opens its responses with ``enforce_content_length=False``
    (botocore/httpsession.py), so urllib3's ``stream()`` ends quietly when
    the connection closes early; urllib3 still counts what is left
    (``length_remaining``, from the Content-Length header; None for a chunked
    body) and what it read (``tell()``, the body's bytes as sent).
    """
    if _HTTPResponse is None or not isinstance(raw, _HTTPResponse):
        return None
    remaining = getattr(raw, "length_remaining", None)
    if not remaining or remaining < 0:
        return None
    received = raw.tell()
    return received + remaining, received


def _socket_reader(raw: Any) -> Optional[Any]:
    """The buffered socket file under ``raw`` when its chunks can be read from it, else None."""
    if _HTTPResponse is None or not isinstance(raw, _HTTPResponse):
        return None
    try:
        # chunk_left is None between chunks: no chunk is half read.
        if not raw.chunked or raw.chunk_left is not None or not raw.supports_chunked_reads():
            return None
        if raw.decode_content and raw.headers.get("content-encoding"):
            return None
        original = raw._original_response
        if original is None or _is_response_to_head(original):  # pyright: ignore[reportPossiblyUnboundVariable]  # imported with _HTTPResponse
            return None
        fp = raw._fp
        if fp is None:  # the body was released
            return None
        reader = fp.fp
        raw._error_catcher  # noqa: B018 - must exist: it maps the errors
    except AttributeError:  # a urllib3 whose internals differ
        return None
    return reader if reader is not None and hasattr(reader, "read1") else None


def _dechunked(raw: Any, reader: Any) -> Iterator[bytes]:
    decoder = backend.impl.ChunkedDecoder()
    feed, read1 = decoder.feed, reader.read1
    # Like urllib3's read_chunked, the whole read runs in one _error_catcher:
    # an error, or a consumer that stops early (GeneratorExit at a yield),
    # closes the connection; a clean end releases it.
    with raw._error_catcher():
        while not decoder.done:
            data = read1(READ_SIZE)
            if not data:
                decoder.close()  # raises unless the last chunk was read
                break
            body = feed(data)
            if body:
                yield body
                feed(b"")  # raises an error found past the data now, not after another read
        if decoder.unused and raw._connection is not None:
            # Bytes past the end of the body belong to no response: the
            # connection cannot be reused.
            raw._connection.close()
        raw._original_response.close()


# --- read straight from the socket ----------------------------------------------------


class SocketBody:
    """A botocore body read from its socket by the codec's ``BodyReader``.

    Where :func:`body_chunks` still goes through Python's socket file for
    every arrival (``read1``, ``SocketIO.readinto``, and the ``poll()`` a
    socket with a timeout makes before each receive), a thread reading a
    ``SocketBody`` makes one call per arrival: ``BodyReader.read`` receives,
    de-chunks and decodes, releasing the GIL once. For that, while the body
    is read, the socket is blocking and its read timeout is the socket's
    receive timeout (``SO_RCVTIMEO``), so that the wait needs no poll; it
    gets its timeout back when the body ends. urllib3 stays in charge as
    around its own reads (see :func:`_dechunked`): errors become its
    exceptions (a receive that times out its ``ReadTimeoutError``), a clean
    end returns the connection to the pool, anything else closes it.

    Made by :func:`socket_body`; read ``with body.reading(decoder) as read:``.
    """

    __slots__ = ("raw", "reader", "sock")

    def __init__(self, raw: Any, reader: Any, sock: Any) -> None:
        self.raw = raw
        self.reader = reader
        self.sock = sock

    @contextmanager
    def reading(self, decoder: Any) -> Iterator[Callable[[Any], Optional[List[Any]]]]:
        """``read(events)``: the next messages of the body (a non-empty list in
        ``decoder.feed``'s forms), None at its end."""
        raw, sock = self.raw, self.sock
        with raw._error_catcher():
            # Whatever the socket file holds, or one receive when it holds
            # nothing: afterwards it holds nothing (read1 takes all it has).
            buffered = self.reader.read1()
            timeout = sock.gettimeout()
            sock.settimeout(None)
            try:
                # A zero timeval means no timeout: the least one is a microsecond.
                wait = 0 if timeout is None else max(1, round(timeout * 1e6))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _TIMEVAL.pack(wait // 1000000, wait % 1000000))
                body = backend.impl.BodyReader(sock.fileno(), decoder, buffered)
                yield body.read
            finally:
                if sock.fileno() != -1:  # not closed meanwhile
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _TIMEVAL.pack(0, 0))
                    sock.settimeout(timeout)
            if body.unused and raw._connection is not None:
                # Bytes past the end of the body belong to no response: the
                # connection cannot be reused.
                raw._connection.close()
            raw._original_response.close()


#: struct timeval, as SO_RCVTIMEO takes it (seconds, microseconds).
_TIMEVAL = struct.Struct("@ll")


def socket_body(raw: Any) -> Optional[SocketBody]:
    """A :class:`SocketBody` for ``raw`` (botocore's ``raw_stream``), or None to read it with :func:`body_chunks`.

    Taken: a body :func:`body_chunks` reads from the socket file, on a plain
    TCP socket with a timeout or none (POSIX). Not taken: TLS (an
    ``ssl.SSLSocket`` decrypts in the ``ssl`` module: its bytes cannot be
    received by the codec), a socket in non-blocking mode, and every body
    :func:`body_chunks` leaves to urllib3.
    """
    if not _POSIX:
        return None
    reader = _socket_reader(raw)
    if reader is None:
        return None
    try:
        sock = raw._connection.sock
        if type(sock) is not socket.socket or reader.raw._sock is not sock:
            return None
    except AttributeError:  # a urllib3 or http.client whose internals differ
        return None
    if sock.gettimeout() == 0 or sock.fileno() == -1:
        return None
    return SocketBody(raw, reader, sock)


_POSIX = os.name == "posix" and hasattr(socket, "SO_RCVTIMEO")

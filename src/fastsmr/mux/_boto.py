"""Taking a boto3 response body off urllib3 after its head, and giving the connection back.

botocore hands the caller ``response["Body"]``, an ``EventStream`` over a
urllib3 ``HTTPResponse`` whose head is read and whose body is not. The reader
takes the socket under it, with the body bytes urllib3's buffered file read
along with the head, and from then on reads the socket itself. When the body
ends the connection goes back to urllib3's pool as urllib3 would put it
there: released after a clean end, closed after an error, so the client's
next request reuses it or opens a new one.

Errors are the ones the same body gives when iterated with
``fastsmr.payload_parts``: urllib3's ``ProtocolError`` for a broken
connection and ``ReadTimeoutError`` when the read timeout runs out, the
botocore-compatible twins of fastsmr's decode errors, and botocore's
``EventStreamError`` for an exception message.
"""

from __future__ import annotations

import socket
from typing import Any, Tuple

from urllib3.exceptions import ProtocolError, ReadTimeoutError

from ..boto.core import botocore_message
from ..boto.errors import translate
from ..boto.streams import is_async, not_started, unwrap
from ..boto.sync import MessageSource
from ..boto.urllib3_body import _socket_reader
from ..codec import errors as _errors

__all__ = ["BotoBody"]


def _unread(source: Any) -> bool:
    """Whether a stream's message source has read nothing yet: botocore's
    generator, or the one ``fastsmr.install()`` gives each new stream."""
    if type(source) is MessageSource:
        return not_started(source.reading)
    return not_started(source)


class _Taken:
    """What iterating a body the reader took gives: an error, not an empty stream."""

    __slots__ = ()

    def __iter__(self) -> "_Taken":
        return self

    def __next__(self) -> Any:
        raise RuntimeError("this response body is read by a fastsmr.mux.Reader: its parts come in the reader's batches")


class BotoBody:
    """One boto3 ``EventStream`` whose socket the reader has taken."""

    __slots__ = ("stream", "raw", "sock", "timeout")

    def __init__(self, body: Any) -> None:
        stream = unwrap(body)
        if is_async(stream):
            # aiohttp's response parser (llhttp, in C) has taken in the body as it arrived, up to a
            # point inside a chunk whose remaining size it keeps to itself: the rest of the body
            # cannot be read from the socket without that state, so it is not taken at all.
            raise TypeError(
                "fastsmr.mux reads boto3 bodies; an aiobotocore body cannot be taken off aiohttp, whose "
                "HTTP parser has already read part of its chunked coding and does not expose where it "
                "stands: read it with fastsmr.aio.payload_parts, or make the request with boto3"
            )
        raw = getattr(stream, "_raw_stream", None)
        if raw is None or not _unread(getattr(stream, "_event_generator", None)):
            raise TypeError("fastsmr.mux takes a response body nobody has read from yet (response['Body'])")
        reader = _socket_reader(raw)
        connection = getattr(raw, "_connection", None)
        sock = getattr(connection, "sock", None)
        if sock is None:  # http.client hands the socket to a response that closes the connection
            sock = getattr(getattr(reader, "raw", None), "_sock", None)
        if reader is None or not isinstance(sock, socket.socket):
            raise TypeError("fastsmr.mux reads chunked urllib3 response bodies; this one is not (read it with "
                            "fastsmr.payload_parts instead)")
        self.stream = stream
        self.raw = raw
        self.sock = sock
        self.timeout = sock.gettimeout()
        stream._event_generator = _Taken()  # the body is the reader's now

    def take(self) -> Tuple[int, bytes]:
        """The socket's descriptor and the body bytes urllib3 already buffered."""
        reader = self.raw._fp.fp
        self.sock.settimeout(0)  # peek() below must not wait for bytes that are not there
        try:
            buffered = reader.peek() or b""
            if buffered:
                reader.read1(len(buffered))
        except OSError as error:
            self.finish(False)
            raise self.error(error) from None
        return self.sock.fileno(), bytes(buffered)

    def finish(self, reusable: bool) -> None:
        """Give the connection back to the pool: reusable after a clean end, else closed first."""
        raw = self.raw
        try:
            self.sock.settimeout(self.timeout)
        except OSError:
            pass
        original = raw._original_response
        if original is not None:
            original.close()
        if not reusable and raw._connection is not None:
            raw._connection.close()
        raw.release_conn()

    def error(self, end: Any) -> BaseException:
        """The exception the same end raises through ``fastsmr.payload_parts``."""
        if isinstance(end, _errors.DecodeError):
            return translate(end)
        if isinstance(end, TimeoutError):
            pool: Any = getattr(self.raw, "_pool", None)  # urllib3 raises it so, with the response's pool or None
            return ReadTimeoutError(pool, None, "Read timed out.")
        if isinstance(end, OSError):
            return ProtocolError(f"Connection broken: {end!r}", end)
        if isinstance(end, BaseException):
            return end
        try:  # an exception or error message: botocore's parser raises EventStreamError
            self.stream._parse_event(botocore_message(end))
        except Exception as error:
            return error
        return RuntimeError(f"botocore did not raise for the {end.message_type} message {end!r}")

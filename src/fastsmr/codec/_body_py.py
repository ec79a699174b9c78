"""The pure-Python twin of the C backend's ``BodyReader`` (``_body.pxi``, ``csrc/body.c``).

A ``BodyReader`` reads one HTTP/1.1 response body in chunked transfer coding
from a socket whose response head has been read, and decodes the event-stream
messages it carries. The socket is blocking, its wait bounded by a receive
timeout set on it (``SO_RCVTIMEO``) rather than by a poll before each read;
the receive timing out raises ``socket.timeout``, as a socket with a timeout
does. POSIX only (the descriptor is read with ``os.read``).

>>> import fastsmr, socket
>>> from fastsmr.codec._codec_py import Decoder  # a BodyReader decodes with its own backend's Decoder
>>> wire = fastsmr.encode({":event-type": "PayloadPart"}, b"Hi")
>>> a, b = socket.socketpair()
>>> _ = a.sendall(b"%x\\r\\n%s\\r\\n0\\r\\n\\r\\n" % (len(wire), wire))
>>> reader = BodyReader(b.fileno(), Decoder())
>>> reader.read({"PayloadPart": None}), reader.read(), reader.done
([b'Hi'], None, True)
>>> a.close(); b.close()
"""

from __future__ import annotations

import operator
import os
import socket
import threading
from typing import Any, Dict, List, Optional

from ._buffer_py import byte_view
from ._chunked_py import ChunkedDecoder
from .errors import ChunkedEncodingError, decoder_error, events_error

__all__ = ["BodyReader", "READ_SIZE"]

#: The most one receive takes (csrc/body.h's FSMR_BODY_READ, urllib3's read size).
READ_SIZE = 65536


class BodyReader:
    """Reads one chunked event-stream body from the socket ``fd`` into ``decoder``'s messages.

    ``decoder`` is a ``Decoder`` of the same backend (``TypeError`` otherwise);
    ``buffered`` is what was read of the body before (with the response head),
    any bytes-like object.
    """

    def __init__(self, fd: int, decoder: Any, buffered: Any = b"") -> None:
        from ._codec_py import Decoder  # not at import: _codec_py imports this module

        if decoder.__class__ is not Decoder:
            raise decoder_error(decoder)
        self._fd = operator.index(fd)
        self._buffered = byte_view(buffered).tobytes()  # body bytes read before the reader took over
        self._decoder = decoder
        self._chunked = ChunkedDecoder()
        self._error: Optional[BaseException] = None
        self._done = False
        self._busy = threading.Lock()

    @property
    def done(self) -> bool:
        """True once the last chunk was read (or the body ended cleanly)."""
        return self._done

    @property
    def unused(self) -> int:
        """Bytes received after the end of the body (they belong to no response)."""
        return self._chunked.unused

    def read(self, events: Optional[Dict[str, Optional[str]]] = None) -> Optional[List[Any]]:
        """The next messages of the body: a non-empty list, as ``Decoder.feed``
        returns them for ``events``; None once the body has ended.

        Blocks until messages arrive; raises the receive's ``OSError``
        (``socket.timeout`` when the socket's receive timeout runs out),
        ``ChunkedEncodingError`` for a broken transfer coding or a body the
        connection cut short, and the decoder's errors.
        """
        if events is not None and events.__class__ is not dict:
            raise events_error(events)
        if not self._busy.acquire(blocking=False):
            raise RuntimeError("a BodyReader is used by one thread at a time")
        try:
            return self._read(events)
        finally:
            self._busy.release()

    def _read(self, events: Optional[Dict[str, Optional[str]]]) -> Optional[List[Any]]:
        chunked, feed = self._chunked, self._decoder.feed
        while True:
            if self._error is not None:
                raise self._error.with_traceback(None)
            if self._done:
                return None
            feed(b"", events)  # raises an error found past the messages the last call returned
            data, self._buffered = self._buffered, b""
            try:
                data = data or os.read(self._fd, READ_SIZE)  # retried after a signal (PEP 475)
            except BlockingIOError:  # the receive timeout ran out
                self._error = socket.timeout("timed out")
                continue
            except OSError as error:
                self._error = error
                continue
            if not data:
                try:
                    chunked.close()
                except ChunkedEncodingError as error:
                    self._error = error
                    continue
                self._done = True  # only the trailer section was cut short: no data lost
                return None
            try:
                body = chunked.feed(data)
            except ChunkedEncodingError as error:  # raised at once only when no data came before the bad bytes
                self._error = error
                continue
            if not chunked.done:
                try:
                    chunked.feed(b"")  # raises an error found past the data
                except ChunkedEncodingError as error:
                    self._error = error  # raised once the data before it is delivered
            self._done = chunked.done
            if body:
                out: List[Any] = feed(body, events)
                if out:
                    return out

"""The pure-Python multiplexer: many chunked event-stream bodies, one ``selectors`` loop.

The C backend's ``Mux`` (csrc/mux.c: one epoll set, reads, de-chunking and
decoding with the GIL released) has exactly this API and behaviour; the
public reader (:mod:`fastsmr.mux`) drives either.

A body is a socket (its descriptor) whose HTTP/1.1 response head has been
read, in chunked transfer coding, carrying an event stream. ``poll`` waits
until some bodies have something to report and returns, for each, the
payloads of the ``PayloadPart`` events read since the last report and how
the body ended, if it did:

* ``None``: still open;
* :data:`END` (the last chunk was read and nothing followed it: the
  connection can carry another request) or :data:`END_UNUSED` (bytes came
  after the last chunk: the connection cannot);
* a ``Message`` whose ``:message-type`` is ``exception`` or ``error`` (the
  stream stops there, as botocore's reader raises on it);
* an exception: a ``DecodeError`` (``TruncatedStreamError`` if the body ended
  inside a message), a ``ChunkedEncodingError``, the ``OSError`` a read
  raised, or ``TimeoutError`` when nothing arrived for ``timeout`` seconds.

A body that ended is forgotten; its socket is left open for the caller.
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from typing import Any, Dict, List, Optional, Tuple

from ._chunked_py import ChunkedDecoder

__all__ = ["Mux", "END", "END_UNUSED", "READ_SIZE"]

#: ``poll``'s end value for a body read to its last chunk, the connection reusable.
END = 1
#: The same when bytes followed the last chunk (the connection is not reusable).
END_UNUSED = 2
#: The most one read takes from a socket.
READ_SIZE = 65536

_PARTS = {"PayloadPart": None}  # Decoder.feed returns a PayloadPart as its payload bytes
_Report = Tuple[int, List[bytes], Any]


class _Body:
    __slots__ = ("sock", "timeout", "deadline", "chunked", "decoder", "parts", "end")

    def __init__(self, sock: socket.socket, timeout: Optional[float]) -> None:
        self.sock = sock
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout if timeout is not None else None
        self.chunked = ChunkedDecoder()
        from ._codec_py import Decoder  # not at import: _codec_py imports this module

        self.decoder = Decoder()
        self.parts: List[bytes] = []
        self.end: Any = None


class Mux:
    """Reads many chunked event-stream bodies with one selector; see the module docstring.

    Not thread-safe, except :meth:`wake`, which any thread may call to make
    a ``poll`` in progress return.

    >>> import socket
    >>> a, b = socket.socketpair()
    >>> mux = Mux()
    >>> mux.add(a.fileno(), b"0\\r\\n\\r\\n")
    >>> mux.poll(0) == [(a.fileno(), [], END)]
    True
    >>> mux.close(); a.close(); b.close()
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._bodies: Dict[int, _Body] = {}
        self._ready: Dict[int, _Body] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)

    def fileno(self) -> int:
        """A descriptor that is readable when ``poll(0)`` may have something to report (for an event loop)."""
        return self._selector.fileno() if hasattr(self._selector, "fileno") else -1

    def __len__(self) -> int:
        return len(self._bodies)

    def add(self, fd: int, buffered: bytes = b"", timeout: Optional[float] = None) -> None:
        """Read the body on socket ``fd`` from now on (the socket is not closed when it ends).

        ``buffered`` holds body bytes already taken off the socket (read with
        the head). ``timeout`` (seconds) ends the body with ``TimeoutError``
        when nothing arrives for that long; None waits for ever.
        """
        if fd in self._bodies:
            raise ValueError(f"descriptor {fd} is already being read")
        sock = socket.socket(fileno=os.dup(fd))
        sock.setblocking(False)
        body = _Body(sock, timeout)
        self._bodies[fd] = body
        self._selector.register(sock, selectors.EVENT_READ, fd)
        if buffered:
            self._feed(fd, body, buffered)

    def remove(self, fd: int) -> None:
        """Stop reading the body on ``fd`` (nothing more is reported for it)."""
        body = self._bodies.pop(fd, None)
        self._ready.pop(fd, None)
        if body is not None:
            self._selector.unregister(body.sock)
            body.sock.close()

    def wake(self) -> None:
        """Make a ``poll`` in progress (in another thread) return now."""
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already woken, or closed

    def poll(self, timeout: Optional[float] = None) -> List[_Report]:
        """Wait up to ``timeout`` seconds (None: until something happens) and
        return ``(fd, parts, end)`` for every body with parts or an end.

        It returns early, possibly empty, when :meth:`wake` is called; with
        no body left it returns at once.
        """
        until = None if timeout is None else time.monotonic() + timeout
        while not self._ready:
            now = time.monotonic()
            wait = None if until is None else max(0.0, until - now)
            first = self.timeout()
            if first is not None:
                wait = first if wait is None else min(wait, first)
            if not self._bodies and wait is None:
                break
            woken = False
            for key, _ in self._selector.select(wait):
                fd = key.data
                if fd is None:
                    self._drain_wake()
                    woken = True
                    continue
                body = self._bodies.get(fd)
                if body is not None and body.end is None:
                    self._read(fd, body)
            self._expire()
            if woken or (until is not None and time.monotonic() >= until):
                break
        reports = []
        for fd, body in self._ready.items():
            reports.append((fd, body.parts, body.end))
            body.parts = []
            if body.end is not None:
                self._forget(fd, body)
        self._ready.clear()
        return reports

    def timeout(self) -> Optional[float]:
        """Seconds until the first body's timeout runs out (None: no body has one)."""
        deadlines = [b.deadline for b in self._bodies.values() if b.deadline is not None and b.end is None]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def close(self) -> None:
        """Stop reading every body (their sockets stay open) and free the selector."""
        for fd in list(self._bodies):
            self.remove(fd)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # --- internals -------------------------------------------------------------------

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _read(self, fd: int, body: _Body) -> None:
        try:
            data = body.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self._end(fd, body, error)
            return
        if not data:  # the connection closed
            try:
                body.chunked.close()  # raises unless the last chunk was read
                body.decoder.close()  # raises TruncatedStreamError inside a message
            except Exception as error:
                self._end(fd, body, error)
            else:  # a trailer section cut short: the body is over, the connection is not reusable
                self._end(fd, body, END_UNUSED)
            return
        self._feed(fd, body, data)

    def _feed(self, fd: int, body: _Body, data: bytes) -> None:
        if body.timeout is not None:
            body.deadline = time.monotonic() + body.timeout
        chunked = body.chunked
        try:
            payload = chunked.feed(data)
            if payload:
                for item in body.decoder.feed(payload, _PARTS):
                    if item.__class__ is bytes:
                        body.parts.append(item)
                    elif item.message_type in ("exception", "error"):
                        self._end(fd, body, item)
                        return
                    elif item.event_type == "PayloadPart":
                        body.parts.append(item.payload)
                body.decoder.feed(b"")  # an error found past the messages raises now, not at the next read
                chunked.feed(b"")  # and so does one past the chunk data
            if chunked.done:
                body.decoder.close()  # raises TruncatedStreamError inside a message
                self._end(fd, body, END_UNUSED if chunked.unused else END)
                return
        except Exception as error:
            self._end(fd, body, error)
            return
        if body.parts:
            self._ready[fd] = body

    def _expire(self) -> None:
        now = time.monotonic()
        for fd, body in list(self._bodies.items()):
            if body.end is None and body.deadline is not None and now >= body.deadline:
                self._end(fd, body, TimeoutError(f"no data for {body.timeout:g} s"))

    def _end(self, fd: int, body: _Body, end: Any) -> None:
        body.end = end
        self._ready[fd] = body

    def _forget(self, fd: int, body: _Body) -> None:
        del self._bodies[fd]
        self._selector.unregister(body.sock)
        body.sock.close()

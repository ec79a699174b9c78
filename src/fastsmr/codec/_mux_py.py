"""The pure-Python multiplexer: many chunked event-stream bodies, one ``selectors`` loop.

The C backend's ``Mux`` (csrc/mux.c: one epoll set, reads, de-chunking and
decoding with the GIL released) has this API and behaviour, and makes the
text of a body itself where this one leaves it to the caller
(``TEXT_FORMATS`` is empty here); the public reader (:mod:`fastsmr.mux`)
drives either.

A body is a socket (its descriptor) whose HTTP/1.1 response head has been
read, in chunked transfer coding, carrying an event stream, added under a
key of the caller's. ``poll`` waits until some bodies have something to
report and returns a report for each, ``(key, parts, events, handover,
end)`` as :mod:`.muxing` describes: the payloads of the ``PayloadPart``
events read since the last report, and how the body ended, if it did:

* :data:`END` (the last chunk was read and nothing followed it: the
  connection can carry another request) or :data:`END_UNUSED` (bytes came
  after the last chunk: the connection cannot);
* a ``Message`` whose ``:message-type`` is ``exception`` or ``error`` (the
  stream stops there, as botocore's reader raises on it);
* an exception: a ``DecodeError`` (``TruncatedStreamError`` if the body ended
  inside a message), a ``ChunkedEncodingError``, the ``OSError`` a read
  raised, or ``TimeoutError`` when nothing arrived for ``timeout`` seconds.

A body may relay: bytes the caller :meth:`~Mux.send` s for it are written to
its downstream socket without blocking, and what the socket does not take
waits in a buffer; past ``limit`` waiting bytes the body's own socket is not
read until half of them are gone. :meth:`~Mux.flush` ends the relay once
everything is written (reported as :data:`.muxing.FLUSHED`); a write that
fails ends it with :class:`.muxing.DownstreamFailed`, and so does a
downstream that takes nothing for ``timeout`` seconds while the body waits
for it. Either way the other bodies never wait for one downstream.

A body that ended is forgotten; its sockets are left open for the caller.
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from typing import Any, Dict, List, Optional, Tuple

from ._buffer_py import byte_view
from ._chunked_py import ChunkedDecoder
from .muxing import (
    DEFAULT_LIMIT,
    END,
    END_UNUSED,
    FLUSHED,
    DownstreamFailed,
    already_read,
    check_timeout,
    closed,
    descriptor_taken,
    downstream_timeout,
    read_timeout,
)

__all__ = ["Mux", "END", "END_UNUSED", "READ_SIZE"]

#: The most one read takes from a socket.
READ_SIZE = 65536

_PARTS: Dict[str, Optional[str]] = {"PayloadPart": None}  # Decoder.feed returns a PayloadPart as its payload bytes
_SEND_FLAGS = getattr(socket, "MSG_DONTWAIT", 0) | getattr(socket, "MSG_NOSIGNAL", 0)
_STOPPED = object()  # the body's end when the caller stopped it early or its relay failed (never reported)
_Report = Tuple[Any, List[bytes], None, None, Any]


class _Body:
    __slots__ = ("key", "sock", "timeout", "deadline", "chunked", "decoder", "parts", "end", "end_reported",
                 "relay", "down", "limit", "full", "held", "flushing", "relay_end", "reading", "writing")

    def __init__(self, key: Any, sock: socket.socket, timeout: Optional[float], relay: Optional[socket.socket],
                 limit: int) -> None:
        self.key = key
        self.sock = sock
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout if timeout is not None else None
        self.chunked = ChunkedDecoder()
        from ._codec_py import Decoder  # not at import: _codec_py imports this module

        self.decoder = Decoder()
        self.parts: List[bytes] = []
        self.end: Any = None
        self.end_reported = False
        self.relay = relay
        self.down = bytearray()  # bytes waiting for the downstream
        self.limit = limit
        self.full = False  # more than limit bytes wait: sock is not read
        self.held = False
        self.flushing = False
        self.relay_end: Any = None
        self.reading = False  # sock is registered
        self.writing = False  # relay is registered (for room)

    def waiting_for(self) -> int:
        """1: its own socket; 2: its downstream; 0: nothing (no deadline)."""
        if self.relay is not None and self.relay_end is None and self.down and (self.full or self.flushing):
            return 2
        if self.end is None and not self.held and not self.full:
            return 1
        return 0


class Mux:
    """Reads many chunked event-stream bodies with one selector; see the module docstring.

    Not thread-safe, except :meth:`wake`, which any thread may call to make
    a ``poll`` in progress return.

    >>> import socket
    >>> a, b = socket.socketpair()
    >>> mux = Mux()
    >>> mux.add("a", a.fileno(), b"0\\r\\n\\r\\n")
    >>> mux.poll(0) == [("a", [], None, None, END)]
    True
    >>> mux.close(); a.close(); b.close()
    """

    #: The text formats this multiplexer makes the text of itself: none.
    TEXT_FORMATS: Tuple[str, ...] = ()

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._bodies: Dict[Any, _Body] = {}
        self._ready: Dict[Any, _Body] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise closed()

    def fileno(self) -> int:
        """A descriptor that is readable when ``poll(0)`` may have something to report (for an event loop),
        -1 once closed."""
        if self._closed:
            return -1
        return self._selector.fileno() if hasattr(self._selector, "fileno") else -1

    def __len__(self) -> int:
        return len(self._bodies)

    def add(self, key: Any, fd: int, buffered: bytes = b"", timeout: Optional[float] = None,
            text: Optional[str] = None, relay: Optional[int] = None, limit: int = DEFAULT_LIMIT) -> None:
        """Read the body on socket ``fd`` from now on, reported under ``key``
        (the socket is not closed when it ends).

        ``buffered`` holds body bytes already taken off the socket (read with
        the head). ``timeout`` (seconds) ends the body with ``TimeoutError``
        when nothing arrives for that long; None waits for ever. ``relay`` is
        the descriptor of a connected socket that :meth:`send` writes to,
        with at most ``limit`` bytes waiting before ``fd`` is left unread.
        ``text`` must be None: this multiplexer does not make text.
        """
        timeout = check_timeout(timeout)
        if text is not None:
            raise ValueError("this multiplexer does not make text (TEXT_FORMATS is empty)")
        view = byte_view(buffered)
        self._check_open()
        if key in self._bodies:
            raise already_read(key)
        sock = socket.socket(fileno=os.dup(fd))
        sock.setblocking(False)
        # The relay's file description is shared with the caller's socket: it
        # is written with MSG_DONTWAIT rather than made non-blocking.
        downstream = socket.socket(fileno=os.dup(relay)) if relay is not None else None
        body = _Body(key, sock, timeout, downstream, limit)
        try:
            self._update(body)
        except (KeyError, ValueError):
            sock.close()
            if downstream is not None:
                downstream.close()
            raise descriptor_taken(fd, relay) from None
        self._bodies[key] = body
        if view:
            self._feed(body, view.tobytes())

    def remove(self, key: Any) -> None:
        """Stop reading ``key``'s body and drop what waits for its relay (nothing more is reported for it)."""
        self._check_open()
        body = self._bodies.pop(key, None)
        self._ready.pop(key, None)
        if body is not None:
            self._forget(body)

    def send(self, key: Any, data: bytes) -> None:
        """Queue ``data`` for ``key``'s relay (written as the downstream takes it)."""
        view = byte_view(data)
        self._check_open()
        body = self._bodies.get(key)
        if body is None or body.relay is None or body.relay_end is not None or not view:
            return
        body.down += view
        self._queued(body)

    def flush(self, key: Any) -> None:
        """``key``'s relay gets nothing more: stop reading its body if it is still
        read, and report ``FLUSHED`` once the downstream took every byte.
        A key no longer read is ignored, here as in :meth:`send` and :meth:`hold`."""
        self._check_open()
        body = self._bodies.get(key)
        if body is None:
            return
        if body.end is None:
            body.end = _STOPPED
            self._update(body)
        if body.relay is None or body.relay_end is not None or body.flushing:
            return
        body.flushing = True
        if not body.down:
            self._end_relay(body, FLUSHED)
            return
        self._set_deadline(body)
        self._write(body)

    def hold(self, key: Any, held: bool) -> None:
        """Leave ``key``'s body unread (``held``), or read it again."""
        self._check_open()
        body = self._bodies.get(key)
        if body is None or body.held == bool(held):
            return
        body.held = bool(held)
        if not held:
            self._set_deadline(body)
        self._update(body)

    def wake(self) -> None:
        """Make a ``poll`` in progress (in another thread) return now."""
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already woken, or closed

    def poll(self, timeout: Optional[float] = None) -> List[_Report]:
        """Wait up to ``timeout`` seconds (None: until something happens) and
        return a report (see :mod:`.muxing`) for every body with something to report.

        It returns early, possibly empty, when :meth:`wake` is called.
        """
        self._check_open()
        until = None if timeout is None else time.monotonic() + timeout
        while not self._ready:
            now = time.monotonic()
            wait = None if until is None else max(0.0, until - now)
            first = self.timeout()
            if first is not None:
                wait = first if wait is None else min(wait, first)
            woken = False
            for key, _events in self._selector.select(wait):
                entry = key.data
                if entry is None:
                    self._drain_wake()
                    woken = True
                    continue
                body, writing = entry
                if writing:
                    self._write(body)
                elif body.reading:
                    self._read(body)
            self._expire()
            if woken or (until is not None and time.monotonic() >= until):
                break
        reports: List[_Report] = []
        for key, body in self._ready.items():
            end = None
            if body.end is not None and body.end is not _STOPPED and not body.end_reported:
                body.end_reported = True
                end = body.end
            if body.parts or end is not None:
                reports.append((key, body.parts, None, None, end))
                body.parts = []
            if body.relay_end is not None:
                reports.append((key, [], None, None, body.relay_end))
            elif body.relay is not None or not body.end_reported:
                continue
            del self._bodies[key]
            self._forget(body)
        self._ready.clear()
        return reports

    def timeout(self) -> Optional[float]:
        """Seconds until a body's timeout runs out (None: no body has one, or the Mux is closed)."""
        deadlines = [b.deadline for b in self._bodies.values() if b.deadline is not None and b.waiting_for()]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def close(self) -> None:
        """Stop reading every body (their sockets stay open) and free the selector;
        every later call but this one, :meth:`wake`, :meth:`timeout` and
        :meth:`fileno` raises ``ValueError``."""
        if self._closed:
            return
        for key in list(self._bodies):
            self.remove(key)
        self._closed = True
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

    def _set_deadline(self, body: _Body) -> None:
        if body.timeout is not None:
            body.deadline = time.monotonic() + body.timeout

    def _update(self, body: _Body) -> None:
        """Register the body's socket while it may be read, its relay while bytes wait for it."""
        read = body.end is None and not body.held and not body.full
        if read != body.reading:
            if read:
                self._selector.register(body.sock, selectors.EVENT_READ, (body, False))
            else:
                self._selector.unregister(body.sock)
            body.reading = read
        relay = body.relay
        write = relay is not None and body.relay_end is None and bool(body.down)
        if write != body.writing:
            assert relay is not None  # writing only ever starts for a body with a relay
            if write:
                self._selector.register(relay, selectors.EVENT_WRITE, (body, True))
            else:
                self._selector.unregister(relay)
            body.writing = write

    def _read(self, body: _Body) -> None:
        try:
            data = body.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self._end(body, error)
            return
        if not data:  # the connection closed
            try:
                body.chunked.close()  # raises unless the last chunk was read
                body.decoder.close()  # raises TruncatedStreamError inside a message
            except Exception as error:
                self._end(body, error)
            else:  # a trailer section cut short: the body is over, the connection is not reusable
                self._end(body, END_UNUSED)
            return
        self._feed(body, data)

    def _feed(self, body: _Body, data: bytes) -> None:
        self._set_deadline(body)
        chunked = body.chunked
        try:
            payload = chunked.feed(data)
            if payload:
                for item in body.decoder.feed(payload, _PARTS):
                    if item.__class__ is bytes:
                        body.parts.append(item)
                    elif item.message_type in ("exception", "error"):
                        self._end(body, item)
                        return
                    elif item.event_type == "PayloadPart":
                        body.parts.append(item.payload)
                body.decoder.feed(b"")  # an error found past the messages raises now, not at the next read
                chunked.feed(b"")  # and so does one past the chunk data
            if chunked.done:
                body.decoder.close()  # raises TruncatedStreamError inside a message
                self._end(body, END_UNUSED if chunked.unused else END)
                return
        except Exception as error:
            self._end(body, error)
            return
        if body.parts:
            self._ready[body.key] = body

    def _queued(self, body: _Body) -> None:
        """Bytes were added for the downstream: write them now, unless it is known to have no room."""
        if not body.writing:
            self._write(body)
        elif not body.full and len(body.down) > body.limit:
            body.full = True
            self._set_deadline(body)
            self._update(body)

    def _write(self, body: _Body) -> None:
        if body.relay_end is not None:
            return
        before = body.waiting_for()
        progress = False
        relay = body.relay
        assert relay is not None  # only a body with a relay is registered for writing
        while body.down:
            try:
                sent = relay.send(body.down, _SEND_FLAGS)
            except InterruptedError:
                continue
            except BlockingIOError:
                break
            except OSError as error:
                self._end_relay(body, DownstreamFailed(error))
                return
            del body.down[:sent]
            progress = True
        if body.full and len(body.down) <= body.limit // 2:
            body.full = False
        if not body.full and len(body.down) > body.limit:
            body.full = True
        after = body.waiting_for()
        if (after == 2 and (progress or before != 2)) or (after == 1 and before != 1):
            self._set_deadline(body)
        self._update(body)
        if body.flushing and not body.down:
            self._end_relay(body, FLUSHED)

    def _end_relay(self, body: _Body, end: Any) -> None:
        if body.relay_end is not None:
            return
        body.relay_end = end
        body.down = bytearray()
        if body.end is None:
            body.end = _STOPPED  # the stream is over
        self._update(body)
        self._ready[body.key] = body

    def _expire(self) -> None:
        now = time.monotonic()
        for body in list(self._bodies.values()):
            if body.deadline is None or now < body.deadline:
                continue
            waiting = body.waiting_for()
            if waiting == 2:
                assert body.timeout is not None  # a deadline comes from a timeout
                self._end_relay(body, DownstreamFailed(downstream_timeout(body.timeout)))
            elif waiting == 1:
                assert body.timeout is not None
                self._end(body, read_timeout(body.timeout))

    def _end(self, body: _Body, end: Any) -> None:
        if body.end is not None:
            return
        body.end = end
        self._update(body)
        self._ready[body.key] = body

    def _forget(self, body: _Body) -> None:
        if body.reading:
            self._selector.unregister(body.sock)
        if body.writing and body.relay is not None:
            self._selector.unregister(body.relay)
        body.reading = body.writing = False
        body.sock.close()
        if body.relay is not None:
            body.relay.close()

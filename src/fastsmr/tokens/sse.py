"""Server-Sent Events parsed as the WHATWG HTML standard's event-stream
interpretation says, from byte chunks cut anywhere.

The parser works on bytes: every delimiter (CR, LF, ``:``, space) is ASCII,
which never occurs inside a multi-byte UTF-8 sequence, so splitting before
decoding gives the same fields as decoding the whole stream first. Field
values are decoded with U+FFFD replacement, as the standard's "UTF-8 decode"
does; ``text_stream`` takes the raw ``data`` bytes instead, so that its own
``errors`` policy applies.
"""

from __future__ import annotations

from itertools import chain
from typing import Iterable, Iterator, List, NamedTuple, Optional

from .lines import BytesLike

__all__ = ["SSEEvent", "SSEParser", "sse_events"]

_BOM = b"\xef\xbb\xbf"


class SSEEvent(NamedTuple):
    """One dispatched Server-Sent Event.

    ``event`` is the event type (``"message"`` unless an ``event:`` field set
    it), ``data`` the ``data:`` lines joined by ``\\n``, ``id`` the stream's
    last event ID when the event was dispatched (it persists across events,
    as in the standard), and ``retry`` the last reconnection time in
    milliseconds that the stream set, or ``None``.
    """

    event: str
    data: str
    id: str = ""
    retry: Optional[int] = None


_new_event = tuple.__new__  # builds an SSEEvent without a Python-level __new__ call


class SSEParser:
    """Incremental event-stream parser: ``feed`` returns the events a chunk completes.

    With ``raw=True`` it returns ``(event_type, data_bytes)`` pairs instead of
    :class:`SSEEvent` objects (``event_type`` is ``""`` when unset).
    """

    __slots__ = ("_raw", "_tail", "_after_cr", "_started", "_data", "_event", "_id", "_retry")

    def __init__(self, raw: bool = False) -> None:
        self._raw = raw
        self._tail: List[bytes] = []  # pieces of the line still being received
        self._after_cr = False  # the last part ended with CR: a LF opening the next one pairs with it
        self._started = False  # the first line (the only place a BOM is dropped) is behind us
        self._data: List[bytes] = []  # the data buffer, one entry per data line
        self._event = ""  # the event type buffer
        self._id = ""  # the last event ID buffer (never reset by dispatch)
        self._retry: Optional[int] = None

    def feed(self, part: BytesLike) -> list:
        if part.__class__ is not bytes:
            part = bytes(part)
        # The usual shape of a token stream, one "data:" line and its blank line
        # per part, with nothing pending: a shortcut that parses it the same way.
        if (
            part.find(b"\n") == len(part) - 2
            and part[-1] == 10
            and part.startswith(b"data:")
            and not self._tail
            and not self._data
            and part.find(b"\r") < 0
        ):
            self._after_cr = False
            self._started = True
            value = part[6:-2] if part[5] == 32 else part[5:-2]
            event, self._event = self._event, ""
            if self._raw:
                return [(event, value)]
            return [_new_event(SSEEvent, (event or "message", value.decode("utf-8", "replace"), self._id, self._retry))]
        if not part:
            return []
        if self._after_cr:
            self._after_cr = False
            if part[0] == 10:  # the LF of a CRLF whose CR ended the last part
                part = part[1:]
        if part.find(b"\r") >= 0:
            self._after_cr = part[-1] == 13
            part = part.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        found = part.split(b"\n")
        rest = found.pop()
        events: list = []
        if not found:
            if rest:
                self._tail.append(rest)
            return events
        if self._tail:
            self._tail.append(found[0])
            found[0] = b"".join(self._tail)
            self._tail = []
        if rest:
            self._tail.append(rest)
        if not self._started:
            self._started = True
            if found[0][:3] == _BOM:
                found[0] = found[0][3:]
        data = self._data
        for line in found:  # the lines this part completed; the loop is inlined for speed
            if not line:  # blank line: dispatch
                if data:
                    joined = b"\n".join(data)
                    data.clear()
                    if self._raw:
                        events.append((self._event, joined))
                    else:
                        events.append(
                            _new_event(
                                SSEEvent,
                                (self._event or "message", joined.decode("utf-8", "replace"), self._id, self._retry),
                            )
                        )
                self._event = ""
            elif line.startswith(b"data:"):  # the common field first
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line[0] != 58:  # a line starting with ":" is a comment
                self._field(line)
        return events

    def close(self, flush: bool = False) -> list:
        """End of stream. The standard discards an event not closed by a blank
        line; ``flush=True`` dispatches it instead (lenient readers)."""
        # Two line ends complete any partial line and then close the event (after
        # a CR that ended the last part, the first LF pairs with it, as it should).
        events = self.feed(b"\n\n") if flush else []
        self._tail.clear()
        self._data.clear()
        self._event = ""
        return events

    def _field(self, line: bytes) -> None:
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif name == b"retry":
            if value.isdigit():  # ASCII digits only, and at least one
                self._retry = int(value)
        # any other field name is ignored, as the standard says


def sse_events(parts: Iterable[BytesLike]) -> Iterator[SSEEvent]:
    """Yield the Server-Sent Events of a stream delivered in arbitrary chunks.

    Parsing follows the WHATWG standard: ``data:`` lines are joined by
    ``\\n``; ``event:``, ``id:`` (ignored if it contains NUL) and ``retry:``
    (digits only) fields; comments (``:`` lines) ignored; one optional space
    after the colon; CRLF, CR or LF line ends, including a CR at the end of
    one chunk and its LF at the start of the next; a UTF-8 BOM at the start
    dropped; an event is dispatched by a blank line, and one that the stream
    does not close with a blank line is discarded, as the standard says.

    >>> [e.data for e in fastsmr.sse_events([b'data: {"a":', b' 1}\\r', b'\\n\\r\\n'])]
    ['{"a": 1}']
    """
    parser = SSEParser()
    # map() and chain() run the per-part and per-event loops in C.
    return chain(chain.from_iterable(map(parser.feed, parts)), _end(parser))


def _end(parser: SSEParser) -> Iterator[SSEEvent]:
    yield from parser.close()  # the standard's end of stream: an unfinished event is discarded

"""Server-Sent Events parsed as the WHATWG HTML standard's event-stream
interpretation says, from byte chunks cut anywhere, with two departures that
keep a model server's output from being lost without an error: a line that
is none of the standard's fields (``data``, ``event``, ``id``, ``retry``) nor
a ``:`` comment raises :class:`~fastsmr.TextStreamError` (the standard
ignores it; in a model's stream it means the stream is not what it is read
as, e.g. JSON lines), and an event that the stream does not close with a
blank line is dispatched at the end of the stream (the standard discards it).

The parser works on bytes: every delimiter (CR, LF, ``:``, space) is ASCII,
which never occurs inside a multi-byte UTF-8 sequence, so splitting before
decoding gives the same fields as decoding the whole stream first. Field
values are decoded with U+FFFD replacement, as the standard's "UTF-8 decode"
does; ``text_stream`` takes the raw ``data`` bytes instead, so that its own
``errors`` policy applies.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from itertools import chain
from typing import TYPE_CHECKING, Any, Iterable, Iterator, List, NamedTuple, Optional

from .errors import TextStreamError
from .lines import BytesLike
from .parts import check_parts, part_bytes

__all__ = ["NOT_A_FIELD", "SSEEvent", "SSEParser", "data_offset", "sse_events"]

_BOM = b"\xef\xbb\xbf"
_FIELDS = (b"data", b"event", b"id", b"retry")

#: What a raw parser gives as the event type of a line that is no field:
#: ``(NOT_A_FIELD, line, offset)``. Unlike any event type a stream can set, it
#: is not a string.
NOT_A_FIELD = object()


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


def not_a_field(line: bytes, format: str, offset: int) -> TextStreamError:
    """The error for a line that is no Server-Sent Events field."""
    return TextStreamError(
        "a line that is no Server-Sent Events field (data, event, id, retry) or comment", line,
        format=format, offset=offset,
    )


class SSEParser:
    """Incremental event-stream parser: ``feed`` returns the events a chunk completes.

    With ``raw=True`` it returns ``(event_type, data_bytes, offset)`` tuples
    instead of :class:`SSEEvent` objects (``event_type`` is ``""`` when
    unset; ``offset`` is where the event's lines start in the stream), and a
    line that is no field comes back as ``(NOT_A_FIELD, line, offset)``, the
    last item of its feed, for the caller to judge; otherwise such a line
    raises :class:`TextStreamError` (``format`` names the stream in it),
    after the events before it. ``close()`` ends the stream.
    """

    __slots__ = (
        "_raw", "_format", "_tail", "_tail_len", "_after_cr", "_started", "_data", "_event", "_id", "_retry",
        "_fed", "_block",
    )

    def __init__(self, raw: bool = False, format: str = "sse") -> None:
        self._raw = raw
        self._format = format
        self._tail: List[bytes] = []  # pieces of the line still being received
        self._tail_len = 0  # their length
        self._after_cr = False  # the last part ended with CR: a LF opening the next one pairs with it
        self._started = False  # the first line (the only place a BOM is dropped) is behind us
        self._data: List[bytes] = []  # the data buffer, one entry per data line
        self._event = ""  # the event type buffer
        self._id = ""  # the last event ID buffer (never reset by dispatch)
        self._retry: Optional[int] = None
        self._fed = 0  # bytes of the stream fed so far
        # Stream offset of the first line after the last blank line, where the
        # next event starts; None: at the start of the next part.
        self._block: Optional[int] = None

    def feed(self, part: BytesLike) -> Iterable[Any]:
        """The events that ``part`` completes, in order; consume them before the next feed."""
        if part.__class__ is not bytes:
            part = part_bytes(part)
        if TYPE_CHECKING:  # the check above, which pyright does not follow
            assert isinstance(part, bytes)
        base = self._fed
        self._fed = base + len(part)
        # The usual shape of a token stream, one "data:" line and its blank line
        # per part, with nothing pending: a shortcut that parses it the same way.
        # (partition() and slices: bytes.find and startswith parse their
        # arguments the slow way before CPython 3.13.)
        if not self._tail and not self._data:
            head, _, rest = part.partition(b"\n")
            if rest == b"\n" and head[:5] == b"data:" and not head.partition(b"\r")[1]:
                self._after_cr = False
                self._started = True
                value = head[6:] if head[5:6] == b" " else head[5:]
                event, self._event = self._event, ""
                offset = self._block
                if offset is None:  # the event starts with this part, as the next one will
                    offset = base
                else:
                    self._block = None
                if self._raw:
                    return [(event, value, offset)]
                return [
                    _new_event(SSEEvent, (event or "message", value.decode("utf-8", "replace"), self._id, self._retry))
                ]
        if not part:
            return []
        if self._block is None:
            self._block = base
        if self._after_cr:
            self._after_cr = False
            if part[0] == 10:  # the LF of a CRLF whose CR ended the last part
                part = part[1:]
                if self._block == base:  # that CR ended a blank line: the next event starts after the LF
                    self._block += 1
                base += 1
        # Offsets are counted in the part as split (CRLF made LF); ``collapsed``
        # maps them back to the stream's bytes where a CRLF became one byte.
        collapsed = None
        if part.partition(b"\r")[1]:
            self._after_cr = part[-1] == 13
            if part.partition(b"\r\n")[1]:
                collapsed = _collapsed_crlfs(part)
            part = part.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        found = part.split(b"\n")
        rest = found.pop()
        events: List[Any] = []
        if not found:
            if rest:
                self._tail.append(rest)
                self._tail_len += len(rest)
            return events
        pos = -self._tail_len  # where the first line starts, from base (it may have begun in earlier parts)
        if self._tail:
            self._tail.append(found[0])
            found[0] = b"".join(self._tail)
            self._tail = []
        self._tail_len = len(rest)
        if rest:
            self._tail.append(rest)
        if not self._started:
            self._started = True
            if found[0][:3] == _BOM:
                found[0] = found[0][3:]
                pos += 3
        data = self._data
        for line in found:  # the lines this part completed; the loop is inlined for speed
            if not line:  # blank line: dispatch
                if data:
                    joined = b"\n".join(data)
                    data.clear()
                    if self._raw:
                        events.append((self._event, joined, self._block))
                    else:
                        events.append(
                            _new_event(
                                SSEEvent,
                                (self._event or "message", joined.decode("utf-8", "replace"), self._id, self._retry),
                            )
                        )
                self._event = ""
                self._block = base + (pos + 1 if collapsed is None else _stream_pos(collapsed, pos + 1))
            elif line.startswith(b"data:"):  # the common field first
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line[0] != 58 and not self._field(line):  # not a ":" comment, nor a field
                offset = base + (pos if collapsed is None else _stream_pos(collapsed, pos))
                if self._raw:
                    events.append((NOT_A_FIELD, line, offset))
                    return events
                return _then_raise(events, not_a_field(line, self._format, offset))
            pos += len(line) + 1
        return events

    def close(self) -> Iterable[Any]:
        """End of stream: the events still pending. A last line without its
        line end is read as a line, and an event not closed by a blank line
        is dispatched (the standard discards it: a model's last token would
        be lost)."""
        # Two line ends complete any partial line and then close the event (after
        # a CR that ended the last part, the first LF pairs with it, as it should).
        return self.feed(b"\n\n")

    def _field(self, line: bytes) -> bool:
        """Apply one field line (not ``data:``, which feed() handles); False if it is no field."""
        name, colon, value = line.partition(b":")
        if name not in _FIELDS:
            return False
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif value.isdigit():  # retry: ASCII digits only, and at least one
            self._retry = int(value)
        return True


def data_offset(event: bytes, index: int) -> Optional[int]:
    """Where byte ``index`` of an event's data (its ``data:`` values joined
    by LF) is in ``event``, the event's own bytes from its first line on (a
    BOM that opens the stream removed); None if the event has no such byte.

    For errors only, that name a byte of the data by its stream offset.

    >>> data_offset(b"id: 1\\r\\ndata: ab\\r\\ndata:cd\\r\\n\\r\\n", 4)  # the data is "ab\\ncd": its "d"
    23
    """
    counted = 0  # bytes of the data before the current line's value
    for line in _LINE.finditer(event):
        start, end = line.span(1)
        if start == end:  # the blank line that ends the event
            return None
        name, colon, value = event[start:end].partition(b":")
        if name != b"data":
            continue
        at = end - len(value) + (value[:1] == b" ") if colon else end  # where the value starts
        if index < counted + end - at:
            return at + index - counted
        counted += end - at + 1  # the value and the LF that joins it to the next (no byte of the event)
    return None


_LINE = re.compile(rb"([^\r\n]*)(?:\r\n|\r|\n|$)")


def _collapsed_crlfs(part: bytes) -> List[int]:
    """Where each CRLF of ``part`` lands once CRLFs are made LF: the offsets of those LFs."""
    out: List[int] = []
    at = part.find(b"\r\n")
    while at >= 0:
        out.append(at - len(out))
        at = part.find(b"\r\n", at + 2)
    return out


def _stream_pos(collapsed: List[int], pos: int) -> int:
    """An offset in a part whose CRLFs were made LF, as an offset in the part's own bytes."""
    return pos + bisect_left(collapsed, pos) if pos > 0 else pos


def _then_raise(events: List[Any], error: Exception) -> Iterator[Any]:
    yield from events
    raise error


def sse_events(parts: Iterable[BytesLike]) -> Iterator[SSEEvent]:
    """Yield the Server-Sent Events of a stream delivered in arbitrary chunks.

    Parsing follows the WHATWG standard: ``data:`` lines are joined by
    ``\\n``; ``event:``, ``id:`` (ignored if it contains NUL) and ``retry:``
    (digits only) fields; comments (``:`` lines) ignored; one optional space
    after the colon; CRLF, CR or LF line ends, including a CR at the end of
    one chunk and its LF at the start of the next; a UTF-8 BOM at the start
    dropped; an event is dispatched by a blank line. Unlike the standard,
    which is written for browsers that reconnect, nothing is dropped: an
    event the stream does not close with a blank line is dispatched at its
    end, and a line that is no field (say, JSON lines read as SSE) raises
    :class:`fastsmr.TextStreamError` naming its offset, after the events
    before it. A part that is not bytes-like raises ``TypeError``.

    >>> [e.data for e in fastsmr.sse_events([b'data: {"a":', b' 1}\\r', b'\\n\\r\\n'])]
    ['{"a": 1}']
    """
    check_parts(parts, "sse_events")
    parser = SSEParser()
    # map() and chain() run the per-part and per-event loops in C.
    return chain(chain.from_iterable(map(parser.feed, parts)), _end(parser))


def _end(parser: SSEParser) -> Iterator[SSEEvent]:
    yield from parser.close()  # runs only once every part has been fed

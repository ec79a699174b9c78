"""The pure-Python backend: the same API as the C extension, byte for byte.

It is what PyPy and platforms without a compiler get, so it is written for
speed within Python's means: ``struct.unpack_from`` at offsets into one
``bytes`` object instead of re-slicing, and no per-message objects besides the
``Message`` itself.
"""

from __future__ import annotations

import struct
from _thread import LockType
from _thread import allocate_lock as _allocate_lock
from binascii import crc32 as _crc32
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, cast

from ._body_py import BodyReader
from ._buffer_py import byte_view
from ._chunked_py import ChunkedDecoder
from .errors import (
    ChecksumMismatch,
    DecodeError,
    DuplicateHeader,
    InvalidHeader,
    InvalidHeadersLength,
    InvalidMessageLength,
    InvalidPayloadLength,
    TruncatedStreamError,
    closed_error,
    events_error,
    header_error,
)
from .message import (
    DEFAULT_MAX_HEADERS_LENGTH,
    DEFAULT_MAX_PAYLOAD_LENGTH,
    check_converters,
    check_limit,
    convert_header,
    event_member,
    message_repr,
    shape_event,
)

__all__ = [
    "BACKEND", "crc32", "Message", "Decoder", "decode", "ChunkedDecoder", "Mux", "MUX_END", "MUX_END_UNUSED",
    "BodyReader",
]

BACKEND = "python"

_PRELUDE = struct.Struct("!III").unpack_from
_UINT32 = struct.Struct("!I").unpack_from
_FIXED = {
    2: (1, struct.Struct("!b").unpack_from),
    3: (2, struct.Struct("!h").unpack_from),
    4: (4, struct.Struct("!i").unpack_from),
    5: (8, struct.Struct("!q").unpack_from),
    8: (8, struct.Struct("!q").unpack_from),
}


def crc32(data: Any, value: int = 0) -> int:
    """CRC-32 (IEEE 802.3, zlib's polynomial) of ``data``, continuing from ``value``.

    ``data`` is any bytes-like object; ``value`` is the CRC of the bytes before
    it (0, the default, starts afresh). Returns an int from 0 to 2**32 - 1,
    exactly ``zlib.crc32(data, value)``.

    >>> import fastsmr
    >>> hex(fastsmr.crc32(b"123456789"))
    '0xcbf43926'
    >>> fastsmr.crc32(b"6789", fastsmr.crc32(b"12345")) == fastsmr.crc32(b"123456789")
    True
    """
    return _crc32(data, value)


def _as_bytes(data: Any) -> bytes:
    return data if type(data) is bytes else byte_view(data).tobytes()


class Message:
    """One decoded event-stream message (DESIGN.md, "The wire format").

    Its fields, read-only:

    * ``headers`` (``dict[str, bool | int | bytes | str]``): each header by
      name, typed as botocore types it: true and false give bool; byte, short,
      integer, long and timestamp give int (a timestamp is the raw count of
      milliseconds since the epoch); byte array and uuid give bytes (a uuid is
      its 16 raw bytes); string gives str. Each message has a dict of its own.
    * ``payload`` (bytes): the payload.
    * ``prelude_crc`` and ``crc`` (int): the prelude's and the message's
      CRC-32 as sent; the decoder has checked both.
    * ``total_length`` (int): the message's size on the wire in bytes, prelude
      and trailing CRC included (at least 16).
    * ``message_type`` and ``event_type`` (str or None): the ``:message-type``
      and ``:event-type`` headers, None when the message has none.

    Messages are equal when all their fields are; they are not hashable.

    >>> import fastsmr
    >>> wire = fastsmr.encode({":message-type": "event", ":event-type": "PayloadPart"}, b"Hi")
    >>> (message,) = fastsmr.decode(wire)
    >>> message.message_type, message.event_type, message.payload, message.total_length
    ('event', 'PayloadPart', b'Hi', 66)
    >>> message.headers
    {':message-type': 'event', ':event-type': 'PayloadPart'}
    """

    # Messages with the same header block share one parsed dict (_shared);
    # a message gets a copy of its own (_own) only when .headers is asked
    # for, so code that reads event_type and payload allocates no dict.
    __slots__ = ("_shared", "_own", "payload", "prelude_crc", "crc", "total_length")
    _shared: Dict[str, Any]
    _own: Optional[Dict[str, Any]]

    def __init__(
        self,
        headers: Dict[str, Any],
        payload: bytes,
        prelude_crc: int,
        crc: int,
        total_length: int,
    ) -> None:
        self._shared = self._own = headers
        self.payload = payload
        self.prelude_crc = prelude_crc
        self.crc = crc
        self.total_length = total_length

    @property
    def headers(self) -> Dict[str, Any]:
        """The headers by name (``dict[str, bool | int | bytes | str]``), typed as botocore types them."""
        if self._own is None:
            self._own = self._shared.copy()
        return self._own

    @property
    def message_type(self) -> Any:
        """The ``:message-type`` header (``"event"``, ``"exception"`` or ``"error"`` from AWS), or None."""
        return (self._shared if self._own is None else self._own).get(":message-type")

    @property
    def event_type(self) -> Any:
        """The ``:event-type`` header (``'PayloadPart'`` on SageMaker's streams), or None."""
        return (self._shared if self._own is None else self._own).get(":event-type")

    def __reduce__(self) -> Tuple[Any, ...]:
        return (Message, (self.headers, self.payload, self.prelude_crc, self.crc, self.total_length))

    def __eq__(self, other: object) -> bool:
        if type(other) is not Message:
            return NotImplemented
        return (
            self.total_length == other.total_length
            and self.crc == other.crc
            and self.prelude_crc == other.prelude_crc
            and self.payload == other.payload
            and (self._shared if self._own is None else self._own)
            == (other._shared if other._own is None else other._own)
        )

    __hash__ = None  # type: ignore[assignment]  # headers is a dict

    def __repr__(self) -> str:
        return message_repr(self)


def _raise_duplicate(headers: Dict[str, Any], name: str, offset: int) -> None:
    # botocore reads a byte array, string or uuid that runs past the block as
    # a short value and then finds the duplicate: report it as it would.
    if name in headers:
        raise DuplicateHeader(name, offset)


def _parse_headers(
    data: bytes, pos: int, end: int, base: int, convert: Optional[Tuple[Any, ...]] = None
) -> Dict[str, Any]:
    """Parse the header block ``data[pos:end]``; ``base`` maps to stream offsets."""
    headers: Dict[str, Any] = {}
    while pos < end:
        start = pos
        name_len = data[pos]
        pos += 1
        if pos + name_len > end:
            raise header_error("name_length", base + start, needed=name_len, left=end - pos)
        try:
            name = data[pos : pos + name_len].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise header_error("name_utf8", base + start, detail=exc.reason) from None
        pos += name_len
        if pos >= end:
            raise header_error("no_type", base + start, name=name)
        kind = data[pos]
        pos += 1
        if kind == 0:
            value: Any = True
        elif kind == 1:
            value = False
        elif kind == 6 or kind == 7:
            if pos + 2 > end:
                raise header_error("no_length", base + start, name=name, kind=kind)
            size = (data[pos] << 8) | data[pos + 1]
            pos += 2
            if pos + size > end:
                _raise_duplicate(headers, name, base + start)
                raise header_error("value_length", base + start, name=name, kind=kind, needed=size, left=end - pos)
            value = data[pos : pos + size]
            pos += size
            if kind == 7:
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise header_error("value_utf8", base + start, name=name, detail=exc.reason) from None
        elif kind == 9:
            if pos + 16 > end:
                _raise_duplicate(headers, name, base + start)
                raise header_error("value_length", base + start, name=name, kind=kind, needed=16, left=end - pos)
            value = data[pos : pos + 16]
            pos += 16
        else:
            fixed = _FIXED.get(kind)
            if fixed is None:
                raise header_error("type", base + start, name=name, kind=kind)
            size, unpack = fixed
            if pos + size > end:
                raise header_error("value_length", base + start, name=name, kind=kind, needed=size, left=end - pos)
            value = unpack(data, pos)[0]
            pos += size
        if convert is not None and convert[kind] is not None:
            value = convert_header(convert[kind], value, name, kind, base + start)
        if name in headers:
            raise DuplicateHeader(name, base + start)
        headers[name] = value
    return headers


class Decoder:
    """Incremental event-stream decoder: feed it chunks, get the messages they complete.

    ``Decoder(*, max_payload_length=25165824, max_headers_length=131072,
    header_converters=None)``; every argument is keyword-only.

    * ``max_payload_length`` and ``max_headers_length`` are limits in bytes,
      ints from 0 to 2**32 - 1 (``TypeError`` or ``ValueError`` otherwise).
      The defaults, 24 MiB of payload and 128 KiB of header block, are
      botocore's (``botocore/eventstream.py``). A message whose 12-byte prelude
      declares more is refused from the prelude alone, before anything is
      buffered: ``InvalidPayloadLength`` or ``InvalidHeadersLength``.
    * ``header_converters`` maps header value type codes (0 true, 1 false,
      2 byte, 3 short, 4 integer, 5 long, 6 byte array, 7 string,
      8 timestamp, 9 uuid) to callables: a value of such a type goes, as it
      would otherwise be returned, through its callable, and the result is
      the header's value (a header block that repeats is converted once).
      What a converter raises becomes an ``InvalidHeader`` naming the header,
      caused by it.

    Malformed bytes raise a ``fastsmr.DecodeError`` subclass whose ``offset``
    is the stream offset (bytes since the first one fed) of the message or
    header at fault; after that the decoder raises the same error on every
    call. Use one decoder per stream: a call to ``feed()``, ``close()`` or
    ``__init__()`` while another thread is inside one of them raises
    ``RuntimeError`` and changes nothing.

    >>> import fastsmr
    >>> wire = fastsmr.encode({":event-type": "PayloadPart"}, b"hello")
    >>> d = fastsmr.Decoder(max_payload_length=1024)
    >>> d.feed(wire[:7]), d.buffered
    ([], 7)
    >>> [m.payload for m in d.feed(wire[7:])]
    [b'hello']
    >>> d.close()
    """

    __slots__ = (
        "_pieces", "_have", "_total", "_offset", "_max_payload", "_max_headers", "_error", "_blocks", "_convert",
        "_busy", "_closed",
    )
    _busy: LockType

    def __init__(
        self,
        *,
        max_payload_length: int = DEFAULT_MAX_PAYLOAD_LENGTH,
        max_headers_length: int = DEFAULT_MAX_HEADERS_LENGTH,
        header_converters: Optional[Mapping[int, Callable[[Any], Any]]] = None,
    ) -> None:
        max_payload = check_limit("max_payload_length", max_payload_length)
        max_headers = check_limit("max_headers_length", max_headers_length)
        convert = check_converters(header_converters)
        try:
            busy = self._busy
        except AttributeError:  # the first __init__
            busy = self._busy = _allocate_lock()
        # A second __init__ drops the message being assembled: never while a
        # feed() in another thread works on it.
        _enter(busy, "__init__")
        try:
            self._max_payload = max_payload
            self._max_headers = max_headers
            self._convert = convert
            # The incomplete message: read-only views of the (immutable) chunks
            # that hold it, so nothing is copied until it is complete.
            self._pieces: List[memoryview] = []
            self._have = 0
            self._total = 0  # its total_length once its prelude was validated
            self._offset = 0  # stream offset of the next message
            self._error: DecodeError | None = None
            self._closed = False  # close() was called: feed() refuses
            # Header blocks already parsed: a stream repeats the same few.
            self._blocks: Dict[bytes, Dict[str, Any]] = {}
        finally:
            busy.release()

    @property
    def buffered(self) -> int:
        """Bytes (int) held for a message that is not complete yet; 0 between messages."""
        return self._have

    def _prelude_error(self, total: int, headers_length: int, offset: int) -> DecodeError:
        if headers_length > self._max_headers:
            return InvalidHeadersLength(headers_length, self._max_headers, offset)
        if total - headers_length - 16 > self._max_payload:
            return InvalidPayloadLength(total - headers_length - 16, self._max_payload, offset)
        return InvalidMessageLength(total, headers_length, offset)

    def _check_prelude(self, data: Any, pos: int, offset: int) -> int:
        total: int
        total, headers_length, prelude_crc = _PRELUDE(data, pos)
        computed = _crc32(data[pos : pos + 8])
        if computed != prelude_crc:
            raise ChecksumMismatch("prelude", prelude_crc, computed, offset)
        if headers_length > self._max_headers or not (
            0 <= total - headers_length - 16 <= self._max_payload
        ):
            raise self._prelude_error(total, headers_length, offset)
        return total

    def _headers(self, data: bytes, start: int, end: int, base: int) -> Dict[str, Any]:
        """The parsed header block, shared with earlier messages that had it."""
        block = data[start:end]
        headers = self._blocks.get(block)
        if headers is None:
            try:
                headers = _parse_headers(data, start, end, base, self._convert)
            except (InvalidHeader, DuplicateHeader) as error:
                error.header_block = bytes(block)
                raise
            if len(self._blocks) >= 64:
                self._blocks.clear()
            self._blocks[block] = headers
        return headers

    def feed(self, data: Any, events: Optional[Dict[str, Optional[str]]] = None) -> List[Any]:
        """Add the next chunk of the stream; return the messages it completed, in order.

        ``data`` is any C-contiguous bytes-like object (bytes, bytearray,
        memoryview, mmap, array) of any length, empty included. The decoder keeps
        what it needs of it: the buffer may be reused as soon as ``feed`` returns.
        Returns a list of ``Message``, empty when the chunk completes none.

        Malformed bytes raise a ``fastsmr.DecodeError`` subclass. If the chunk
        completed messages before the bad bytes, those are returned and the error
        is raised by the next call (``feed`` or ``close``), as by every later one.
        ``data`` that is not bytes-like raises ``TypeError``, a buffer whose bytes
        are not contiguous ``BufferError`` (CPython's words for both).

        ``events`` serves integrations that want botocore's event shapes: it
        maps an ``:event-type`` to a payload member name, or to None. A
        message of a mapped type (and a ``:message-type`` other than error
        or exception) then comes back as ``{event_type: {member: payload}}``,
        or as the payload bytes alone for None, after the same validation.
        """
        if events is not None and events.__class__ is not dict:
            raise events_error(events)
        data = _as_bytes(data)
        busy = self._busy
        _enter(busy, "feed")
        try:
            if self._error is not None:
                # Reset the traceback: each re-raise would otherwise prepend to it.
                raise self._error.with_traceback(None)
            if self._closed:
                raise closed_error("Decoder", "feed")
            out: List[Message] = []
            try:
                self._feed(data, out, events)
            except DecodeError as exc:
                self._error = exc
                if not out:
                    raise
            return out
        finally:
            busy.release()

    def _feed(self, data: bytes, out: List[Any], events: Any) -> None:
        size = len(data)
        view = memoryview(data)
        pos = self._assemble(view, out, events) if self._have else 0
        if self._have:
            return
        # Whole messages inside the chunk: decoded in place.
        base = self._offset - pos  # stream offset of data[0]
        max_headers = self._max_headers
        max_payload = self._max_payload
        append = out.append
        new = object.__new__
        while size - pos >= 12:
            total, headers_length, prelude_crc = _PRELUDE(data, pos)
            if (
                _crc32(view[pos : pos + 8]) != prelude_crc
                or headers_length > max_headers
                or not 0 <= total - headers_length - 16 <= max_payload
            ):
                self._check_prelude(data, pos, base + pos)  # raises the right error
            if size - pos < total:
                break
            end = pos + total - 4
            expected = _UINT32(data, end)[0]
            computed = _crc32(view[pos + 8 : end], prelude_crc)
            if computed != expected:
                raise ChecksumMismatch("message", expected, computed, base + pos)
            headers_end = pos + 12 + headers_length
            payload = data[headers_end:end]
            message = new(Message)
            if headers_length:
                headers = self._headers(data, pos + 12, headers_end, base)
                if events is not None:
                    decision = event_member(headers, events)
                    if decision is not None:
                        append(shape_event(decision, payload))
                        pos += total
                        continue
                message._shared = headers
                message._own = None
            else:
                message._shared = message._own = {}
            message.payload = payload
            message.prelude_crc = prelude_crc
            message.crc = expected
            message.total_length = total
            append(message)
            pos += total
        self._offset = base + pos
        if pos < size:
            self._assemble(view[pos:], out, events)

    def _assemble(self, view: memoryview, out: List[Any], events: Any) -> int:
        """Add the start of view to the incomplete message; return bytes used."""
        size = len(view)
        used = 0
        if not self._total:
            used = min(12 - self._have, size)
            self._pieces.append(_kept(view[:used]))
            self._have += used
            if self._have < 12:
                return used
            self._total = self._check_prelude(b"".join(self._pieces), 0, self._offset)
        take = min(self._total - self._have, size - used)
        self._pieces.append(_kept(view[used : used + take]))
        self._have += take
        used += take
        if self._have == self._total:
            out.append(self._complete(events))
        return used

    def _complete(self, events: Any) -> Any:
        pieces, total, offset = self._pieces, self._total, self._offset
        self._pieces = []
        self._have = self._total = 0
        self._offset += total
        head = _take(pieces, 0, 12)
        _, headers_length, prelude_crc = _PRELUDE(head, 0)
        headers_end = 12 + headers_length
        block = _take(pieces, 12, headers_end)
        payload = _take(pieces, headers_end, total - 4)
        expected = _UINT32(_take(pieces, total - 4, total), 0)[0]
        computed = _crc32(payload, _crc32(block, _crc32(head[8:], prelude_crc)))
        if computed != expected:
            raise ChecksumMismatch("message", expected, computed, offset)
        message = Message({}, payload, prelude_crc, expected, total)
        if headers_length:
            headers = self._headers(block, 0, headers_length, offset + 12)
            if events is not None:
                decision = event_member(headers, events)
                if decision is not None:
                    return shape_event(decision, payload)
            message._shared = headers
            message._own = None
        return message

    def close(self) -> None:
        """Declare the end of the stream; returns None.

        Raises the pending error, if any, or ``TruncatedStreamError`` (its
        ``remaining`` counts the bytes left over) if the stream ended inside a
        message. Every later call raises the error this one raised; if it
        raised none, ``feed`` raises ``ValueError``, as a closed file does, and
        ``close`` returns None again.

        >>> import fastsmr
        >>> d = fastsmr.Decoder()
        >>> d.feed(fastsmr.encode({}, b"cut")[:-1])
        []
        >>> d.close()
        Traceback (most recent call last):
        ...
        fastsmr.codec.errors.TruncatedStreamError: stream ended inside the message at offset 0: 18 bytes left over
        """
        busy = self._busy
        _enter(busy, "close")
        try:
            self._closed = True
            if self._error is not None:
                raise self._error.with_traceback(None)
            if self._have:
                self._error = TruncatedStreamError(self._have, self._offset)
                raise self._error
        finally:
            busy.release()


def _enter(busy: Any, what: str) -> None:
    """Claim a Decoder for one call; a thread that finds it claimed is told so, as by the C Decoder.

    Its state (the pieces of the message being assembled, the offset) is
    changed in several steps, so two threads at once would corrupt it.
    """
    if not busy.acquire(False):
        raise RuntimeError(
            f"Decoder.{what}() was called while another thread was using the same "
            "Decoder; use one Decoder per stream"
        )


def _kept(piece: memoryview) -> Any:
    """A piece to hold until its message is complete: a view while it is most
    of its chunk (no copy), else a copy, so that a few bytes of an incomplete
    message do not keep a whole chunk alive."""
    return piece if 2 * len(piece) >= len(cast(bytes, piece.obj)) else piece.tobytes()


def _take(pieces: List[memoryview], start: int, end: int) -> bytes:
    """Bytes start:end of the concatenation of pieces, copied once."""
    parts = []
    at = 0
    for piece in pieces:
        size = len(piece)
        if at + size > start and at < end:
            parts.append(piece[max(start - at, 0) : end - at])
        at += size
        if at >= end:
            break
    return b"".join(parts)


def decode(
    data: Any,
    *,
    max_payload_length: int = DEFAULT_MAX_PAYLOAD_LENGTH,
    max_headers_length: int = DEFAULT_MAX_HEADERS_LENGTH,
) -> List[Message]:
    """Decode a whole buffer of messages: a list of ``Message``, in order.

    ``data`` is any bytes-like object; the limits are the ``Decoder``'s, in
    bytes. Raises what ``Decoder.feed`` raises, and ``TruncatedStreamError``
    if the buffer ends inside a message.

    >>> import fastsmr
    >>> wire = fastsmr.encode({"n": 1}) + fastsmr.encode({"n": 2})
    >>> [m.headers["n"] for m in fastsmr.decode(wire)]
    [1, 2]
    >>> fastsmr.decode(wire[:-1])
    Traceback (most recent call last):
    ...
    fastsmr.codec.errors.TruncatedStreamError: stream ended inside the message at offset 23: 22 bytes left over
    """
    decoder = Decoder(
        max_payload_length=max_payload_length, max_headers_length=max_headers_length
    )
    messages = decoder.feed(data)
    decoder.close()
    return messages


from ._mux_py import END as MUX_END, END_UNUSED as MUX_END_UNUSED, Mux  # noqa: E402 - it imports Decoder lazily

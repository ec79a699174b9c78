"""The pure-Python backend: the same API as the C extension, byte for byte.

It is what PyPy and platforms without a compiler get, so it is written for
speed within Python's means: ``struct.unpack_from`` at offsets into one
``bytes`` object instead of re-slicing, and no per-message objects besides the
``Message`` itself.
"""

from __future__ import annotations

import struct
from binascii import crc32 as _crc32
from typing import Any, Dict, List

from ._errors import (
    ChecksumMismatch,
    DecodeError,
    DuplicateHeader,
    InvalidHeader,
    InvalidHeadersLength,
    InvalidMessageLength,
    InvalidPayloadLength,
    TruncatedStreamError,
)
from ._message import (
    DEFAULT_MAX_HEADERS_LENGTH,
    DEFAULT_MAX_PAYLOAD_LENGTH,
    check_limit,
    message_repr,
)

__all__ = ["BACKEND", "crc32", "Message", "Decoder", "decode"]

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
_TYPE_NAMES = {6: "byte array", 7: "string"}


def crc32(data: Any, value: int = 0) -> int:
    """CRC-32 of ``data`` continuing from ``value``, exactly as ``zlib.crc32``.

    >>> import fastsmr
    >>> hex(fastsmr.crc32(b"123456789"))
    '0xcbf43926'
    """
    return _crc32(data, value)


def _as_bytes(data: Any) -> bytes:
    if type(data) is bytes:
        return data
    view = memoryview(data)
    if not view.c_contiguous:
        raise BufferError("feed() needs a contiguous buffer")
    return view.tobytes()


class Message:
    """One decoded event-stream message.

    ``headers`` maps names to values typed as botocore types them (bool, int,
    bytes, str); ``payload`` is bytes.
    """

    __slots__ = ("headers", "payload", "prelude_crc", "crc", "total_length")

    def __init__(
        self,
        headers: Dict[str, Any],
        payload: bytes,
        prelude_crc: int,
        crc: int,
        total_length: int,
    ) -> None:
        self.headers = headers
        self.payload = payload
        self.prelude_crc = prelude_crc
        self.crc = crc
        self.total_length = total_length

    @property
    def message_type(self) -> Any:
        """The ``:message-type`` header, or None."""
        return self.headers.get(":message-type")

    @property
    def event_type(self) -> Any:
        """The ``:event-type`` header, or None."""
        return self.headers.get(":event-type")

    def __eq__(self, other: object) -> bool:
        if type(other) is not Message:
            return NotImplemented
        return (
            self.total_length == other.total_length
            and self.crc == other.crc
            and self.prelude_crc == other.prelude_crc
            and self.payload == other.payload
            and self.headers == other.headers
        )

    __hash__ = None  # type: ignore[assignment]  # headers is a dict

    def __repr__(self) -> str:
        return message_repr(self)


def _raise_duplicate(headers: Dict[str, Any], name: str, offset: int) -> None:
    # botocore reads a byte array, string or uuid that runs past the block as
    # a short value and then finds the duplicate: report it as it would.
    if name in headers:
        raise DuplicateHeader(name, offset)


def _parse_headers(data: bytes, pos: int, end: int, base: int) -> Dict[str, Any]:
    """Parse the header block ``data[pos:end]``; ``base`` maps to stream offsets."""
    headers: Dict[str, Any] = {}
    while pos < end:
        start = pos
        name_len = data[pos]
        pos += 1
        if pos + name_len > end:
            raise InvalidHeader(
                f"name of {name_len} bytes runs past the header block "
                f"({end - pos} bytes left)",
                base + start,
            )
        try:
            name = data[pos : pos + name_len].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidHeader(f"name is not valid UTF-8 ({exc.reason})", base + start) from None
        pos += name_len
        if pos >= end:
            raise InvalidHeader(f"header {name!r} has no value type byte", base + start)
        kind = data[pos]
        pos += 1
        if kind == 0:
            value: Any = True
        elif kind == 1:
            value = False
        elif kind == 6 or kind == 7:
            if pos + 2 > end:
                raise InvalidHeader(
                    f"{_TYPE_NAMES[kind]} header {name!r} has no room for its length",
                    base + start,
                )
            size = (data[pos] << 8) | data[pos + 1]
            pos += 2
            if pos + size > end:
                _raise_duplicate(headers, name, base + start)
                raise InvalidHeader(
                    f"{_TYPE_NAMES[kind]} header {name!r} of {size} bytes runs past "
                    f"the header block ({end - pos} bytes left)",
                    base + start,
                )
            value = data[pos : pos + size]
            pos += size
            if kind == 7:
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InvalidHeader(
                        f"string header {name!r} is not valid UTF-8 ({exc.reason})",
                        base + start,
                    ) from None
        elif kind == 9:
            if pos + 16 > end:
                _raise_duplicate(headers, name, base + start)
                raise InvalidHeader(
                    f"uuid header {name!r} needs 16 bytes, {end - pos} left",
                    base + start,
                )
            value = data[pos : pos + 16]
            pos += 16
        else:
            fixed = _FIXED.get(kind)
            if fixed is None:
                raise InvalidHeader(f"header {name!r} has unknown value type {kind}", base + start)
            size, unpack = fixed
            if pos + size > end:
                raise InvalidHeader(
                    f"header {name!r} of type {kind} needs {size} bytes, {end - pos} left",
                    base + start,
                )
            value = unpack(data, pos)[0]
            pos += size
        if name in headers:
            raise DuplicateHeader(name, base + start)
        headers[name] = value
    return headers


class Decoder:
    """Incremental event-stream decoder.

    Feed it chunks as they arrive; each call returns the messages the chunk
    completed. ``close()`` checks that the stream did not end mid-message.

    >>> import fastsmr
    >>> wire = fastsmr.encode({":event-type": "PayloadPart"}, b"hello")
    >>> d = fastsmr.Decoder()
    >>> d.feed(wire[:7]), d.buffered
    ([], 7)
    >>> [m.payload for m in d.feed(wire[7:])]
    [b'hello']
    >>> d.close()
    """

    __slots__ = ("_buf", "_total", "_offset", "_max_payload", "_max_headers", "_error")

    def __init__(
        self,
        *,
        max_payload_length: int = DEFAULT_MAX_PAYLOAD_LENGTH,
        max_headers_length: int = DEFAULT_MAX_HEADERS_LENGTH,
    ) -> None:
        self._max_payload = check_limit("max_payload_length", max_payload_length)
        self._max_headers = check_limit("max_headers_length", max_headers_length)
        self._buf = bytearray()  # the incomplete message, if any
        self._total = 0  # its total_length once its prelude was validated
        self._offset = 0  # stream offset of _buf[0]
        self._error: DecodeError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for a message that is not complete yet."""
        return len(self._buf)

    def _prelude(self, data: Any, pos: int, offset: int) -> int:
        total, headers_length, prelude_crc = _PRELUDE(data, pos)
        computed = _crc32(data[pos : pos + 8])
        if computed != prelude_crc:
            raise ChecksumMismatch("prelude", prelude_crc, computed, offset)
        if headers_length > self._max_headers:
            raise InvalidHeadersLength(headers_length, self._max_headers, offset)
        payload_length = total - headers_length - 16
        if payload_length > self._max_payload:
            raise InvalidPayloadLength(payload_length, self._max_payload, offset)
        if total < 16 or payload_length < 0:
            raise InvalidMessageLength(total, headers_length, offset)
        return total

    @staticmethod
    def _message(data: bytes, view: memoryview, pos: int, total: int, offset: int) -> Message:
        _, headers_length, prelude_crc = _PRELUDE(data, pos)
        end = pos + total - 4
        expected = _UINT32(data, end)[0]
        computed = _crc32(view[pos + 8 : end], prelude_crc)
        if computed != expected:
            raise ChecksumMismatch("message", expected, computed, offset)
        headers_end = pos + 12 + headers_length
        headers = _parse_headers(data, pos + 12, headers_end, offset - pos)
        return Message(headers, data[headers_end:end], prelude_crc, expected, total)

    def feed(self, data: Any) -> List[Message]:
        """Add a chunk (any bytes-like object) and return the messages it completed.

        If a chunk completes some messages and then hits bad bytes, those
        messages are returned and the error is raised by the next call.
        """
        if self._error is not None:
            raise self._error
        out: List[Message] = []
        try:
            self._feed(_as_bytes(data), out)
        except DecodeError as exc:
            self._error = exc
            if not out:
                raise
        return out

    def _feed(self, data: bytes, out: List[Message]) -> None:
        pos = 0
        size = len(data)
        buf = self._buf
        if buf:
            # Complete the pending message with just the bytes it still needs.
            if not self._total:
                pos = min(12 - len(buf), size)
                buf += data[:pos]
                if len(buf) < 12:
                    return
                self._total = self._prelude(buf, 0, self._offset)
            take = min(self._total - len(buf), size - pos)
            buf += data[pos : pos + take]
            pos += take
            if len(buf) < self._total:
                return
            whole = bytes(buf)
            out.append(self._message(whole, memoryview(whole), 0, self._total, self._offset))
            self._offset += self._total
            self._total = 0
            buf.clear()
        view = memoryview(data)
        base = self._offset - pos  # stream offset of data[0]
        while size - pos >= 12:
            total = self._prelude(data, pos, base + pos)
            if size - pos < total:
                self._total = total
                break
            out.append(self._message(data, view, pos, total, base + pos))
            pos += total
        self._offset = base + pos
        if pos < size:
            buf += data[pos:]

    def close(self) -> None:
        """Declare the end of the stream.

        Raises the pending error, if any, or ``TruncatedStreamError`` if bytes
        of an incomplete message are still buffered.
        """
        if self._error is not None:
            raise self._error
        if self._buf:
            self._error = TruncatedStreamError(len(self._buf), self._offset)
            raise self._error


def decode(
    data: Any,
    *,
    max_payload_length: int = DEFAULT_MAX_PAYLOAD_LENGTH,
    max_headers_length: int = DEFAULT_MAX_HEADERS_LENGTH,
) -> List[Message]:
    """Decode a whole buffer; a trailing partial message raises.

    >>> import fastsmr
    >>> wire = fastsmr.encode({"n": 1}) + fastsmr.encode({"n": 2})
    >>> [m.headers["n"] for m in fastsmr.decode(wire)]
    [1, 2]
    """
    decoder = Decoder(
        max_payload_length=max_payload_length, max_headers_length=max_headers_length
    )
    messages = decoder.feed(data)
    decoder.close()
    return messages

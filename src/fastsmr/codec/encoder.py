"""Encoding event-stream messages (the inverse of the decoders).

Plain Python values choose their wire type: ``bool`` -> true/false, ``int`` ->
integer (int32, or long when it does not fit), ``bytes``-like -> byte array,
``str`` -> string, ``datetime`` -> timestamp, ``uuid.UUID`` -> uuid. The
wrappers :class:`Byte`, :class:`Short`, :class:`Long` and :class:`Timestamp`
ask for a width explicitly; :class:`Uuid` marks 16 raw bytes as a uuid.
"""

from __future__ import annotations

import datetime
import struct
import uuid
import zlib
from typing import Any, Mapping

__all__ = ["encode", "Byte", "Short", "Long", "Timestamp", "Uuid"]

_PRELUDE = struct.Struct("!III")
_CRC = struct.Struct("!I")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class Byte(int):
    """An ``int`` sent as a byte header (type 2, int8)."""

    __slots__ = ()


class Short(int):
    """An ``int`` sent as a short header (type 3, int16)."""

    __slots__ = ()


class Long(int):
    """An ``int`` sent as a long header (type 5, int64)."""

    __slots__ = ()


class Timestamp(int):
    """Milliseconds since the epoch, sent as a timestamp header (type 8)."""

    __slots__ = ()


class Uuid(bytes):
    """16 raw bytes sent as a uuid header (type 9)."""

    __slots__ = ()

    def __new__(cls, value: bytes) -> Uuid:
        if len(value) != 16:
            raise ValueError(f"a uuid header takes 16 bytes, got {len(value)}")
        return super().__new__(cls, value)


# (wrapper type, type code, struct format, wire type, bits) in the order they
# must be tested: subclasses of int before int itself, and bool before int.
_FIXED = (
    (Byte, 2, "!b", "byte", 8),
    (Short, 3, "!h", "short", 16),
    (Long, 5, "!q", "long", 64),
    (Timestamp, 8, "!q", "timestamp", 64),
)


def _fixed(name: str, value: int, code: int, fmt: str, wire: str, bits: int) -> bytes:
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise ValueError(
            f"header {name!r}: {int(value)} does not fit a {wire} header "
            f"(int{bits}: -2**{bits - 1} to 2**{bits - 1}-1)"
        )
    return bytes((code,)) + struct.pack(fmt, value)


def _header_value(name: str, value: Any) -> bytes:
    if isinstance(value, bool):
        return b"\x00" if value else b"\x01"
    for wrapper, code, fmt, wire, bits in _FIXED:
        if isinstance(value, wrapper):
            return _fixed(name, value, code, fmt, wire, bits)
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return b"\x04" + struct.pack("!i", value)
        return _fixed(name, value, 5, "!q", "long", 64)
    if isinstance(value, Uuid):
        return b"\x09" + value
    if isinstance(value, uuid.UUID):
        return b"\x09" + value.bytes
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError(f"header {name!r}: a timestamp needs an aware datetime (one with a tzinfo)")
        millis = (value - _EPOCH) // datetime.timedelta(milliseconds=1)
        return b"\x08" + struct.pack("!q", millis)
    if isinstance(value, str):
        return b"\x07" + _sized(name, value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"\x06" + _sized(name, bytes(value))
    raise TypeError(
        f"header {name!r}: cannot encode a value of type {type(value).__name__} "
        "(bool, int, str, bytes-like, aware datetime, uuid.UUID, or a Byte/Short/Long/Timestamp/Uuid wrapper)"
    )


def _sized(name: str, raw: bytes) -> bytes:
    if len(raw) > 0xFFFF:
        raise ValueError(f"header {name!r}: a value holds at most 65535 bytes, got {len(raw)}")
    return struct.pack("!H", len(raw)) + raw


# Encoded header blocks by (name, type, value) triples: servers and
# benchmarks send the same few header sets for every message. The type is
# part of the key because Byte(1), 1 and True are equal as values.
_BLOCKS: dict = {}
_BLOCKS_MAX = 256


def encode_headers(headers: Mapping[str, Any]) -> bytes:
    """Encode a header block (without prelude) from a mapping."""
    try:
        key = tuple((name, type(value), value) for name, value in headers.items())
        block = _BLOCKS.get(key)
    except TypeError:  # an unhashable value (bytearray): encode every time
        key = block = None
    if block is not None:
        return block
    out = bytearray()
    for name, value in headers.items():
        if not isinstance(name, str):
            raise TypeError(f"header names are str, got {type(name).__name__} {name!r}")
        raw_name = name.encode("utf-8")
        if len(raw_name) > 255:
            raise ValueError(f"header name longer than 255 bytes: {name[:40]!r}...")
        out.append(len(raw_name))
        out += raw_name
        out += _header_value(name, value)
    block = bytes(out)
    if key is not None:
        if len(_BLOCKS) >= _BLOCKS_MAX:
            _BLOCKS.clear()
        _BLOCKS[key] = block
    return block


def encode(headers: Mapping[str, Any], payload: bytes = b"") -> bytes:
    """Encode one event-stream message.

    ``headers`` maps names (str, at most 255 bytes of UTF-8) to values as the
    module docstring lists; ``payload`` is any bytes-like object. A value that
    cannot be sent raises ``TypeError`` (a type with no wire form, a ``str``
    payload) or ``ValueError`` (out of range for its type, too long), naming
    the header.

    >>> import fastsmr
    >>> wire = fastsmr.encode({":event-type": "PayloadPart"}, b"hi")
    >>> [m.payload for m in fastsmr.decode(wire)]
    [b'hi']
    >>> fastsmr.encode({}, "hi")
    Traceback (most recent call last):
    ...
    TypeError: the payload must be bytes-like, not str: encode it first, e.g. payload.encode("utf-8")
    """
    if not isinstance(headers, Mapping):
        raise TypeError(f"headers must be a mapping of names to values, not {type(headers).__name__}")
    block = encode_headers(headers)
    if isinstance(payload, str):
        raise TypeError('the payload must be bytes-like, not str: encode it first, e.g. payload.encode("utf-8")')
    try:
        body = memoryview(payload).cast("B") if not isinstance(payload, bytes) else payload
    except TypeError:
        raise TypeError(f"the payload must be bytes-like, not {type(payload).__name__}") from None
    total = 16 + len(block) + len(body)
    if total > 0xFFFFFFFF:
        raise ValueError("message larger than 4 GiB")
    prelude = _PRELUDE.pack(total, len(block), 0)[:8]
    prelude += _CRC.pack(zlib.crc32(prelude))
    crc = zlib.crc32(body, zlib.crc32(block, zlib.crc32(prelude)))
    return b"".join((prelude, block, body, _CRC.pack(crc)))

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


# (wrapper type, type code, struct format) in the order they must be tested:
# subclasses of int before int itself, and bool before int.
_FIXED = (
    (Byte, 2, "!b"),
    (Short, 3, "!h"),
    (Long, 5, "!q"),
    (Timestamp, 8, "!q"),
)


def _header_value(value: Any) -> bytes:
    if isinstance(value, bool):
        return b"\x00" if value else b"\x01"
    for wrapper, code, fmt in _FIXED:
        if isinstance(value, wrapper):
            return bytes((code,)) + struct.pack(fmt, value)
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return b"\x04" + struct.pack("!i", value)
        return b"\x05" + struct.pack("!q", value)
    if isinstance(value, Uuid):
        return b"\x09" + value
    if isinstance(value, uuid.UUID):
        return b"\x09" + value.bytes
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError("a timestamp header needs an aware datetime")
        millis = (value - _EPOCH) // datetime.timedelta(milliseconds=1)
        return b"\x08" + struct.pack("!q", millis)
    if isinstance(value, str):
        return b"\x07" + _sized(value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"\x06" + _sized(bytes(value))
    raise TypeError(f"cannot encode a header value of type {type(value).__name__}")


def _sized(raw: bytes) -> bytes:
    if len(raw) > 0xFFFF:
        raise ValueError(f"a header value holds at most 65535 bytes, got {len(raw)}")
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
        raw_name = name.encode("utf-8")
        if len(raw_name) > 255:
            raise ValueError(f"header name longer than 255 bytes: {name[:40]!r}...")
        out.append(len(raw_name))
        out += raw_name
        out += _header_value(value)
    block = bytes(out)
    if key is not None:
        if len(_BLOCKS) >= _BLOCKS_MAX:
            _BLOCKS.clear()
        _BLOCKS[key] = block
    return block


def encode(headers: Mapping[str, Any], payload: bytes = b"") -> bytes:
    """Encode one event-stream message.

    >>> import fastsmr
    >>> wire = fastsmr.encode({":event-type": "PayloadPart"}, b"hi")
    >>> [m.payload for m in fastsmr.decode(wire)]
    [b'hi']
    """
    block = encode_headers(headers)
    body = memoryview(payload).cast("B") if not isinstance(payload, bytes) else payload
    total = 16 + len(block) + len(body)
    if total > 0xFFFFFFFF:
        raise ValueError("message larger than 4 GiB")
    prelude = _PRELUDE.pack(total, len(block), 0)[:8]
    prelude += _CRC.pack(zlib.crc32(prelude))
    crc = zlib.crc32(body, zlib.crc32(block, zlib.crc32(prelude)))
    return b"".join((prelude, block, body, _CRC.pack(crc)))

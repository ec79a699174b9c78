"""Raw event-stream frames for tests: fastsmr.encode cannot write wrong lengths."""

from __future__ import annotations

import struct
import zlib
from typing import Optional


def frame(
    block: bytes, payload: bytes = b"", *, total: Optional[int] = None, headers_length: Optional[int] = None
) -> bytes:
    """A message around a raw header block, with correct CRCs for whatever
    (possibly impossible) lengths it claims."""
    total = 16 + len(block) + len(payload) if total is None else total
    headers_length = len(block) if headers_length is None else headers_length
    prelude = struct.pack("!II", total, headers_length)
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + block + payload
    return body + struct.pack("!I", zlib.crc32(body))

"""Fast decoding of AWS event streams (``application/vnd.amazon.eventstream``).

>>> import fastsmr
>>> wire = fastsmr.encode({":message-type": "event", ":event-type": "PayloadPart"}, b"Hi")
>>> [(m.event_type, m.payload) for m in fastsmr.decode(wire)]
[('PayloadPart', b'Hi')]

``fastsmr.BACKEND`` says whether the C extension (``"c"``) or the pure-Python
twin (``"python"``) is in use; set ``FASTSMR_NO_EXTENSIONS=1`` to force the
latter.
"""

from __future__ import annotations

from . import aio
from ._install import install, is_installed, uninstall
from ._warnings import BotocoreCompatibilityWarning, FastsmrWarning, SmithyCompatibilityWarning
from .boto import close_buffer, payload_parts, wrap
from .codec import (
    BACKEND,
    Byte,
    ChecksumMismatch,
    ChunkedEncodingError,
    DecodeError,
    Decoder,
    DuplicateHeader,
    InvalidHeader,
    InvalidHeadersLength,
    InvalidMessageLength,
    InvalidPayloadLength,
    Long,
    Message,
    Short,
    Timestamp,
    TruncatedStreamError,
    Uuid,
    crc32,
    decode,
    encode,
)
from .tokens.lines import lines
from .tokens.sse import SSEEvent, sse_events
from .tokens.text import ModelServerError, TextStreamError, text_stream

__version__ = "0.1.0"

__all__ = [
    "BACKEND",
    "BotocoreCompatibilityWarning",
    "Byte",
    "ChecksumMismatch",
    "ChunkedEncodingError",
    "DecodeError",
    "Decoder",
    "DuplicateHeader",
    "FastsmrWarning",
    "InvalidHeader",
    "InvalidHeadersLength",
    "InvalidMessageLength",
    "InvalidPayloadLength",
    "Long",
    "Message",
    "ModelServerError",
    "SSEEvent",
    "Short",
    "SmithyCompatibilityWarning",
    "TextStreamError",
    "Timestamp",
    "TruncatedStreamError",
    "Uuid",
    "close_buffer",
    "crc32",
    "decode",
    "encode",
    "install",
    "is_installed",
    "lines",
    "payload_parts",
    "sse_events",
    "text_stream",
    "uninstall",
    "wrap",
]

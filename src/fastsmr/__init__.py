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

import os

from ._encode import Byte, Long, Short, Timestamp, Uuid, encode
from ._errors import (
    ChecksumMismatch,
    ChunkedEncodingError,
    DecodeError,
    DuplicateHeader,
    InvalidHeader,
    InvalidHeadersLength,
    InvalidMessageLength,
    InvalidPayloadLength,
    TruncatedStreamError,
)
from ._dropin import install, is_installed, payload_parts, uninstall, wrap
from ._lines import lines
from ._sse import SSEEvent, sse_events
from ._text import ModelServerError, TextStreamError, text_stream
from ._warnings import BotocoreCompatibilityWarning, FastsmrWarning

__version__ = "0.1.0"

if os.environ.get("FASTSMR_NO_EXTENSIONS"):
    from . import _pure as _impl
else:
    try:
        from . import _speedups as _impl
    except ImportError:
        from . import _pure as _impl

# The integrations look the backend up through ``fastsmr._impl`` when a stream
# starts, so that tests can run them against each backend in turn.
BACKEND = _impl.BACKEND
Decoder = _impl.Decoder
Message = _impl.Message
crc32 = _impl.crc32
decode = _impl.decode

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
    "TextStreamError",
    "Timestamp",
    "TruncatedStreamError",
    "Uuid",
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

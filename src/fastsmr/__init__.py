"""Fast decoding of AWS event streams (``application/vnd.amazon.eventstream``).

>>> import fastsmr
>>> wire = fastsmr.encode({":message-type": "event", ":event-type": "PayloadPart"}, b"Hi")
>>> [(m.event_type, m.payload) for m in fastsmr.decode(wire)]
[('PayloadPart', b'Hi')]

``fastsmr.BACKEND`` says whether the C extension (``"c"``) or the pure-Python
twin (``"python"``) is in use; set ``FASTSMR_NO_EXTENSIONS=1`` to force the
latter. ``fastsmr.aio`` (the aiobotocore twins of the helpers) is imported
with the package.
"""

from __future__ import annotations

from . import aio as aio  # fastsmr.aio after a plain import fastsmr
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
    IncompleteBodyError,
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
from .tokens.text import ModelServerError, TextDecodeError, TextStreamError, text_stream

__version__ = "0.1.0"

__all__ = [
    # the codec: decode and encode event-stream messages (fastsmr.codec)
    "BACKEND",
    "Decoder",
    "Message",
    "decode",
    "encode",
    "crc32",
    "Byte",
    "Short",
    "Long",
    "Timestamp",
    "Uuid",
    # the drop-in: botocore/boto3 (fastsmr.boto; fastsmr.aio for aiobotocore) and smithy-python
    "install",
    "uninstall",
    "is_installed",
    "wrap",
    "payload_parts",
    "close_buffer",
    # tokens: text out of payload parts (fastsmr.tokens)
    "lines",
    "sse_events",
    "SSEEvent",
    "text_stream",
    # errors and warnings
    "DecodeError",
    "ChecksumMismatch",
    "InvalidMessageLength",
    "InvalidHeadersLength",
    "InvalidPayloadLength",
    "InvalidHeader",
    "DuplicateHeader",
    "TruncatedStreamError",
    "IncompleteBodyError",
    "ChunkedEncodingError",
    "TextStreamError",
    "TextDecodeError",
    "ModelServerError",
    "FastsmrWarning",
    "BotocoreCompatibilityWarning",
    "SmithyCompatibilityWarning",
]

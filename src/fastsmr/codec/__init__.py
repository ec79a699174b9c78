"""The codec: event-stream messages and HTTP chunked bodies, decoded in C or pure Python.

It knows nothing of botocore. :mod:`.backend` chooses the implementation;
:mod:`.encoder` writes messages; :mod:`.errors` holds what malformed bytes raise.
"""

from __future__ import annotations

from .backend import BACKEND, impl
from .encoder import Byte, Long, Short, Timestamp, Uuid, encode
from .errors import (
    ChecksumMismatch,
    ChunkedEncodingError,
    DecodeError,
    DuplicateHeader,
    IncompleteBodyError,
    InvalidHeader,
    InvalidHeadersLength,
    InvalidMessageLength,
    InvalidPayloadLength,
    TruncatedStreamError,
)

Decoder = impl.Decoder
Message = impl.Message
ChunkedDecoder = impl.ChunkedDecoder
crc32 = impl.crc32
decode = impl.decode

__all__ = [
    "BACKEND",
    "Byte",
    "ChecksumMismatch",
    "ChunkedDecoder",
    "ChunkedEncodingError",
    "DecodeError",
    "Decoder",
    "DuplicateHeader",
    "IncompleteBodyError",
    "InvalidHeader",
    "InvalidHeadersLength",
    "InvalidMessageLength",
    "InvalidPayloadLength",
    "Long",
    "Message",
    "Short",
    "Timestamp",
    "TruncatedStreamError",
    "Uuid",
    "crc32",
    "decode",
    "encode",
]

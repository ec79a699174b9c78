"""Exceptions raised by both backends.

Every error names where in the stream it happened (``offset``, counted from
the first byte ever fed to the decoder) and what was expected against what
was found, so that a corrupt capture can be located with a hex dump.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "DecodeError",
    "ChecksumMismatch",
    "InvalidMessageLength",
    "InvalidHeadersLength",
    "InvalidPayloadLength",
    "InvalidHeader",
    "DuplicateHeader",
    "TruncatedStreamError",
    "ChunkedEncodingError",
    "MAX_CHUNK_LINE",
]


class DecodeError(ValueError):
    """Base class of every error raised for malformed event-stream bytes.

    ``offset`` is the stream offset of the first byte of the message (or, for
    header errors, of the header) that was found to be wrong.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset

    def __reduce__(self):  # keep attributes across pickling (multiprocessing)
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls, args, state):
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class ChecksumMismatch(DecodeError):
    """The prelude CRC or the message CRC does not match the bytes."""

    def __init__(self, part: str, expected: int, computed: int, offset: int) -> None:
        super().__init__(
            f"{part} CRC mismatch in the message at offset {offset}: "
            f"expected 0x{expected:08x}, computed 0x{computed:08x}",
            offset,
        )
        self.part = part
        self.expected = expected
        self.computed = computed


class InvalidMessageLength(DecodeError):
    """The prelude's lengths cannot describe a message."""

    def __init__(self, total_length: int, headers_length: int, offset: int) -> None:
        if total_length < 16:
            why = f"total_length {total_length} is below the minimum of 16"
        else:
            why = (
                f"headers_length {headers_length} does not fit in "
                f"total_length {total_length} (at most {total_length - 16})"
            )
        super().__init__(f"invalid message length at offset {offset}: {why}", offset)
        self.total_length = total_length
        self.headers_length = headers_length


class _LimitExceeded(DecodeError):
    field = ""

    def __init__(self, length: int, maximum: int, offset: int) -> None:
        super().__init__(
            f"{self.field} of {length} bytes in the message at offset {offset} "
            f"exceeds the maximum of {maximum}",
            offset,
        )
        self.length = length
        self.maximum = maximum


class InvalidHeadersLength(_LimitExceeded):
    """The prelude declares a header block larger than the configured maximum."""

    field = "headers_length"


class InvalidPayloadLength(_LimitExceeded):
    """The prelude declares a payload larger than the configured maximum."""

    field = "payload length"


class InvalidHeader(DecodeError):
    """A header is malformed: unknown type, value past the block, bad UTF-8.

    ``header_block`` is the raw header block it was found in (bytes; None
    when the error was not raised by a decoder).
    """

    header_block: Optional[bytes] = None

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"invalid header at offset {offset}: {reason}", offset)
        self.reason = reason


class DuplicateHeader(DecodeError):
    """A header name appears twice in one message.

    ``header_block`` is the raw header block it was found in (bytes; None
    when the error was not raised by a decoder).
    """

    header_block: Optional[bytes] = None

    def __init__(self, name: str, offset: int) -> None:
        super().__init__(f'duplicate header "{name}" at offset {offset}', offset)
        self.name = name


class TruncatedStreamError(DecodeError):
    """The stream ended inside a message."""

    def __init__(self, remaining: int, offset: int) -> None:
        super().__init__(
            f"stream ended inside the message at offset {offset}: "
            f"{remaining} byte{'s' if remaining != 1 else ''} left over",
            offset,
        )
        self.remaining = remaining


#: The longest chunk-size line, and trailer section, a chunked body may have
#: (csrc/fastsmr.h's FSMR_CHUNKED_MAX_LINE).
MAX_CHUNK_LINE = 65536

_CHUNK_PROBLEMS = {
    "size": "expected a hex digit of a chunk size, found {found}",
    "size_overflow": "the chunk size does not fit in 64 bits",
    "size_line": "expected ';' or a line end after the chunk size, found {found}",
    "line_end": "expected LF after CR, found {found}",
    "data_end": "expected CRLF after the chunk data, found {found}",
    "line_length": f"a chunk-size line or the trailer section is longer than {MAX_CHUNK_LINE} bytes",
    "data_left": "the body ended inside a chunk, {found} bytes of its data short",
    "no_last_chunk": "the body ended before the last chunk",
}


class ChunkedEncodingError(DecodeError):
    """An HTTP body in chunked transfer coding that cannot be read as chunks,
    or that ended before its last chunk.

    ``offset`` counts the transfer-coded bytes (chunk-size lines included)
    from the start of the body; ``problem`` names what was wrong (a key of
    the messages below) and ``found`` is the offending byte, or the data
    bytes missing for ``"data_left"``.
    """

    def __init__(self, problem: str, offset: int, found: int = 0) -> None:
        shown = repr(bytes([found])) if problem in ("size", "size_line", "line_end", "data_end") else found
        reason = _CHUNK_PROBLEMS[problem].format(found=shown)
        super().__init__(f"invalid chunked transfer coding at offset {offset}: {reason}", offset)
        self.problem = problem
        self.found = found

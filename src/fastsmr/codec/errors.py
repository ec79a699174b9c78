"""Exceptions raised by both backends, and every text they carry.

Every error names where in the stream it happened (``offset``, counted from
the first byte ever fed to the decoder) and what was expected against what
was found, so that a corrupt capture can be located with a hex dump. The
backends pass a problem code and the numbers (the C core's error codes are
mapped to these names in the binding); the texts are built here, once.
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
    "TYPE_NAMES",
    "header_error",
]

#: The wire's header value types by code (DESIGN.md, "The wire format").
TYPE_NAMES = ("true", "false", "byte", "short", "integer", "long", "byte array", "string", "timestamp", "uuid")


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

    ``reason`` says what (see :func:`header_error` for the decoders' texts);
    ``problem`` names it (a key of ``_HEADER_PROBLEMS``, None when the error
    was not raised by a decoder); ``header_block`` is the raw header block
    it was found in (bytes; None when the error was not raised by a decoder).
    """

    header_block: Optional[bytes] = None
    problem: Optional[str] = None

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"invalid header at offset {offset}: {reason}", offset)
        self.reason = reason


# What can be wrong with one header: ``needed`` and ``left`` are byte counts,
# ``kind`` the value type code, ``detail`` the UTF-8 decoder's reason or the
# converter's exception.
_HEADER_PROBLEMS = {
    "name_length": "name of {needed} bytes runs past the header block ({left} bytes left)",
    "name_utf8": "name is not valid UTF-8 ({detail})",
    "no_type": "header {name!r} has no value type byte",
    "type": "header {name!r} has unknown value type {kind}",
    "no_length": "{type} header {name!r} has no room for its length",
    "value_utf8": "string header {name!r} is not valid UTF-8 ({detail})",
    "refused": "{type} header {name!r} was refused: {detail}",
}
# A value running past the block, by how its length is known.
_SHORT_VALUE = {
    6: "{type} header {name!r} of {needed} bytes runs past the header block ({left} bytes left)",
    7: "{type} header {name!r} of {needed} bytes runs past the header block ({left} bytes left)",
    9: "uuid header {name!r} needs 16 bytes, {left} left",
}


def header_error(
    problem: str, offset: int, name: str = "", kind: int = 0, needed: int = 0, left: int = 0, detail: str = ""
) -> InvalidHeader:
    """The ``InvalidHeader`` for ``problem`` in the header at stream ``offset``.

    ``problem`` is a key of ``_HEADER_PROBLEMS``, or ``"value_length"`` (a
    value of type ``kind`` needing ``needed`` bytes where ``left`` remain).

    >>> str(header_error("value_length", 40, name="n", kind=4, needed=4, left=1))
    "invalid header at offset 40: header 'n' of type 4 needs 4 bytes, 1 left"
    """
    if problem == "value_length":
        text = _SHORT_VALUE.get(kind, "header {name!r} of type {kind} needs {needed} bytes, {left} left")
    else:
        text = _HEADER_PROBLEMS[problem]
    type_name = TYPE_NAMES[kind] if 0 <= kind < len(TYPE_NAMES) else str(kind)
    error = InvalidHeader(
        text.format(name=name, kind=kind, type=type_name, needed=needed, left=left, detail=detail), offset
    )
    error.problem = problem
    return error


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

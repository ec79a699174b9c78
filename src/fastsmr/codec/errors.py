"""Exceptions raised by both backends, and every text they carry.

Every error names where in the stream it happened (``offset``, counted from
the first byte ever fed to the decoder) and what was expected against what
was found, so that a corrupt capture can be located with a hex dump. The
backends pass a problem code and the numbers (the C core's error codes are
mapped to these names in the binding); the texts are built here, once.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Type, TypeVar

__all__ = [
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
    "MAX_CHUNK_LINE",
    "TYPE_NAMES",
    "header_error",
    "buffer_error",
    "not_bytes_like",
    "not_contiguous",
    "events_error",
    "decoder_error",
    "closed_error",
]

#: The wire's header value types by code (DESIGN.md, "The wire format").
TYPE_NAMES = ("true", "false", "byte", "short", "integer", "long", "byte array", "string", "timestamp", "uuid")


class DecodeError(ValueError):
    """Base class of every error raised for malformed event-stream bytes (a ``ValueError``).

    ``offset`` (int) is the stream offset, in bytes from the first byte ever
    fed to the decoder, of the message found wrong (for a header error, of
    the header; for ``ChunkedEncodingError``, of the bad byte in the HTTP
    body). The message says what was expected and what was found. Every
    subclass keeps its attributes when pickled.

    >>> import fastsmr
    >>> wire = fastsmr.encode({}, b"one") + b"\\x00" * 16
    >>> try:
    ...     fastsmr.decode(wire)
    ... except fastsmr.DecodeError as error:
    ...     print(type(error).__name__, error.offset)
    ChecksumMismatch 19
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset

    def __reduce__(self) -> Tuple[Any, ...]:  # keep attributes across pickling (multiprocessing)
        return (_rebuild, (type(self), self.args, self.__dict__))


_Error = TypeVar("_Error", bound=DecodeError)


def _rebuild(cls: Type[_Error], args: Tuple[Any, ...], state: Dict[str, Any]) -> _Error:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class ChecksumMismatch(DecodeError):
    """The prelude CRC or the message CRC does not match the bytes.

    ``part`` is ``"prelude"`` (the CRC of the first 8 bytes) or ``"message"``
    (the trailing CRC of everything before it); ``expected`` is the CRC the
    message carries and ``computed`` the CRC of the bytes received (ints).

    >>> import fastsmr
    >>> wire = bytearray(fastsmr.encode({}, b"hello"))
    >>> wire[12] ^= 1  # one bit of the payload flipped in transit
    >>> try:
    ...     fastsmr.decode(wire)
    ... except fastsmr.ChecksumMismatch as error:
    ...     print(error.part, hex(error.expected), hex(error.computed), error.offset)
    message 0x570c3496 0x6a6c1d26 0
    """

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
    """The prelude's lengths cannot describe a message.

    ``total_length`` and ``headers_length`` (ints, bytes) are the prelude's:
    a total under 16, or a header block that does not fit in it.

    >>> import fastsmr, struct, zlib
    >>> lengths = struct.pack("!II", 10, 0)  # a total of 10 bytes: shorter than prelude and CRC
    >>> try:
    ...     fastsmr.decode(lengths + struct.pack("!I", zlib.crc32(lengths)))
    ... except fastsmr.InvalidMessageLength as error:
    ...     print(error.total_length, error.headers_length, error.offset)
    10 0 0
    """

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
    """A length the prelude declares is over the decoder's limit.

    ``length`` is the length declared and ``maximum`` the decoder's limit
    (ints, bytes), decided from the 12-byte prelude before anything else of
    the message is read.
    """

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
    """The prelude declares a header block over ``max_headers_length`` (``length``, ``maximum``: bytes).

    >>> import fastsmr
    >>> try:
    ...     fastsmr.Decoder(max_headers_length=8).feed(fastsmr.encode({":event-type": "PayloadPart"}))
    ... except fastsmr.InvalidHeadersLength as error:
    ...     print(error.length, error.maximum, error.offset)
    26 8 0
    """

    field = "headers_length"


class InvalidPayloadLength(_LimitExceeded):
    """The prelude declares a payload over ``max_payload_length`` (``length``, ``maximum``: bytes).

    >>> import fastsmr
    >>> try:
    ...     fastsmr.Decoder(max_payload_length=4).feed(fastsmr.encode({}, b"hello"))
    ... except fastsmr.InvalidPayloadLength as error:
    ...     print(error.length, error.maximum, error.offset)
    5 4 0
    """

    field = "payload length"


class InvalidHeader(DecodeError):
    """A header is malformed: unknown type, value past the block, bad UTF-8.

    ``reason`` (str) says what is wrong with it (see :func:`header_error` for
    the decoders' texts); ``problem`` names it (a key of ``_HEADER_PROBLEMS``,
    None when the error was not raised by a decoder); ``header_block`` is the
    raw header block it was found in (bytes; None when the error was not
    raised by a decoder); ``offset`` is the header's. A value a
    ``header_converters`` callable refuses raises it too, caused by the
    converter's error.

    >>> import fastsmr
    >>> try:
    ...     fastsmr.Decoder(header_converters={7: int}).feed(fastsmr.encode({"n": "x"}))
    ... except fastsmr.InvalidHeader as error:
    ...     print(error.offset, error.header_block, type(error.__cause__).__name__)
    12 b'\\x01n\\x07\\x00\\x01x' ValueError
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

    ``name`` (str) is the header's name, ``offset`` its second occurrence's;
    ``header_block`` is the raw header block it was found in (bytes; None
    when the error was not raised by a decoder).

    >>> import fastsmr, struct, zlib
    >>> block = b"\\x01a\\x00" * 2  # the header "a" (true) twice
    >>> prelude = struct.pack("!II", 16 + len(block), len(block))
    >>> prelude += struct.pack("!I", zlib.crc32(prelude))
    >>> wire = prelude + block + struct.pack("!I", zlib.crc32(prelude + block))
    >>> try:
    ...     fastsmr.decode(wire)
    ... except fastsmr.DuplicateHeader as error:
    ...     print(error.name, error.offset)
    a 15
    """

    header_block: Optional[bytes] = None

    def __init__(self, name: str, offset: int) -> None:
        super().__init__(f'duplicate header "{name}" at offset {offset}', offset)
        self.name = name


class TruncatedStreamError(DecodeError):
    """The stream ended inside a message.

    ``remaining`` (int) counts the bytes of the incomplete message that were
    received; ``offset`` is where that message starts.

    >>> import fastsmr
    >>> decoder = fastsmr.Decoder()
    >>> decoder.feed(fastsmr.encode({}, b"complete") + fastsmr.encode({}, b"cut")[:10])[0].payload
    b'complete'
    >>> try:
    ...     decoder.close()
    ... except fastsmr.TruncatedStreamError as error:
    ...     print(error.remaining, error.offset)
    10 24
    """

    def __init__(self, remaining: int, offset: int) -> None:
        super().__init__(
            f"stream ended inside the message at offset {offset}: "
            f"{remaining} byte{'s' if remaining != 1 else ''} left over",
            offset,
        )
        self.remaining = remaining


class IncompleteBodyError(TruncatedStreamError):
    """An HTTP body ended short of its ``Content-Length`` (a ``TruncatedStreamError``).

    ``expected`` is the body's ``Content-Length`` and ``received`` the bytes
    of it that arrived (ints); ``remaining`` counts the bytes of an
    incomplete message at the end (0 when the body ended between messages)
    and ``offset`` is where the first message not received whole starts.
    The SDKs' sync readers do not check the length (botocore opens its
    responses with urllib3's ``enforce_content_length=False``): a connection
    closed early between messages would end the stream quietly.

    >>> print(IncompleteBodyError(964, 914, 0))  # doctest: +NORMALIZE_WHITESPACE
    the body ended short of its Content-Length: expected 964 bytes, received 914;
    the stream ended at offset 914, between messages
    >>> IncompleteBodyError(914, 904, 67).offset
    837
    """

    def __init__(self, expected: int, received: int, remaining: int) -> None:
        offset = received - remaining
        if remaining:
            where = (f"inside the message at offset {offset}: "
                     f"{remaining} byte{'s' if remaining != 1 else ''} left over")
        else:
            where = f"at offset {offset}, between messages"
        DecodeError.__init__(
            self,
            f"the body ended short of its Content-Length: expected {expected} bytes, "
            f"received {received}; the stream ended {where}",
            offset,
        )
        self.remaining = remaining
        self.expected = expected
        self.received = received


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

    >>> from fastsmr.codec import ChunkedDecoder, ChunkedEncodingError
    >>> decoder = ChunkedDecoder()
    >>> decoder.feed(b"5\\r\\nhello\\r\\nzz")  # the data before the bad bytes comes first
    b'hello'
    >>> try:
    ...     decoder.feed(b"")
    ... except ChunkedEncodingError as error:
    ...     print(error.problem, chr(error.found), error.offset)
    size z 10
    """

    def __init__(self, problem: str, offset: int, found: int = 0) -> None:
        shown = repr(bytes([found])) if problem in ("size", "size_line", "line_end", "data_end") else found
        reason = _CHUNK_PROBLEMS[problem].format(found=shown)
        super().__init__(f"invalid chunked transfer coding at offset {offset}: {reason}", offset)
        self.problem = problem
        self.found = found


# --- what a caller passed wrong: the same class and words from both backends -----------


def buffer_error(data: Any) -> Optional[Exception]:
    """The error for ``data`` fed to a decoder that cannot read it as one run of
    bytes, or None if it can (the caller's own error then stands).

    CPython's convention (``PyObject_GetBuffer``, which ``zlib.crc32`` and
    ``bytes.join`` use): ``TypeError`` for an object without the buffer
    protocol (:func:`not_bytes_like`), ``BufferError`` for a buffer whose
    bytes are not contiguous, a strided memoryview or a Fortran-ordered array
    (:func:`not_contiguous`). A buffer of any item format (``array("I")``) is
    read as its bytes.

    >>> buffer_error("text")
    TypeError("a bytes-like object is required, not 'str'")
    >>> buffer_error(memoryview(b"abcd")[::2])
    BufferError('memoryview: underlying buffer is not C-contiguous')
    >>> buffer_error(bytearray(b"ab")) is None
    True
    """
    try:
        with memoryview(data) as view:
            if view.c_contiguous:
                return None
    except TypeError:
        return not_bytes_like(data)
    except ValueError:  # a released memoryview: its own error says so
        return None
    return not_contiguous(data)


def not_bytes_like(data: Any) -> TypeError:
    """``data`` has no buffer: CPython's words."""
    return TypeError(f"a bytes-like object is required, not '{type(data).__name__}'")


def not_contiguous(data: Any) -> BufferError:
    """``data``'s bytes are not one run: CPython's words for a memoryview's."""
    return BufferError(f"{type(data).__name__}: underlying buffer is not C-contiguous")


def events_error(events: Any) -> TypeError:
    """``feed(data, events)`` and ``BodyReader.read(events)`` take a dict or None."""
    return TypeError(f"events must be a dict or None, not {type(events).__name__}")


def decoder_error(decoder: Any) -> TypeError:
    """A ``BodyReader`` decodes with a ``Decoder`` of its own backend."""
    kind = type(decoder)
    return TypeError(f"decoder must be a Decoder of the BodyReader's backend, not {kind.__module__}.{kind.__qualname__}")


def closed_error(owner: str, call: str) -> ValueError:
    """``call`` on a decoder whose ``close()`` ended its stream (a ``ValueError``, as a closed file raises).

    >>> closed_error("Decoder", "feed")
    ValueError('Decoder.feed() was called after close(): its stream is over')
    """
    return ValueError(f"{owner}.{call}() was called after close(): its stream is over")

"""The C backend (Cython binding of csrc/): its types, and the documentation of its public API.

The public API's docstrings live here, not in ``_codec_c.pyx`` (which
documents what only it has); ``_codec_py`` is its pure-Python twin with the
same API and the same docstrings (``tests/test_stubs.py`` checks both against
this file).
"""

from typing import Any, Callable, Dict, Iterable, Iterator, List, Literal, Mapping, Optional, Tuple, Union, overload

from typing_extensions import Buffer

BACKEND: Literal["c"]

def crc32(data: Buffer, value: int = 0) -> int:
    """CRC-32 (IEEE 802.3, zlib's polynomial) of ``data``, continuing from ``value``.

    ``data`` is any bytes-like object; ``value`` is the CRC of the bytes before
    it (0, the default, starts afresh). Returns an int from 0 to 2**32 - 1,
    exactly ``zlib.crc32(data, value)``.

    >>> import fastsmr
    >>> hex(fastsmr.crc32(b"123456789"))
    '0xcbf43926'
    >>> fastsmr.crc32(b"6789", fastsmr.crc32(b"12345")) == fastsmr.crc32(b"123456789")
    True
    """

def _crc32_impls() -> List[str]: ...

def _crc32_impl() -> str: ...

def _set_crc32_impl(name: str) -> None: ...

def _crc32_using(name: str, data: Buffer, value: int = 0) -> int: ...

def _crc32_copy_using(
    name: str, data: Buffer, value: int = 0, uncached: bool = False, at: int = 0
) -> Tuple[int, bytes]: ...

class Message:
    """One decoded event-stream message (DESIGN.md, "The wire format").

    Its fields, read-only:

    * ``headers`` (``dict[str, bool | int | bytes | str]``): each header by
      name, typed as botocore types it: true and false give bool; byte, short,
      integer, long and timestamp give int (a timestamp is the raw count of
      milliseconds since the epoch); byte array and uuid give bytes (a uuid is
      its 16 raw bytes); string gives str. Each message has a dict of its own.
    * ``payload`` (bytes): the payload.
    * ``prelude_crc`` and ``crc`` (int): the prelude's and the message's
      CRC-32 as sent; the decoder has checked both.
    * ``total_length`` (int): the message's size on the wire in bytes, prelude
      and trailing CRC included (at least 16).
    * ``message_type`` and ``event_type`` (str or None): the ``:message-type``
      and ``:event-type`` headers, None when the message has none.

    Messages are equal when all their fields are; they are not hashable.

    >>> import fastsmr
    >>> wire = fastsmr.encode({":message-type": "event", ":event-type": "PayloadPart"}, b"Hi")
    >>> (message,) = fastsmr.decode(wire)
    >>> message.message_type, message.event_type, message.payload, message.total_length
    ('event', 'PayloadPart', b'Hi', 66)
    >>> message.headers
    {':message-type': 'event', ':event-type': 'PayloadPart'}
    """

    @property
    def payload(self) -> bytes: ...
    @property
    def prelude_crc(self) -> int: ...
    @property
    def crc(self) -> int: ...
    @property
    def total_length(self) -> int: ...
    def __init__(
        self, headers: Dict[str, Any], payload: bytes, prelude_crc: int, crc: int, total_length: int
    ) -> None: ...
    @property
    def headers(self) -> Dict[str, Any]:
        """The headers by name (``dict[str, bool | int | bytes | str]``), typed as botocore types them."""
    @property
    def message_type(self) -> Optional[str]:
        """The ``:message-type`` header (``"event"``, ``"exception"`` or ``"error"`` from AWS), or None."""
    @property
    def event_type(self) -> Optional[str]:
        """The ``:event-type`` header (``'PayloadPart'`` on SageMaker's streams), or None."""
    def __eq__(self, other: object) -> bool: ...
    __hash__: None  # type: ignore[assignment]  # equality compares the headers dict

#: What ``Decoder.feed(data, events)`` returns for a message of a mapped event type.
_Event = Union[bytes, Dict[str, Dict[str, bytes]]]

class Decoder:
    """Incremental event-stream decoder: feed it chunks, get the messages they complete.

    ``Decoder(*, max_payload_length=25165824, max_headers_length=131072,
    header_converters=None)``; every argument is keyword-only.

    * ``max_payload_length`` and ``max_headers_length`` are limits in bytes,
      ints from 0 to 2**32 - 1 (``TypeError`` or ``ValueError`` otherwise).
      The defaults, 24 MiB of payload and 128 KiB of header block, are
      botocore's (``botocore/eventstream.py``). A message whose 12-byte prelude
      declares more is refused from the prelude alone, before anything is
      buffered: ``InvalidPayloadLength`` or ``InvalidHeadersLength``.
    * ``header_converters`` maps header value type codes (0 true, 1 false,
      2 byte, 3 short, 4 integer, 5 long, 6 byte array, 7 string,
      8 timestamp, 9 uuid) to callables: a value of such a type goes, as it
      would otherwise be returned, through its callable, and the result is
      the header's value (a header block that repeats is converted once).
      What a converter raises becomes an ``InvalidHeader`` naming the header,
      caused by it.

    Malformed bytes raise a ``fastsmr.DecodeError`` subclass whose ``offset``
    is the stream offset (bytes since the first one fed) of the message or
    header at fault; after that the decoder raises the same error on every
    call. Use one decoder per stream: a call to ``feed()``, ``close()`` or
    ``__init__()`` while another thread is inside one of them raises
    ``RuntimeError`` and changes nothing.

    >>> import fastsmr
    >>> wire = fastsmr.encode({":event-type": "PayloadPart"}, b"hello")
    >>> d = fastsmr.Decoder(max_payload_length=1024)
    >>> d.feed(wire[:7]), d.buffered
    ([], 7)
    >>> [m.payload for m in d.feed(wire[7:])]
    [b'hello']
    >>> d.close()
    """

    def __init__(
        self,
        *,
        max_payload_length: int = 25165824,
        max_headers_length: int = 131072,
        header_converters: Optional[Mapping[int, Callable[[Any], Any]]] = None,
    ) -> None: ...
    @property
    def buffered(self) -> int:
        """Bytes (int) held for a message that is not complete yet; 0 between messages."""
    @overload
    def feed(self, data: Buffer, events: None = None) -> List[Message]:
        """Add the next chunk of the stream; return the messages it completed, in order.

        ``data`` is any C-contiguous bytes-like object (bytes, bytearray,
        memoryview, mmap, array) of any length, empty included. The decoder keeps
        what it needs of it: the buffer may be reused as soon as ``feed`` returns.
        Returns a list of ``Message``, empty when the chunk completes none.

        Malformed bytes raise a ``fastsmr.DecodeError`` subclass. If the chunk
        completed messages before the bad bytes, those are returned and the error
        is raised by the next call (``feed`` or ``close``), as by every later one.
        ``data`` that is not bytes-like raises ``TypeError``, a buffer whose bytes
        are not contiguous ``BufferError`` (CPython's words for both).

        ``events`` serves integrations that want botocore's event shapes: it
        maps an ``:event-type`` to a payload member name, or to None. A
        message of a mapped type (and a ``:message-type`` other than error
        or exception) then comes back as ``{event_type: {member: payload}}``,
        or as the payload bytes alone for None, after the same validation.
        """
    @overload
    def feed(self, data: Buffer, events: Dict[str, Optional[str]]) -> List[Union[Message, _Event]]: ...
    def close(self) -> None:
        """Declare the end of the stream; returns None.

        Raises the pending error, if any, or ``TruncatedStreamError`` (its
        ``remaining`` counts the bytes left over) if the stream ended inside a
        message. Every later call raises the error this one raised; if it
        raised none, ``feed`` raises ``ValueError``, as a closed file does, and
        ``close`` returns None again.

        >>> import fastsmr
        >>> d = fastsmr.Decoder()
        >>> d.feed(fastsmr.encode({}, b"cut")[:-1])
        []
        >>> d.close()
        Traceback (most recent call last):
        ...
        fastsmr.codec.errors.TruncatedStreamError: stream ended inside the message at offset 0: 18 bytes left over
        """

def iter_lines(parts: Iterable[Any], keepends: bool, to_bytes: Callable[[Any], bytes]) -> Iterator[bytes]: ...

def decode(data: Buffer, *, max_payload_length: int = 25165824, max_headers_length: int = 131072) -> List[Message]:
    """Decode a whole buffer of messages: a list of ``Message``, in order.

    ``data`` is any bytes-like object; the limits are the ``Decoder``'s, in
    bytes. Raises what ``Decoder.feed`` raises, and ``TruncatedStreamError``
    if the buffer ends inside a message.

    >>> import fastsmr
    >>> wire = fastsmr.encode({"n": 1}) + fastsmr.encode({"n": 2})
    >>> [m.headers["n"] for m in fastsmr.decode(wire)]
    [1, 2]
    >>> fastsmr.decode(wire[:-1])
    Traceback (most recent call last):
    ...
    fastsmr.codec.errors.TruncatedStreamError: stream ended inside the message at offset 23: 22 bytes left over
    """

class ChunkedDecoder:
    """Incremental decoder of an HTTP/1.1 body in chunked transfer coding (RFC 9112, section 7.1).

    ``feed(data)`` takes the body's bytes (any bytes-like object) as they come
    off the connection and returns the data of the chunks they hold (bytes,
    empty when they hold none); ``done`` turns true once the last chunk and the
    trailer section are read, and ``unused`` then counts the bytes fed past
    them. ``close()`` says the connection ended the body: it raises
    ``ChunkedEncodingError`` unless the last chunk was read. Bytes that are not
    chunked coding raise ``ChunkedEncodingError`` with the ``offset`` and the
    ``problem``; the data before them is returned first and the error raised by
    the next call.

    >>> from fastsmr.codec import ChunkedDecoder
    >>> d = ChunkedDecoder()
    >>> d.feed(b"5\\r\\nhel"), d.feed(b"lo\\r\\n0\\r\\n\\r\\n"), d.done, d.offset
    (b'hel', b'lo', True, 15)
    """

    def __init__(self) -> None: ...
    @property
    def done(self) -> bool:
        """True once the last chunk and the trailer section have been read."""
    @property
    def unused(self) -> int:
        """Bytes (int) fed after the end of the body."""
    @property
    def offset(self) -> int:
        """Transfer-coded bytes (int) of the body read so far, chunk-size lines included."""
    def feed(self, data: Buffer) -> bytes:
        """The chunk data in ``data`` (any bytes-like object), the next bytes of the body: bytes.

        Data that came before bad bytes is returned; the ``ChunkedEncodingError``
        is raised by the next call. ``data`` that is not bytes-like raises
        ``TypeError``, a buffer whose bytes are not contiguous ``BufferError``.
        """
    def close(self) -> None:
        """The body has ended: raises ``ChunkedEncodingError`` unless its last chunk was read.

        Every later call raises the error this one raised; if it raised none,
        ``feed`` raises ``ValueError``, as a closed file does, and ``close``
        returns None again.
        """

MUX_END: int
MUX_END_UNUSED: int

# (handover offset, framing the fast path found or None, the bytes to feed first, in parts)
_Handover = Tuple[int, Optional[str], List[bytes]]

class TextEvents:
    def __init__(self, format: str) -> None: ...
    def feed(self, part: Any) -> Tuple[bytes, Optional[_Handover]]: ...
    def finish(self) -> Tuple[bytes, Optional[_Handover]]: ...

class Mux:
    TEXT_FORMATS: Tuple[str, ...]
    def __init__(self) -> None: ...
    def fileno(self) -> int: ...
    def __len__(self) -> int: ...
    def add(self, key: Any, fd: int, buffered: Any = b"", timeout: Optional[float] = None, text: Optional[str] = None,
            relay: Optional[int] = None, limit: int = 262144) -> None: ...
    def remove(self, key: Any) -> None: ...
    def send(self, key: Any, data: Any) -> None: ...
    def flush(self, key: Any) -> None: ...
    def hold(self, key: Any, held: bool) -> None: ...
    def wake(self) -> None: ...
    def timeout(self) -> Optional[float]: ...
    # (key, parts, events, handover, end): see fastsmr.codec.muxing
    def poll(
        self, timeout: Optional[float] = None
    ) -> List[Tuple[Any, List[bytes], Optional[bytes], Optional[_Handover], Any]]: ...
    def close(self) -> None: ...

class BodyReader:
    def __init__(self, fd: int, decoder: Decoder, buffered: Any = b"") -> None: ...
    @property
    def done(self) -> bool: ...
    @property
    def unused(self) -> int: ...
    def read(self, events: Optional[Dict[str, Optional[str]]] = None) -> Optional[List[Any]]: ...

"""botocore's ``EventStreamBuffer``, decoding with fastsmr.

Code that reads an event stream without boto3's ``EventStream`` — LiteLLM's
SageMaker and Bedrock decoders over httpx, proxies relaying Bedrock frames —
feeds the HTTP body to ``botocore.eventstream.EventStreamBuffer`` and
iterates it for ``EventStreamMessage`` objects. botocore's buffer decodes in
pure Python and re-slices its whole buffer for every message.

While :func:`fastsmr.install` is in effect, ``EventStreamBuffer()`` builds a
:class:`EventStreamBuffer` of this module instead (a subclass: ``isinstance``
checks and ``from botocore.eventstream import EventStreamBuffer`` done before
``install()`` keep working; subclasses of botocore's class stay botocore's).
It behaves as botocore's does, observably:

* ``add_data(data)`` takes any bytes-like chunk and never raises a decode
  error; iterating (or ``next()``) yields each complete message once, then
  stops until more data comes. Bytes of an unfinished message wait for the
  rest, as in botocore.
* Messages are ``botocore.eventstream.EventStreamMessage`` objects (of a
  subclass) with the same ``prelude`` (a ``MessagePrelude``, built when first
  read), ``headers``, ``payload``, ``crc`` and ``to_response_dict()``.
* Bad bytes raise from the iteration that reaches them, after the messages
  before them, and again on every later ``next()``, as botocore does. The
  exception is botocore's class for the fault (``ChecksumMismatch``,
  ``InvalidHeadersLength``, ``InvalidPayloadLength``, ``DuplicateHeader``)
  and also the matching :mod:`fastsmr` error, naming the offset; where
  botocore fails with ``KeyError``, ``struct.error`` or
  ``UnicodeDecodeError`` or reads garbage, it is a
  ``botocore.eventstream.ParserError`` that says what is wrong.
* A stream that ends inside a message is silent, as in botocore, unless the
  code asks: :func:`close` raises :class:`~fastsmr.TruncatedStreamError`.

>>> import botocore.eventstream, fastsmr
>>> fastsmr.install()
True
>>> buffer = botocore.eventstream.EventStreamBuffer()
>>> buffer.add_data(fastsmr.encode({":event-type": "PayloadPart"}, b"Hi"))
>>> [(m.headers, m.payload, m.prelude.total_length) for m in buffer]
[({':event-type': 'PayloadPart'}, b'Hi', 44)]
>>> fastsmr.uninstall()
"""

from __future__ import annotations

import struct
from typing import Any, Dict, Iterator, List, Tuple

import botocore.eventstream as bes

from ..codec import backend
from ..codec import errors as _errors
from ..codec.encoder import encode
from .errors import TruncatedStreamError, translate

__all__ = ["EventStreamBuffer", "EventStreamMessage", "close", "patches", "problems"]

_STOCK = bes.EventStreamBuffer
_MessagePrelude = bes.MessagePrelude
_new = object.__new__
# The limits Decoder accepts: a larger botocore limit is the same as none.
_CEILING = 0xFFFFFFFF


class EventStreamMessage(bes.EventStreamMessage):
    """``botocore.eventstream.EventStreamMessage`` for a message fastsmr decoded.

    ``headers``, ``payload`` and ``crc`` are set as botocore sets them;
    ``prelude`` is made on first use (few readers look at it).
    """

    __slots__ = ("_decoded",)  # the codec's message, out of vars()
    _decoded: Any  # either backend's Message

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not set: the prelude, not read yet.
        if name == "prelude":
            decoded = self._decoded
            total = decoded.total_length
            prelude = _new(_MessagePrelude)
            prelude.total_length = total
            prelude.headers_length = total - 16 - len(decoded.payload)
            prelude.crc = decoded.prelude_crc
            self.prelude = prelude  # type: ignore[assignment]  # botocore-stubs say int; botocore sets a MessagePrelude
            return prelude
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def _message(decoded: Any, new: Any = _new, cls: type = EventStreamMessage) -> EventStreamMessage:
    message: EventStreamMessage = new(cls)
    message._decoded = decoded
    message.headers = decoded.headers
    message.payload = decoded.payload
    message.crc = decoded.crc
    return message


# What a buffer holds when every decoded message was handed out.
_DRAINED: Iterator[Any] = iter(())


class EventStreamBuffer(_STOCK):
    """``botocore.eventstream.EventStreamBuffer`` decoding with fastsmr (see the module).

    >>> import fastsmr
    >>> buffer = EventStreamBuffer()
    >>> wire = fastsmr.encode({"n": 1}) + fastsmr.encode({"n": 2})
    >>> buffer.add_data(wire[:20])
    >>> list(buffer)
    []
    >>> buffer.add_data(wire[20:])
    >>> [m.headers["n"] for m in buffer]
    [1, 2]
    """

    def __init__(self) -> None:
        self._decoder = _new_decoder()
        #: The decoded messages not handed out yet.
        self._messages: Iterator[Any] = _DRAINED
        #: The fastsmr error the bytes after them raise, or None.
        self._error: Any = None

    def add_data(self, data: Any) -> None:
        """Add bytes (any bytes-like object) to decode; errors wait for the iteration."""
        if self._error is not None:
            return  # botocore raises at the bad bytes forever after: nothing more is read
        feed = self._decoder.feed
        try:
            decoded = feed(data)
        except _errors.DecodeError as error:
            self._error = error
            return
        if not decoded:
            return
        try:
            # A chunk that completes messages and then holds bad bytes returns
            # the messages, and the next call raises; botocore raises right
            # after those messages, so ask now.
            feed(b"")
        except _errors.DecodeError as error:
            self._error = error
        if self._messages is not _DRAINED:
            decoded = list(self._messages) + decoded  # add_data() twice without iterating
        self._messages = iter(decoded)

    def next(self) -> EventStreamMessage:
        """The next complete message; ``StopIteration`` when there is none yet."""
        for decoded in self._messages:
            return _message(decoded)
        self._messages = _DRAINED
        if self._error is not None:
            raise translate(self._error)  # a new exception each time, as botocore's
        raise StopIteration()

    __next__ = next

    def __iter__(self) -> EventStreamBuffer:
        return self


def _new_decoder() -> Any:
    # botocore's limits are module constants; a program that changed them
    # gets the same limits here.
    return backend.impl.Decoder(
        max_headers_length=min(getattr(bes, "_MAX_HEADERS_LENGTH", 128 * 1024), _CEILING),
        max_payload_length=min(getattr(bes, "_MAX_PAYLOAD_LENGTH", 24 * 1024 * 1024), _CEILING),
    )


def close(buffer: Any) -> None:
    """Declare the end of the stream a buffer was fed: raise if it ended inside a message.

    ``buffer`` is an ``EventStreamBuffer``, fastsmr's or botocore's own (when
    :func:`fastsmr.install` is not in effect). botocore ignores bytes of a
    message the stream never finished; call this after the last
    ``add_data()`` and the iteration, and they raise
    :class:`~fastsmr.TruncatedStreamError` (a ``botocore.eventstream.ParserError``)
    with ``remaining``, the count of bytes left over. A decode error that the
    iteration has not raised yet is raised here. For botocore's buffer the
    ``offset`` counts from the first byte the buffer still holds (botocore
    keeps no count of what it consumed).

    >>> import fastsmr
    >>> buffer = EventStreamBuffer()
    >>> buffer.add_data(fastsmr.encode({}, b"cut short")[:10])
    >>> list(buffer)
    []
    >>> close(buffer)
    Traceback (most recent call last):
    ...
    fastsmr.boto.errors.TruncatedStreamError: stream ended inside the message at offset 0: 10 bytes left over
    """
    if isinstance(buffer, EventStreamBuffer):
        if buffer._error is not None:
            raise translate(buffer._error)
        try:
            buffer._decoder.close()
        except _errors.DecodeError as error:
            raise translate(error) from None
        # A closed decoder takes no more bytes; the buffer, as botocore's, may
        # be fed on (a new stream: offsets count from here).
        buffer._decoder = _new_decoder()
        return
    if not isinstance(buffer, _STOCK):
        raise TypeError(f"close() takes an EventStreamBuffer, not {type(buffer).__name__}")
    data: bytes = buffer._data  # type: ignore[attr-defined]  # botocore's own attribute, not in its stubs
    pos = 0
    # Skip the complete messages not iterated yet: what follows them is the cut-off one.
    while len(data) - pos >= 12:
        (total,) = struct.unpack_from("!I", data, pos)
        if total < 16 or len(data) - pos < total:
            break
        pos += total
    if len(data) > pos:
        raise TruncatedStreamError(len(data) - pos, pos)


# --- install() ------------------------------------------------------------------


def _construct(cls: type, *args: Any, **kwargs: Any) -> Any:
    """``EventStreamBuffer.__new__`` while installed: botocore's class builds fastsmr's."""
    return _new(EventStreamBuffer if cls is _STOCK else cls)


def patches() -> List[Tuple[type, Dict[str, Any]]]:
    """What install() sets on botocore's classes for the buffer."""
    return [(_STOCK, {"__new__": staticmethod(_construct)})]


_PROBE_WIRE = encode({":message-type": "event", ":event-type": "Probe"}, b"probe")


def problems() -> List[str]:
    """Why botocore's ``EventStreamBuffer`` is not the one this module stands in for, if it is not."""
    found = []
    for name, parameters in (("__init__", ["self"]), ("add_data", ["self", "data"]), ("next", ["self"])):
        code = getattr(_STOCK.__dict__.get(name), "__code__", None)
        if code is None or list(code.co_varnames[: code.co_argcount]) != parameters:
            found.append(f"EventStreamBuffer.{name} is not the method fastsmr knows")
    new = _STOCK.__dict__.get("__new__")
    if new is not None and getattr(new, "__func__", None) is not _construct:
        found.append("EventStreamBuffer has a __new__ of its own")
    if found:
        return found
    # Watch botocore's buffer at work (built without __new__, which may be
    # fastsmr's already): same messages from the same bytes, and its bytes in
    # _data, where close() looks.
    try:
        stock = _new(_STOCK)
        _STOCK.__init__(stock)
        for piece in (_PROBE_WIRE[:5], _PROBE_WIRE[5:]):
            stock.add_data(piece)
        theirs = list(stock)
        if stock._data != b"":  # type: ignore[attr-defined]  # as in close()
            return ["EventStreamBuffer keeps its bytes elsewhere than _data"]
        ours = EventStreamBuffer()
        ours.add_data(_PROBE_WIRE)
        mine = list(ours)
        same = len(theirs) == len(mine) == 1 and all(
            vars(a.prelude) == vars(b.prelude)
            and a.headers == b.headers
            and a.payload == b.payload
            and a.crc == b.crc
            and a.to_response_dict() == b.to_response_dict()
            for a, b in zip(theirs, mine)
        )
        if not same:
            return ["EventStreamBuffer's messages differ from the ones fastsmr builds"]
    except Exception as error:  # any surprise means: not the botocore we know
        return [f"probing EventStreamBuffer raised {error!r}"]
    return []

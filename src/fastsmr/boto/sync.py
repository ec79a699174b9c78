"""The botocore drop-in: ``install()``, ``wrap()`` and ``payload_parts()``.

botocore reads an event-stream response in ``botocore.eventstream.EventStream``:
its ``_create_raw_event_generator`` feeds the ``raw_stream.stream()`` chunks to
a pure-Python buffer and yields ``EventStreamMessage`` objects, and its
``__iter__`` turns each into an event dict with the response parser.

``install()`` replaces just those two methods on the class, so the streams of
every client — made before or after the call — decode with
``backend.impl.Decoder`` (a :class:`RawEvents` takes the generator's place)
and become events through the per-shape converters of
:mod:`fastsmr.boto.shapes`. Everything else stays botocore's own code, fed
botocore's own message objects: ``get_initial_response``, ``close``,
``_parse_event`` for error messages and for bodies only botocore parses.

Decode errors keep existing ``except`` clauses working: each fastsmr error is
re-raised as a class deriving from both botocore's class for the same fault
(or ``botocore.eventstream.ParserError`` where botocore has none) and fastsmr's.
"""

from __future__ import annotations

import inspect
import sys
import threading
import warnings
from typing import Any, Callable, Dict, Iterator, List, NoReturn, Optional, Tuple

import botocore.eventstream as bes
import botocore.exceptions
from urllib3.exceptions import ProtocolError

from .._warnings import BotocoreCompatibilityWarning
from ..codec import backend
from ..codec import errors as _errors
from ..codec.encoder import encode
from .shapes import blob_events, payload_member, table_for
from .urllib3_body import body_chunks

__all__ = [
    "install",
    "uninstall",
    "is_installed",
    "wrap",
    "payload_parts",
    "RawEvents",
    "WrappedEventStream",
    "translate",
]


class _Absent(Exception):
    """Stands in for a botocore class this botocore lacks (install() then refuses)."""


def _botocore_class(name: str) -> type:
    found = getattr(bes, name, None)
    return found if isinstance(found, type) and issubclass(found, Exception) else _Absent


_ParserError = _botocore_class("ParserError")


# --- errors: botocore's classes with fastsmr's messages and attributes ------


class ChecksumMismatch(_botocore_class("ChecksumMismatch"), _errors.ChecksumMismatch):
    """A prelude or message CRC did not match (``botocore.eventstream.ChecksumMismatch``)."""

    __init__ = _errors.ChecksumMismatch.__init__


class InvalidHeadersLength(_botocore_class("InvalidHeadersLength"), _errors.InvalidHeadersLength):
    """The header block is over the limit (``botocore.eventstream.InvalidHeadersLength``)."""

    __init__ = _errors.InvalidHeadersLength.__init__


class InvalidPayloadLength(_botocore_class("InvalidPayloadLength"), _errors.InvalidPayloadLength):
    """The payload is over the limit (``botocore.eventstream.InvalidPayloadLength``)."""

    __init__ = _errors.InvalidPayloadLength.__init__


class DuplicateHeader(_botocore_class("DuplicateHeader"), _errors.DuplicateHeader):
    """A header name appears twice (``botocore.eventstream.DuplicateHeader``)."""

    __init__ = _errors.DuplicateHeader.__init__


# Where botocore has no class of its own it fails with KeyError, struct.error,
# UnicodeDecodeError, loops forever or returns short data: these derive from
# botocore's ParserError so that ``except ParserError`` sees them.


class InvalidMessageLength(_ParserError, _errors.InvalidMessageLength):
    """The prelude's lengths cannot describe a message (a ``ParserError``)."""

    __init__ = _errors.InvalidMessageLength.__init__


class InvalidHeader(_ParserError, _errors.InvalidHeader):
    """A malformed header: unknown type, value past the block, bad UTF-8 (a ``ParserError``)."""

    __init__ = _errors.InvalidHeader.__init__


class TruncatedStreamError(_ParserError, _errors.TruncatedStreamError):
    """The response ended inside a message (a ``ParserError``; botocore drops the bytes)."""

    __init__ = _errors.TruncatedStreamError.__init__


class ChunkedEncodingError(ProtocolError, _errors.ChunkedEncodingError):
    """The HTTP body's chunked transfer coding is broken or cut short: a
    ``urllib3.exceptions.ProtocolError``, as urllib3's own chunked reads raise."""

    __init__ = _errors.ChunkedEncodingError.__init__


class DecodeError(_ParserError, _errors.DecodeError):
    """Any other fastsmr decode error (a ``ParserError``)."""

    __init__ = _errors.DecodeError.__init__


_TRANSLATIONS: Dict[type, type] = {
    _errors.ChecksumMismatch: ChecksumMismatch,
    _errors.InvalidHeadersLength: InvalidHeadersLength,
    _errors.InvalidPayloadLength: InvalidPayloadLength,
    _errors.DuplicateHeader: DuplicateHeader,
    _errors.InvalidMessageLength: InvalidMessageLength,
    _errors.InvalidHeader: InvalidHeader,
    _errors.TruncatedStreamError: TruncatedStreamError,
    _errors.ChunkedEncodingError: ChunkedEncodingError,
    _errors.DecodeError: DecodeError,
}


def translate(error: _errors.DecodeError) -> BaseException:
    """The botocore-compatible twin of a fastsmr decode error: same message and attributes.

    >>> import fastsmr, botocore.eventstream
    >>> from fastsmr.boto.sync import translate
    >>> err = translate(fastsmr.DuplicateHeader("x", 0))
    >>> isinstance(err, botocore.eventstream.DuplicateHeader), isinstance(err, fastsmr.DuplicateHeader)
    (True, True)
    """
    if isinstance(error, _ParserError):
        return error
    for cls in type(error).__mro__:
        target = _TRANSLATIONS.get(cls)
        if target is not None:
            twin = target.__new__(target)
            Exception.__init__(twin, *error.args)
            twin.__dict__.update(error.__dict__)
            return twin
    return error


def end_with(raw: Any, error: BaseException) -> NoReturn:
    """Raise what reading a response failed with, from its ``except`` block:
    the stream is over, as botocore's generator is after anything raised,
    and a decode error becomes its botocore-compatible twin."""
    raw._done = True
    if isinstance(error, _errors.DecodeError):
        raise translate(error) from None
    raise error


# --- messages as botocore's own objects --------------------------------------


# For messages rebuilt from shaped items: their readers never look at framing.
_NO_PRELUDE = bes.MessagePrelude(0, 0, 0)


def botocore_message(message: Any) -> Any:
    """A ``botocore.eventstream.EventStreamMessage`` equal to the one botocore would build.

    An item the codec already shaped (``feed``'s ``events``: an event dict,
    or PayloadPart bytes) becomes a message with the headers that matter to
    botocore's readers (``get_initial_response``, its parser) and no framing.
    """
    if message.__class__ is dict:
        ((event_type, members),) = message.items()
        ((payload,),) = (members.values(),)
        return bes.EventStreamMessage(_NO_PRELUDE, {":event-type": event_type}, payload, 0)
    if message.__class__ is bytes:
        return bes.EventStreamMessage(_NO_PRELUDE, {":event-type": "PayloadPart"}, message, 0)
    payload = message.payload
    total = message.total_length
    prelude = bes.MessagePrelude(total, total - 16 - len(payload), message.prelude_crc)
    return bes.EventStreamMessage(prelude, message.headers, payload, message.crc)


class RawEvents:
    """The messages of one response, decoded by fastsmr, in place of botocore's raw generator.

    botocore code that calls ``next()`` on it (``get_initial_response``, or a
    stock ``__iter__`` after ``uninstall()``) gets ``EventStreamMessage``
    objects; the fast paths read the decoded messages from ``batch`` and call
    :meth:`next_batch`. Both share one position, so they can be mixed freely.

    >>> import fastsmr
    >>> class Body:
    ...     def stream(self):
    ...         yield fastsmr.encode({":event-type": "initial-response"}, b"{}")
    >>> raw = RawEvents(Body())
    >>> next(raw).headers, list(raw)
    ({':event-type': 'initial-response'}, [])
    """

    __slots__ = ("_raw_stream", "_chunks", "_decoder", "batch", "_done")

    def __init__(self, raw_stream: Any) -> None:
        self._raw_stream = raw_stream
        self._chunks: Optional[Iterator[Any]] = None
        self._decoder: Any = None
        #: An iterator over the decoded messages not handed out yet.
        self.batch: Iterator[Any] = iter(())
        self._done = False

    def next_batch(self, events: Optional[Dict[str, Optional[str]]] = None) -> bool:
        """Read chunks until some messages are decoded into ``batch``; False at the end of the stream.

        Like botocore's generator, the stream is over once anything raised:
        a decode error (re-raised as its botocore-compatible twin) or an error
        of the connection. ``events`` is passed on to ``Decoder.feed``.
        """
        if self._done:
            return False
        try:
            if self._chunks is None:
                # Looked up now, not at import, so that tests can switch backends.
                self._decoder = backend.impl.Decoder()
                self._chunks = body_chunks(self._raw_stream)
            feed = self._decoder.feed
            for chunk in self._chunks:
                messages = feed(chunk, events)
                if messages:
                    self.batch = iter(messages)
                    return True
            self._decoder.close()
        except BaseException as error:
            end_with(self, error)
        self._done = True
        return False

    def batches(self, events: Optional[Dict[str, Optional[str]]] = None) -> Iterator[Iterator[Any]]:
        """``batch``, then each next one, for a loop that drains them; new
        batches are decoded with ``feed(chunk, events)``.

        The same as calling :meth:`next_batch` after each batch, minus a method
        call per chunk: with one message per chunk (tokens arriving one by
        one) that call would cost as much as decoding the message.
        """
        chunks: Any = None
        feed: Any = None
        while True:
            batch = self.batch
            yield batch
            if self.batch is not batch:
                continue  # another reader (get_initial_response) fetched the next batch
            if feed is None or self._done:  # not reading yet, or over
                if not self.next_batch(events):
                    return
                chunks, feed = self._chunks, self._decoder.feed
                continue
            try:
                for chunk in chunks:
                    messages = feed(chunk, events)
                    if messages:
                        break
                else:
                    messages = None
            except BaseException as error:
                end_with(self, error)
            if messages is None:  # the end: next_batch() checks for a cut-off message
                if not self.next_batch(events):
                    return
                continue
            self.batch = iter(messages)

    def __iter__(self) -> RawEvents:
        return self

    def __next__(self) -> Any:
        while True:
            for message in self.batch:
                return botocore_message(message)
            if not self.next_batch():
                raise StopIteration


# --- turning messages into events --------------------------------------------


def events(stream: Any, raw: RawEvents) -> Iterator[Dict[str, Any]]:
    """Iterate ``stream``'s events as botocore's ``EventStream.__iter__`` does, from ``raw``."""
    parse_event = stream._parse_event
    table = table_for(stream._output_shape, stream._parser) if _stock_parse_event(stream) else None
    if table is None:
        for batch in raw.batches():
            for message in batch:
                parsed = parse_event(botocore_message(message))
                if parsed:
                    yield parsed
        return
    get = table.get
    for batch in raw.batches(blob_events(stream._output_shape)):
        for message in batch:
            if message.__class__ is dict:  # shaped by the codec: the common case, inline
                yield message
                continue
            event = converted(message, get)
            if event is BOTOCORE_PARSES:
                event = parse_event(botocore_message(message))  # raises EventStreamError for errors
            if event:
                yield event


#: What :func:`converted` returns for a message only botocore's parser handles.
BOTOCORE_PARSES: Any = object()


def converted(message: Any, get: Callable[[Any], Any]) -> Any:
    """The event a decoded message makes through the converter table's ``get``:
    a dict, None for an event type botocore skips (it parses an unknown type
    to {} and drops it), or :data:`BOTOCORE_PARSES` for an error or exception
    message (botocore raises EventStreamError) and a body no converter reads."""
    kind = message.message_type
    # "event" first: one comparison for nearly every message.
    if kind != "event" and (kind == "error" or kind == "exception"):
        return BOTOCORE_PARSES
    event_type = message.event_type
    convert = get(event_type)
    if convert.__class__ is str:
        return {event_type: {convert: message.payload}}
    if convert is None:
        return None
    inner = convert(message.headers, message.payload)
    return BOTOCORE_PARSES if inner is None else {event_type: inner}


def _stock_parse_event(stream: Any) -> bool:
    return getattr(type(stream), "_parse_event", None) in STOCK_PARSE_EVENT


#: ``_parse_event`` implementations that return the parser's dict for a 200
#: event and raise EventStreamError otherwise (aiobotocore's registers itself).
STOCK_PARSE_EVENT = {getattr(bes.EventStream, "_parse_event", None)}


#: ``feed``'s ``events`` for payload_parts: a PayloadPart comes back as its bytes.
PAYLOAD_PART_BYTES = {"PayloadPart": None}


def payload_of(message: Any, parse_event: Callable[[Any], Any]) -> Optional[bytes]:
    """The PayloadPart bytes of a decoded message the codec did not shape:
    None for other event types; an error or exception message raises
    EventStreamError through botocore's own ``parse_event``."""
    kind = message.message_type
    if kind != "event" and (kind == "error" or kind == "exception"):
        parse_event(botocore_message(message))  # raises EventStreamError
    elif message.event_type == "PayloadPart":
        return message.payload
    return None


def _payload_parts(stream: Any, raw: RawEvents) -> Iterator[bytes]:
    # It reads the chunks itself rather than through raw.batches(): with a
    # token per chunk, a generator fewer per token is a quarter of the cost.
    # raw.batch still holds what is decoded and not yet handed out, so that a
    # get_initial_response() in between finds its place as with batches().
    parse_event = stream._parse_event
    events = PAYLOAD_PART_BYTES
    while True:
        for message in raw.batch:
            part = message if message.__class__ is bytes else payload_of(message, parse_event)
            if part is not None:
                yield part
        if raw._decoder is None or raw._done:  # not reading yet, or over
            if not raw.next_batch(events):
                return
            continue
        feed = raw._decoder.feed
        try:
            for chunk in raw._chunks:
                raw.batch = batch = iter(feed(chunk, events))
                for message in batch:
                    if message.__class__ is bytes:  # the common case, inline
                        yield message
                        continue
                    part = payload_of(message, parse_event)
                    if part is not None:
                        yield part
        except BaseException as error:
            end_with(raw, error)
        if not raw.next_batch(events):  # the end: a cut-off message raises here
            return


# --- the methods install() puts on EventStream -------------------------------


def _create_raw_event_generator(self: Any) -> RawEvents:
    return RawEvents(self._raw_stream)


def _iter(self: Any) -> Iterator[Dict[str, Any]]:
    raw = self._event_generator
    if type(raw) is RawEvents:
        return events(self, raw)
    # A stream made before install() keeps botocore's generator and code.
    return _STOCK_ITER(self)


_STOCK_ITER = getattr(bes.EventStream, "__iter__", None)


# --- wrap() and payload_parts() ------------------------------------------------


def adopt(stream: Any, raw_type: type, recognised: Callable[[], bool]) -> Any:
    """The fastsmr message source of ``stream``, swapped in if botocore's was not started.

    Returns None when botocore's generator already read from the response
    (the json protocol reads the initial response while parsing the call):
    its buffered bytes cannot be taken over, so the stream stays botocore's.
    """
    source = getattr(stream, "_event_generator", None)
    if type(source) is raw_type:
        return source
    if not_started(source) and recognised():
        raw = raw_type(stream._raw_stream)
        stream._event_generator = raw
        return raw
    return None


def not_started(source: Any) -> bool:
    if inspect.isgenerator(source):
        return inspect.getgeneratorstate(source) == inspect.GEN_CREATED
    if inspect.isasyncgen(source):
        state = getattr(inspect, "getasyncgenstate", None)
        if state is not None:
            return state(source) == "AGEN_CREATED"
        frame = source.ag_frame  # Python < 3.12: f_lasti is -1 (0 on 3.11) before the start
        return frame is not None and not source.ag_running and frame.f_lasti <= 0
    return False


class WrappedEventStream:
    """One ``EventStream`` decoding with fastsmr, botocore left untouched.

    Iterates like the stream, with ``get_initial_response()`` and ``close()``;
    other attributes are the stream's.
    """

    __slots__ = ("_stream", "_raw")

    def __init__(self, stream: Any, raw: RawEvents) -> None:
        self._stream = stream
        self._raw = raw

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        return events(self._stream, self._raw)

    def get_initial_response(self) -> Any:
        """The ``initial-response`` message, as ``EventStream.get_initial_response``."""
        return self._stream.get_initial_response()

    def close(self) -> None:
        """Close the underlying response."""
        self._stream.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __repr__(self) -> str:
        return f"<fastsmr.wrap of {self._stream!r}>"


def unwrap(stream: Any) -> Any:
    while isinstance(stream, WrappedEventStream):
        stream = stream._stream
    return stream


def is_async(stream: Any) -> bool:
    return hasattr(type(stream), "__aiter__")


def wrap(event_stream: Any) -> Any:
    """``event_stream`` (a ``response[...]`` EventStream) decoding with fastsmr, botocore untouched.

    aiobotocore streams get the async twin. A stream botocore already started
    reading is returned unchanged (see :func:`adopt`).

    >>> import fastsmr
    >>> class Body:
    ...     def stream(self):
    ...         yield fastsmr.encode({":event-type": "initial-response"}, b"{}")
    ...     def close(self):
    ...         pass
    >>> import botocore.eventstream
    >>> stream = fastsmr.wrap(botocore.eventstream.EventStream(Body(), None, None, "Op"))
    >>> stream.get_initial_response().payload
    b'{}'
    """
    stream = unwrap(event_stream)
    if is_async(stream):
        from . import aio as _aiobotocore

        return _aiobotocore.wrap(stream)
    raw = adopt(stream, RawEvents, _recognised)
    if raw is None:
        return event_stream
    return WrappedEventStream(stream, raw)


def payload_parts(body: Any) -> Iterator[bytes]:
    """The bytes of each ``PayloadPart`` of a SageMaker Runtime response stream.

    ``body`` is ``response["Body"]`` of ``invoke_endpoint_with_response_stream``.
    A ``ModelStreamError`` or ``InternalStreamFailure`` raises the
    ``botocore.exceptions.EventStreamError`` botocore raises.

    >>> import fastsmr
    >>> def answer(client, **request):
    ...     body = client.invoke_endpoint_with_response_stream(**request)["Body"]
    ...     return b"".join(fastsmr.payload_parts(body))
    """
    stream = unwrap(body)
    if is_async(stream):
        raise TypeError("an aiobotocore stream: use fastsmr.aio.payload_parts()")
    member = payload_member(getattr(stream, "_output_shape", None))
    if member is None:
        raise TypeError(
            "payload_parts() takes the Body of invoke_endpoint_with_response_stream "
            "(a stream of PayloadPart events); iterate this stream instead"
        )
    raw = adopt(stream, RawEvents, _recognised)
    if raw is None:
        return (event["PayloadPart"][member] for event in stream if "PayloadPart" in event)
    return _payload_parts(stream, raw)


# --- install() -----------------------------------------------------------------

_LOCK = threading.Lock()
_MISSING = object()
# class -> {attribute: what the class itself held before install(), or _MISSING}
_ORIGINALS: Dict[type, Dict[str, Any]] = {}
_warned = False
_recognised_result: Optional[List[str]] = None


def _parameters(function: Any) -> Optional[List[str]]:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return None


def check_signatures(cls: Any, expected: Dict[str, List[str]]) -> List[str]:
    """What differs between ``cls``'s methods and the parameter lists fastsmr relies on."""
    problems = []
    for name, parameters in expected.items():
        function = getattr(cls, name, None)
        found = _parameters(function) if callable(function) else None
        if found != parameters:
            problems.append(f"{cls.__name__}.{name}{tuple(found) if found else ' missing'}")
    return problems


class _Probe:
    """A raw stream of one message, to watch botocore's generator read it."""

    def __init__(self, wire: bytes) -> None:
        self.wire = wire

    def stream(self) -> Iterator[bytes]:
        yield self.wire[:5]
        yield self.wire[5:]

    def close(self) -> None:
        pass


PROBE_HEADERS = {":message-type": "event", ":event-type": "Probe"}
PROBE_WIRE = encode(PROBE_HEADERS, b"probe")
STREAM_ATTRIBUTES = ("_raw_stream", "_output_shape", "_parser", "_operation_name", "_event_generator")


def _problems() -> List[str]:
    """Why botocore's event-stream internals are not the ones fastsmr replaces, if they are not."""
    names = ("EventStream", "EventStreamMessage", "MessagePrelude", "ParserError", "ChecksumMismatch",
             "InvalidHeadersLength", "InvalidPayloadLength", "DuplicateHeader", "NoInitialResponseError")
    missing = [name for name in names if not isinstance(getattr(bes, name, None), type)]
    if missing:
        return [f"botocore.eventstream lacks {', '.join(missing)}"]
    if not isinstance(getattr(botocore.exceptions, "EventStreamError", None), type):
        return ["botocore.exceptions lacks EventStreamError"]
    problems = check_signatures(bes.EventStream, {
        "__init__": ["self", "raw_stream", "output_shape", "parser", "operation_name"],
        "_create_raw_event_generator": ["self"],
        "__iter__": ["self"],
        "_parse_event": ["self", "event"],
        "get_initial_response": ["self"],
        "close": ["self"],
    })
    problems += check_signatures(bes.EventStreamMessage, {
        "__init__": ["self", "prelude", "headers", "payload", "crc"],
        "to_response_dict": ["self", "status_code"],
    })
    problems += check_signatures(bes.MessagePrelude, {"__init__": ["self", "total_length", "headers_length", "crc"]})
    if problems:
        return problems
    # Watch the generator at work: it must read raw_stream.stream() and build
    # the message objects fastsmr builds.
    try:
        stream = bes.EventStream(_Probe(PROBE_WIRE), None, None, "Probe")
        absent = [name for name in STREAM_ATTRIBUTES if name not in vars(stream)]
        if absent:
            return [f"EventStream instances lack {', '.join(absent)}"]
        seen = list(stream._event_generator)
        if len(seen) != 1 or seen[0].headers != PROBE_HEADERS or seen[0].payload != b"probe":
            return ["EventStream's generator did not yield the probe message"]
        mine = botocore_message(backend.impl.decode(PROBE_WIRE)[0])
        if vars(mine.prelude) != vars(seen[0].prelude) or mine.to_response_dict() != seen[0].to_response_dict():
            return ["EventStreamMessage differs from the one fastsmr builds"]
    except Exception as error:  # any surprise means: not the botocore we know
        return [f"probing EventStream raised {error!r}"]
    # EventStreamBuffer and the event parsers, for code that decodes without EventStream
    from . import buffer, parsing

    return buffer.problems() + parsing.problems()


def _recognised() -> bool:
    """Whether botocore is the one fastsmr knows (checked once; warns once if not)."""
    global _recognised_result
    if _recognised_result is None:
        _recognised_result = _problems()
        if _recognised_result:
            warn_unrecognised("botocore", _recognised_result)
    return not _recognised_result


def warn_unrecognised(what: str, problems: List[str]) -> None:
    """Warn, once per process, that fastsmr leaves ``what`` stock."""
    global _warned
    if _warned:
        return
    _warned = True
    version = sys.modules.get(what.split(".")[0])
    version = getattr(version, "__version__", "?")
    warnings.warn(
        f"fastsmr does not recognise the internals of {what} {version} "
        f"({'; '.join(problems)}); it leaves {what} stock. Please report this to fastsmr.",
        BotocoreCompatibilityWarning,
        stacklevel=5,
    )


def _patch(patches: List[Tuple[type, Dict[str, Any]]]) -> None:
    for cls, attributes in patches:
        saved = _ORIGINALS.setdefault(cls, {})
        for name, value in attributes.items():
            saved[name] = cls.__dict__.get(name, _MISSING)
            setattr(cls, name, value)


def install() -> bool:
    """Make every botocore (and aiobotocore) event stream decode with fastsmr; see fastsmr.install."""
    with _LOCK:
        if _ORIGINALS:
            return True
        if not _recognised():
            return False
        from . import buffer, parsing

        patches: List[Tuple[type, Dict[str, Any]]] = [
            (bes.EventStream, {"_create_raw_event_generator": _create_raw_event_generator, "__iter__": _iter})
        ]
        patches += buffer.patches() + parsing.patches()
        aio = _aio_module()
        if aio is not None:
            patches += aio.patches()
        _patch(patches)
        return True


def _aio_module() -> Any:
    """fastsmr's aiobotocore half if aiobotocore is installed and recognised, else None."""
    try:
        import aiobotocore.eventstream  # noqa: F401  (only to learn it is there)
    except ImportError:
        return None
    except Exception as error:  # a broken aiobotocore must not break install()
        warn_unrecognised("aiobotocore", [f"importing it raised {error!r}"])
        return None
    from . import aio as _aiobotocore

    return _aiobotocore if _aiobotocore.recognised() else None


def uninstall() -> None:
    """Give botocore back its own methods, exactly as they were; see fastsmr.uninstall."""
    with _LOCK:
        for cls, saved in _ORIGINALS.items():
            for name, value in saved.items():
                if value is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, value)
        _ORIGINALS.clear()


def is_installed() -> bool:
    """Whether install() is in effect; see fastsmr.is_installed."""
    return bool(_ORIGINALS)

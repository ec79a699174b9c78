"""The aiobotocore half of the drop-in: ``AioEventStream`` decoding with fastsmr.

aiobotocore's ``AioEventStream`` subclasses botocore's ``EventStream`` with an
async generator over ``raw_stream.content.iter_chunks()`` and an async
``_parse_event``; fastsmr reads the same body with ``readany`` (see
:func:`body_reader`). ``install()`` replaces its ``_create_raw_event_generator``
(an :class:`AioRawEvents` takes the generator's place) and ``__aiter__``; the
converters, error translation and message objects are the sync half's.
"""

from __future__ import annotations

import inspect
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Tuple

import aiobotocore.eventstream as aes
from aiohttp import StreamReader

from ..codec import backend

from . import shapes as _eventshapes, sync as _botocore
from .sync import BOTOCORE_PARSES, botocore_message, converted, end_with
from .shapes import blob_events, payload_member, table_for

__all__ = ["AioRawEvents", "AioWrappedEventStream", "events", "payload_parts", "wrap", "patches", "recognised"]

_AioEventStream = getattr(aes, "AioEventStream", None)

if _AioEventStream is not None:
    _botocore.STOCK_PARSE_EVENT.add(getattr(_AioEventStream, "_parse_event", None))
try:
    from aiobotocore.parsers import AioResponseParser as _AioResponseParser
except ImportError:  # then aiobotocore's parsers get no converter table
    pass
else:
    _eventshapes.KNOWN_PARSE_METHODS.add(getattr(_AioResponseParser, "parse", None))


class AioRawEvents:
    """The messages of one aiobotocore response, decoded by fastsmr (the async :class:`RawEvents`)."""

    __slots__ = ("_raw_stream", "_chunks", "_decoder", "batch", "_done")

    def __init__(self, raw_stream: Any) -> None:
        self._raw_stream = raw_stream
        self._chunks: Any = None
        self._decoder: Any = None
        self.batch: Any = iter(())
        self._done = False

    async def next_batch(self, events: Optional[Dict[str, Optional[str]]] = None) -> bool:
        """Read chunks until some messages are decoded into ``batch``; False at the end of the stream."""
        if self._done:
            return False
        try:
            if self._chunks is None:
                self._decoder = backend.impl.Decoder()
                self._chunks = body_reader(self._raw_stream.content)
            feed = self._decoder.feed
            read = self._chunks
            while True:
                chunk = await read()
                if not chunk:
                    break
                messages = feed(chunk, events)
                if messages:
                    self.batch = iter(messages)
                    return True
            self._decoder.close()
        except BaseException as error:
            end_with(self, error)
        self._done = True
        return False

    async def batches(self, events: Optional[Dict[str, Optional[str]]] = None) -> AsyncIterator[Any]:
        """``batch``, then each next one (see :meth:`RawEvents.batches`)."""
        read: Any = None
        feed: Any = None
        while True:
            batch = self.batch
            yield batch
            if self.batch is not batch:
                continue  # another reader (get_initial_response) fetched the next batch
            if feed is None or self._done:
                if not await self.next_batch(events):
                    return
                read, feed = self._chunks, self._decoder.feed
                continue
            try:
                while True:
                    chunk = await read()
                    if not chunk:
                        messages = None
                        break
                    messages = feed(chunk, events)
                    if messages:
                        break
            except BaseException as error:
                end_with(self, error)
            if messages is None:  # the end: next_batch() checks for a cut-off message
                if not await self.next_batch(events):
                    return
                continue
            self.batch = iter(messages)

    def __aiter__(self) -> AioRawEvents:
        return self

    async def __anext__(self) -> Any:
        while True:
            for message in self.batch:
                return botocore_message(message)
            if not await self.next_batch():
                raise StopAsyncIteration


def body_reader(content: Any) -> Callable[[], Awaitable[bytes]]:
    """What reads the body in ``content`` (an aiohttp response's): an async
    call returning the next bytes, b"" at the end.

    aiohttp hands a chunked body to its ``StreamReader`` a chunk at a time;
    ``readany`` takes everything that has arrived in one step, where
    ``iter_chunks`` (aiobotocore's way) takes a step per chunk: with a token
    per chunk, those steps cost more than decoding the tokens. Any other
    ``content`` is read through its ``iter_chunks``.
    """
    if isinstance(content, StreamReader):
        return content.readany
    chunks = content.iter_chunks().__aiter__()

    async def next_chunk() -> bytes:
        async for chunk, _ in chunks:
            if chunk:  # an empty chunk marks a chunk end, not the body's
                return chunk
        return b""

    return next_chunk


async def _parsed(parse_event: Any, message: Any) -> Any:
    """``_parse_event`` of a botocore message (older aiobotocore has it synchronous)."""
    parsed = parse_event(botocore_message(message))
    if inspect.isawaitable(parsed):
        parsed = await parsed
    return parsed


async def events(stream: Any, raw: AioRawEvents) -> AsyncIterator[Dict[str, Any]]:
    """Iterate ``stream``'s events as aiobotocore's ``AioEventStream`` does, from ``raw``."""
    parse_event = stream._parse_event
    table = None
    if getattr(type(stream), "_parse_event", None) in _botocore.STOCK_PARSE_EVENT:
        table = table_for(stream._output_shape, stream._parser)
    if table is None:
        async for batch in raw.batches():
            for message in batch:
                parsed = await _parsed(parse_event, message)
                if parsed:
                    yield parsed
        return
    get = table.get
    async for batch in raw.batches(blob_events(stream._output_shape)):
        for message in batch:
            if message.__class__ is dict:  # shaped by the codec: the common case, inline
                yield message
                continue
            event = converted(message, get)
            if event is BOTOCORE_PARSES:
                event = await _parsed(parse_event, message)  # raises EventStreamError for errors
            if event:
                yield event


async def _payload_parts(stream: Any, raw: AioRawEvents) -> AsyncIterator[bytes]:
    parse_event = stream._parse_event
    async for batch in raw.batches(_botocore.PAYLOAD_PART_BYTES):
        for message in batch:
            if message.__class__ is bytes:
                yield message
                continue
            kind = message.message_type
            if kind != "event" and (kind == "error" or kind == "exception"):
                await _parsed(parse_event, message)  # raises EventStreamError
            elif message.event_type == "PayloadPart":
                yield message.payload


async def _stock_payload_parts(stream: Any, member: str) -> AsyncIterator[bytes]:
    async for event in stream:
        if "PayloadPart" in event:
            yield event["PayloadPart"][member]


def payload_parts(body: Any) -> AsyncIterator[bytes]:
    """Async :func:`fastsmr.payload_parts` for aiobotocore (see :func:`fastsmr.aio.payload_parts`)."""
    stream = _botocore.unwrap(body)
    if not _botocore.is_async(stream):
        raise TypeError("a botocore (sync) stream: use fastsmr.payload_parts()")
    member = payload_member(getattr(stream, "_output_shape", None))
    if member is None:
        raise TypeError(
            "payload_parts() takes the Body of invoke_endpoint_with_response_stream "
            "(a stream of PayloadPart events); iterate this stream instead"
        )
    raw = _botocore.adopt(stream, AioRawEvents, recognised)
    if raw is None:
        return _stock_payload_parts(stream, member)
    return _payload_parts(stream, raw)


class AioWrappedEventStream(_botocore.WrappedEventStream):
    """One ``AioEventStream`` decoding with fastsmr: ``async for``, ``get_initial_response()``, ``close()``."""

    __slots__ = ()

    def __iter__(self) -> Any:
        raise NotImplementedError("Use async-for instead")

    def __aiter__(self) -> AsyncIterator[Dict[str, Any]]:
        return events(self._stream, self._raw)

    async def get_initial_response(self) -> Any:
        """The ``initial-response`` message, as ``AioEventStream.get_initial_response``."""
        return await self._stream.get_initial_response()


def wrap(stream: Any) -> Any:
    """Async :func:`fastsmr.wrap` (``fastsmr.wrap`` dispatches here for aiobotocore streams)."""
    raw = _botocore.adopt(stream, AioRawEvents, recognised)
    if raw is None:
        return stream
    return AioWrappedEventStream(stream, raw)


# --- install() -----------------------------------------------------------------


def _create_raw_event_generator(self: Any) -> AioRawEvents:
    return AioRawEvents(self._raw_stream)


def _aiter(self: Any) -> AsyncIterator[Dict[str, Any]]:
    raw = self._event_generator
    if type(raw) is AioRawEvents:
        return events(self, raw)
    return _STOCK_AITER(self)  # a stream made before install()


_STOCK_AITER = getattr(_AioEventStream, "__aiter__", None)


def patches() -> List[Tuple[type, Dict[str, Any]]]:
    """What install() sets on ``AioEventStream``."""
    return [(_AioEventStream, {"_create_raw_event_generator": _create_raw_event_generator, "__aiter__": _aiter})]


class _Content:
    def __init__(self, wire: bytes) -> None:
        self.wire = wire

    async def iter_chunks(self) -> AsyncIterator[Tuple[bytes, bool]]:
        yield self.wire[:5], False
        yield self.wire[5:], True


class _Probe:
    """An aiohttp-like response of one message, to watch aiobotocore's generator read it."""

    def __init__(self, wire: bytes) -> None:
        self.content = _Content(wire)

    def close(self) -> None:
        pass


def _drain(generator: Any) -> List[Any]:
    """Run an async generator that never waits, without an event loop (install() may run in one)."""

    async def collect() -> List[Any]:
        return [item async for item in generator]

    coroutine = collect()
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("the probe stream waited")


def _problems() -> List[str]:
    cls = _AioEventStream
    if not (isinstance(cls, type) and issubclass(cls, _botocore.bes.EventStream)):
        return ["aiobotocore.eventstream lacks AioEventStream(EventStream)"]
    problems = _botocore.check_signatures(cls, {
        "_create_raw_event_generator": ["self"],
        "__aiter__": ["self"],
        "_parse_event": ["self", "event"],
        "get_initial_response": ["self"],
    })
    if problems:
        return problems
    if not inspect.isasyncgenfunction(cls._create_raw_event_generator):
        return ["AioEventStream._create_raw_event_generator is not an async generator"]
    try:
        stream = cls(_Probe(_botocore.PROBE_WIRE), None, None, "Probe")
        absent = [name for name in _botocore.STREAM_ATTRIBUTES if name not in vars(stream)]
        if absent:
            return [f"AioEventStream instances lack {', '.join(absent)}"]
        seen = _drain(stream._event_generator)
        if len(seen) != 1 or seen[0].headers != _botocore.PROBE_HEADERS or seen[0].payload != b"probe":
            return ["AioEventStream's generator did not yield the probe message"]
    except Exception as error:  # any surprise means: not the aiobotocore we know
        return [f"probing AioEventStream raised {error!r}"]
    return []


_problems_found: Any = None


def recognised() -> bool:
    """Whether aiobotocore is the one fastsmr knows (checked once; warns once if not)."""
    global _problems_found
    if _problems_found is None:
        _problems_found = _problems() if _botocore._recognised() else ["botocore is not recognised"]
        if _problems_found:
            _botocore.warn_unrecognised("aiobotocore", _problems_found)
    return not _problems_found

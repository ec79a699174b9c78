"""The aiobotocore readers: the async shell that reads a response body and feeds its core.

aiobotocore's ``AioEventStream`` subclasses botocore's ``EventStream`` with an
async generator over ``raw_stream.content.iter_chunks()`` and an async
``_parse_event``. ``install()`` replaces its ``_create_raw_event_generator``
and ``__aiter__`` (:func:`patches`); ``wrap()`` and ``payload_parts()`` take
over one stream the same way. In the generator's place goes an
:class:`AioMessageSource`: the response's
:class:`~fastsmr.boto.core.ResponseCore` and :meth:`AioMessageSource.read`,
the only code that reads the body: a chunked body is taken off aiohttp
(:mod:`fastsmr.boto.aiohttp_body`: the transport's bytes go to the codec,
the consumer is woken once per batch of messages); any other is read with
aiohttp's ``readany`` (everything that has arrived, where ``iter_chunks``
takes a step per HTTP chunk).

As in :mod:`fastsmr.boto.sync`, the stream ends only when the body does: at
its last byte, or when reading or decoding raises — then the response is
closed at once. A consumer leaving its loop, or a task cancelled while it
waits for bytes, changes nothing: the next reader goes on where it stopped.
A second task reading while one waits for bytes gets a RuntimeError (as
aiobotocore's generator raises) and the first reads on.
"""

from __future__ import annotations

import inspect
from asyncio import CancelledError
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Dict, List, Tuple, cast

import aiobotocore.eventstream as aes
import botocore.parsers as bp
from aiohttp import StreamReader

from .aiohttp_body import take_body
from .compat import aiobotocore_recognised
from .core import BOTOCORE_PARSES, EventPlan, ResponseCore, botocore_message, event_of, event_plan, part_of
from .streams import Wrapped, adopt, is_async, unwrap

__all__ = ["AioMessageSource", "body_reader", "events", "payload_parts", "wrap", "patches"]

_AioEventStream = getattr(aes, "AioEventStream", None)
_STOCK_PARSE_EVENT = getattr(_AioEventStream, "_parse_event", None)
if TYPE_CHECKING:
    from aiobotocore.parsers import AioResponseParser as _AioResponseParser
else:
    try:
        from aiobotocore.parsers import AioResponseParser as _AioResponseParser
    except ImportError:  # an aiobotocore whose clients use botocore's parsers
        _AioResponseParser = bp.ResponseParser
_STOCK_PARSE = getattr(_AioResponseParser, "parse", None)

_BUSY = (
    "another consumer is already reading this event stream (one stream takes one reader at a time; "
    "the reader waiting for data reads on)"
)


class AioMessageSource:
    """The messages of one aiobotocore response, decoded by fastsmr (the async :class:`~fastsmr.boto.sync.MessageSource`).

    ``async for`` gives ``botocore.eventstream.EventStreamMessage`` objects,
    for aiobotocore's code; fastsmr's readers take ``core.pending`` directly
    and, once it is used up, say so in ``core.drained`` and await :meth:`read`.
    """

    __slots__ = ("core", "_raw_stream", "_read", "_reading")

    def __init__(self, raw_stream: Any) -> None:
        self.core = ResponseCore()
        self._raw_stream = raw_stream
        self._read: Any = None
        self._reading = False

    async def read(self) -> bool:
        """Decode the next messages into ``core.pending``: False at the end of the stream.

        The caller has used up ``core.drained``; if that is not the newest
        batch, True at once. Raises what ended the stream (a decode error as
        its botocore-compatible twin), once.
        """
        core = self.core
        if core.drained is not core.pending:  # the caller used up an older batch: take the newer one first
            return True
        if core.done:
            return False
        if self._reading:
            raise RuntimeError(_BUSY)
        self._reading = True
        try:
            read = self._read
            if read is None:
                taken = take_body(self._raw_stream, core)
                if taken is not None:  # off aiohttp: the transport's bytes go to the codec
                    read = self._read = taken.next_batch
                else:
                    read = self._read = _batches(body_reader(self._raw_stream.content), core)
            batch = await read()
            if batch is None:
                core.finish()
                return False
            core.pending = iter(batch)
            return True
        except (GeneratorExit, CancelledError):  # the consumer left: the stream goes on
            raise
        except BaseException as error:
            close = getattr(self._raw_stream, "close", None)
            if close is not None:
                close()  # aiohttp's response: the connection is closed now, not when the response is collected
            raise core.fail(error) from None
        finally:
            self._reading = False

    def __aiter__(self) -> AioMessageSource:
        return self

    async def __anext__(self) -> Any:
        core = self.core
        while True:
            pending = core.pending
            for item in pending:
                return botocore_message(item)
            core.drained = pending
            if not await self.read():
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
    chunks: AsyncIterator[Tuple[bytes, bool]] = content.iter_chunks().__aiter__()

    async def next_chunk() -> bytes:
        async for chunk, _ in chunks:
            if chunk:  # an empty chunk marks a chunk end, not the body's
                return chunk
        return b""

    return next_chunk


def _batches(read: Callable[[], Awaitable[bytes]], core: ResponseCore) -> Callable[[], Awaitable[Any]]:
    """What reads the next batch of messages from ``read`` (see :func:`body_reader`): None at the end."""
    feed = core.decoder().feed

    async def next_batch() -> Any:
        while True:
            chunk = await read()
            if not chunk:
                return None
            batch = feed(chunk, core.events)
            if batch:
                return batch

    return next_batch


async def _parsed(parse_event: Any, item: Any) -> Any:
    """``_parse_event`` of an item as a botocore message (older aiobotocore has it synchronous)."""
    parsed = parse_event(botocore_message(item))
    if inspect.isawaitable(parsed):
        parsed = await parsed
    return parsed


# --- readers ----------------------------------------------------------------------


async def events(stream: Any, source: AioMessageSource) -> AsyncIterator[Dict[str, Any]]:
    """Iterate ``stream``'s events as aiobotocore's ``AioEventStream`` does, from ``source``."""
    core = source.core
    read = source.read
    parse_event = stream._parse_event
    plan = event_plan(stream, _STOCK_PARSE_EVENT, _STOCK_PARSE)
    if plan.get is None:
        while True:
            pending = core.pending
            for item in pending:
                parsed = await _parsed(parse_event, item)
                if parsed:
                    yield parsed
            core.drained, core.events = pending, None
            if not await read():
                return
    get, member, mapping = plan.get, plan.member, plan.events
    while True:
        pending = core.pending
        for item in pending:
            if item.__class__ is dict:  # shaped by the codec: the common case, inline
                yield item
                continue
            event = event_of(item, get, member)
            if event is BOTOCORE_PARSES:
                event = await _parsed(parse_event, item)  # raises EventStreamError for errors
            if event:
                yield event
        core.drained, core.events = pending, mapping
        if not await read():
            return


async def _payload_parts(stream: Any, source: AioMessageSource, plan: EventPlan) -> AsyncIterator[bytes]:
    core = source.core
    read = source.read
    parse_event = stream._parse_event
    mapping = plan.parts
    while True:
        pending = core.pending
        for item in pending:
            if item.__class__ is bytes:  # the common case, inline
                yield item
                continue
            part = part_of(item)
            if part is BOTOCORE_PARSES:
                await _parsed(parse_event, item)  # raises EventStreamError
            elif part is not None:
                yield part
        core.drained, core.events = pending, mapping
        if not await read():
            return


async def _stock_payload_parts(stream: Any, member: str) -> AsyncIterator[bytes]:
    async for event in stream:
        if "PayloadPart" in event:
            yield event["PayloadPart"][member]


def payload_parts(body: Any) -> AsyncIterator[bytes]:
    """Async :func:`fastsmr.payload_parts` for aiobotocore (see :func:`fastsmr.aio.payload_parts`)."""
    stream = unwrap(body)
    if not is_async(stream):
        raise TypeError("a botocore (sync) stream: use fastsmr.payload_parts()")
    plan = event_plan(stream, _STOCK_PARSE_EVENT, _STOCK_PARSE) if hasattr(stream, "_output_shape") else None
    if plan is None or plan.member is None:
        raise TypeError(
            "payload_parts() takes the Body of invoke_endpoint_with_response_stream "
            "(a stream of PayloadPart events); iterate this stream instead"
        )
    source = adopt(stream, AioMessageSource, aiobotocore_recognised)
    if source is None:
        return _stock_payload_parts(stream, plan.member)
    return _payload_parts(stream, source, plan)


# --- wrap() -------------------------------------------------------------------------


class _AioWrappedEventStream(Wrapped):
    """One ``AioEventStream`` decoding with fastsmr: ``async for``, ``get_initial_response()``, ``close()``.

    Private: what users annotate with is the Protocol
    :class:`fastsmr.boto.AioWrappedEventStream`, which this class meets
    (its name ends in ``EventStream``: the token helpers tell streams by it).
    """

    __slots__ = ()

    def __iter__(self) -> Any:
        raise NotImplementedError("Use async-for instead")

    def __aiter__(self) -> AsyncIterator[Dict[str, Any]]:
        return events(self._stream, self._source)

    async def get_initial_response(self) -> Any:
        """The ``initial-response`` message, as ``AioEventStream.get_initial_response``."""
        return await self._stream.get_initial_response()


if TYPE_CHECKING:  # the checkers hold the class to the Protocol it is documented as
    from . import AioWrappedEventStream

    _MEETS_PROTOCOL: type[AioWrappedEventStream[Dict[str, Any]]] = _AioWrappedEventStream


def wrap(stream: Any) -> Any:
    """Async :func:`fastsmr.wrap` (``fastsmr.wrap`` dispatches here for aiobotocore streams)."""
    source = adopt(stream, AioMessageSource, aiobotocore_recognised)
    if source is None:
        return stream
    return _AioWrappedEventStream(stream, source)


# --- what install() sets on AioEventStream ---------------------------------------------


def _create_raw_event_generator(self: Any) -> AioMessageSource:
    return AioMessageSource(self._raw_stream)


def _aiter(self: Any) -> AsyncIterator[Dict[str, Any]]:
    source = self._event_generator
    if type(source) is AioMessageSource:
        return events(self, source)
    return _STOCK_AITER(self)  # a stream made before install()


# Never None when _aiter runs: install() checks that AioEventStream has its __aiter__ (compat.py).
_STOCK_AITER = cast(Callable[[Any], AsyncIterator[Dict[str, Any]]], getattr(_AioEventStream, "__aiter__", None))


def patches() -> List[Tuple[Any, Dict[str, Any]]]:
    """What install() sets on aiobotocore's ``AioEventStream``."""
    return [(_AioEventStream, {"_create_raw_event_generator": _create_raw_event_generator, "__aiter__": _aiter})]

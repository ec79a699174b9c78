"""Async twins of fastsmr's streaming helpers, for asyncio code (aiobotocore).

Each takes an async iterable of bytes-like chunks and behaves exactly like
its synchronous namesake in :mod:`fastsmr`; both drive the same incremental
parsers, so they cannot drift apart. An aiobotocore (or botocore) event
stream passed as the chunks raises ``TypeError`` at the call, naming the
``payload_parts`` that unwraps it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterable, AsyncIterator

from ._extras import needs
from .tokens.lines import BytesLike, LineSplitter
from .tokens.parts import check_parts
from .tokens.sse import SSEEvent, SSEParser
from .tokens.text import Format, Reasoning, TextDecoder

if TYPE_CHECKING:  # types-aiobotocore types it; at run time aiobotocore is imported on the first call only
    from aiobotocore.eventstream import AioEventStream

__all__ = ["lines", "payload_parts", "sse_events", "text_stream"]


def payload_parts(body: AioEventStream[Any]) -> AsyncIterator[bytes]:
    """Async :func:`fastsmr.payload_parts`: each ``PayloadPart``'s bytes of an aiobotocore stream.

    ``body`` is ``response["Body"]`` of aiobotocore's
    ``invoke_endpoint_with_response_stream``; errors are the ones aiobotocore raises.

    >>> async def answer(client, **request):
    ...     response = await client.invoke_endpoint_with_response_stream(**request)
    ...     return b"".join([part async for part in fastsmr.aio.payload_parts(response["Body"])])
    """
    with needs("fastsmr.aio.payload_parts()", "aio", "aiobotocore", "botocore"):
        from .boto.aio import payload_parts as payload_parts_

    return payload_parts_(body)


def lines(parts: AsyncIterable[BytesLike], *, keepends: bool = False) -> AsyncIterator[bytes]:
    """Async :func:`fastsmr.lines`: the ``\\n``-terminated lines of the chunks.

    >>> async def show(parts):
    ...     async for line in fastsmr.aio.lines(parts):
    ...         print(line)
    """
    check_parts(parts, "aio.lines")
    return _lines(LineSplitter(keepends), parts)


async def _lines(splitter: LineSplitter, parts: AsyncIterable[BytesLike]) -> AsyncIterator[bytes]:
    feed = splitter.feed
    async for part in parts:
        for line in feed(part):
            yield line
    for line in splitter.close():
        yield line


def sse_events(parts: AsyncIterable[BytesLike]) -> AsyncIterator[SSEEvent]:
    """Async :func:`fastsmr.sse_events`: the Server-Sent Events of the chunks.

    >>> async def show(parts):
    ...     async for event in fastsmr.aio.sse_events(parts):
    ...         print(event.event, event.data)
    """
    check_parts(parts, "aio.sse_events")
    return _events(SSEParser(), parts)


async def _events(parser: SSEParser, parts: AsyncIterable[BytesLike]) -> AsyncIterator[SSEEvent]:
    feed = parser.feed
    async for part in parts:
        for event in feed(part):
            yield event
    for event in parser.close():
        yield event


def text_stream(
    parts: AsyncIterable[BytesLike], format: Format = "auto", *, errors: str = "strict", reasoning: Reasoning = "raise"
) -> AsyncIterator[str]:
    """Async :func:`fastsmr.text_stream`: the generated text, token by token.

    >>> async def show(body):
    ...     async for text in fastsmr.aio.text_stream(fastsmr.aio.payload_parts(body)):
    ...         print(text, end="")
    """
    check_parts(parts, "aio.text_stream")
    return _texts(TextDecoder(format, errors, reasoning), parts)  # bad arguments fail here, not at the first next()


async def _texts(decoder: TextDecoder, parts: AsyncIterable[BytesLike]) -> AsyncIterator[str]:
    feed = decoder.feed
    async for part in parts:  # after [DONE], feed() only checks the rest: the stream is drained
        for text in feed(part):
            yield text
    for text in decoder.close():
        yield text

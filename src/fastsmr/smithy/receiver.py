"""The receiving half of an event stream: response body -> events, decoded by fastsmr.

smithy's ``AWSEventReceiver`` reads each message with ``Event.decode_async``:
four awaited reads through an ``AsyncBytesReader`` (whose every read checks
the source against two runtime protocols and re-slices its buffer), then a
pure-Python header parser, then three deserializer objects per event. This
receiver takes the body's chunks as the HTTP client delivers them, decodes all
the messages a chunk completes in one call to the codec (C, or its pure twin),
and reads each through :class:`~fastsmr.smithy.events.EventReader`.

What the caller sees is smithy's: the same event objects, a modeled error
event raised as its exception, ``None`` at the end of the stream, the stream
closed before a decode error propagates, and a failure of the body itself
raised as ``OSError("Failed to read from stream.")`` from it. Bad bytes raise
smithy's classes (see :mod:`fastsmr.smithy.errors`), and so does a body that
ends inside a message, which smithy also refuses.
"""

from __future__ import annotations

from typing import Any, AsyncIterable, Callable, List, Optional, TypeVar

from smithy_aws_event_stream.events import MAX_HEADERS_LENGTH, MAX_PAYLOAD_LENGTH
from smithy_core.aio.interfaces.eventstream import EventReceiver as _EventReceiver
from smithy_core.aio.utils import close as _close
from smithy_core.deserializers import ShapeDeserializer

from ..codec import backend
from ..codec.errors import DecodeError
from .errors import translate
from .events import EventReader, PayloadCodec, stock_reader
from .headers import CONVERTERS
from .json_payload import Unsupported

__all__ = ["EventReceiver"]

E = TypeVar("E")


class EventReceiver(_EventReceiver[E]):  # type: ignore[type-var]
    """Receives the events of one response, as smithy's ``AWSEventReceiver`` does.

    ``body`` is the HTTP response body (an async iterable of bytes, as the
    transports give it); ``deserializer`` is the operation's event
    deserializer. Use it like smithy's receiver: ``await receive()`` (None at
    the end) or ``async for``; ``close()`` closes the body.
    """

    def __init__(
        self,
        payload_codec: Any,
        body: AsyncIterable[bytes],
        deserializer: Callable[[ShapeDeserializer], E],
        is_client_mode: bool = True,
    ) -> None:
        self._codec = PayloadCodec(payload_codec)
        self._body = body
        self._chunks: Any = None
        self._deserializer = deserializer
        self._is_client_mode = is_client_mode
        self._decoder = backend.impl.Decoder(
            max_payload_length=MAX_PAYLOAD_LENGTH,
            max_headers_length=MAX_HEADERS_LENGTH,
            header_converters=CONVERTERS,
        )
        self._ready: List[Any] = []
        self._next = 0
        self._ended = False
        self._closed = False

    async def receive(self) -> Optional[E]:
        """The next event, or None once the stream has ended (or was closed)."""
        if self._closed:
            return None
        while self._next == len(self._ready):
            if self._ended or not await self._fill():
                return None
        message = self._ready[self._next]
        self._ready[self._next] = None  # the caller owns the event from here on
        self._next += 1
        try:
            result = self._deserializer(EventReader(message, self._codec))
        except Unsupported:
            result = self._deserializer(stock_reader(message, self._codec, self._is_client_mode))
        value = getattr(result, "value", None)
        if isinstance(value, Exception):
            raise value
        return result

    async def _fill(self) -> bool:
        """Decode the next chunk; False at the end of the body."""
        try:
            if self._chunks is None:
                self._chunks = self._body.__aiter__()
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            self._ended = True
            try:
                self._decoder.close()
            except DecodeError as error:
                await self.close()
                raise translate(error) from None
            return False
        except Exception as error:
            await self.close()
            raise OSError("Failed to read from stream.") from error
        try:
            self._ready = self._decoder.feed(chunk)
        except DecodeError as error:
            await self.close()
            raise translate(error) from None
        self._next = 0
        return True

    async def close(self) -> None:
        """Close the stream and its body (as smithy closes its source)."""
        if self._closed:
            return
        self._closed = True
        self._ready = []
        self._next = 0
        await _close(self._body)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

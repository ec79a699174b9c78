"""The sending half of an event stream: events -> signed messages, encoded by fastsmr.

smithy's ``AWSEventPublisher`` serializes each event into an ``EventMessage``,
has the SDK's event signer wrap it (SigV4: the encoded message becomes the
payload of a message with ``:date`` and ``:chunk-signature`` headers) and
writes the result; both encodings go through smithy's pure-Python
``EventHeaderEncoder``. This publisher keeps smithy's serializer and leaves
signing to the SDK, but its messages encode with fastsmr's encoder
(:class:`EncodedMessage`), after the checks smithy makes, with smithy's
exceptions: an ``int`` header is 32-bit and ``Byte``, ``Short`` and ``Long``
ask for other widths (``InvalidIntegerValue`` when the value does not fit), a
byte array or string holds at most 32,767 bytes (``InvalidHeaderValueLength``),
the header block at most 128 KiB and the payload 16 MiB, and a timestamp is
``int(value.timestamp() * 1000)`` milliseconds, as smithy computes it.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import Any, Mapping, TypeVar

from smithy_aws_event_stream.events import (
    MAX_HEADER_VALUE_BYTE_LENGTH,
    MAX_HEADERS_LENGTH,
    MAX_PAYLOAD_LENGTH,
    Byte,
    EventMessage,
    Long,
    Short,
)
from smithy_aws_event_stream.exceptions import (
    InvalidHeadersLength,
    InvalidHeaderValue,
    InvalidHeaderValueLength,
    InvalidIntegerValue,
    InvalidPayloadLength,
)
from smithy_core.aio.interfaces.eventstream import EventPublisher as _EventPublisher
from smithy_core.exceptions import ExpectationNotMetError

from ..codec import encoder as codec_encode

__all__ = ["EncodedMessage", "EventPublisher", "encode_message"]

E = TypeVar("E")

# smithy's sized ints -> the codec's, with the range smithy packs them in.
_SIZED = (
    (Byte, codec_encode.Byte, "byte", -(2**7), 2**7),
    (Short, codec_encode.Short, "short", -(2**15), 2**15),
    (Long, codec_encode.Long, "long", -(2**63), 2**63),
)


def _value(value: Any) -> Any:
    """A header value as the codec should encode it, checked as smithy checks it."""
    cls = value.__class__
    if cls is str:
        if len(value) > MAX_HEADER_VALUE_BYTE_LENGTH // 4:
            size = len(value.encode("utf-8"))
            if size > MAX_HEADER_VALUE_BYTE_LENGTH:
                raise InvalidHeaderValueLength(size)
        return value
    # The order of smithy's ``match`` in EventHeaderEncoder.encode_headers.
    if isinstance(value, bool):
        return bool(value)
    for smithy_type, codec_type, name, low, high in _SIZED:
        if isinstance(value, smithy_type):
            if not low <= value < high:
                raise InvalidIntegerValue(name, value)
            return codec_type(value)
    if isinstance(value, int):
        if not -(2**31) <= value < 2**31:
            raise InvalidIntegerValue("integer", value)
        return int(value)
    if isinstance(value, bytes):
        if len(value) > MAX_HEADER_VALUE_BYTE_LENGTH:
            raise InvalidHeaderValueLength(len(value))
        return bytes(value)
    if isinstance(value, str):
        return _value(str(value))
    if isinstance(value, datetime.datetime):
        return codec_encode.Timestamp(int(value.timestamp() * 1000))
    if isinstance(value, uuid.UUID):
        return codec_encode.Uuid(value.bytes)
    raise InvalidHeaderValue(value)


def encode_message(headers: Mapping[str, Any], payload: bytes) -> bytes:
    """The wire bytes smithy's ``EventMessage(headers, payload).encode()`` gives, or its error.

    >>> from smithy_aws_event_stream.events import EventMessage, Short
    >>> headers = {":event-type": "PayloadPart", "n": Short(7)}
    >>> encode_message(headers, b"hi") == EventMessage(headers=headers, payload=b"hi").encode()
    True
    """
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise InvalidPayloadLength(len(payload))
    wire = codec_encode.encode({name: _value(value) for name, value in headers.items()}, payload)
    headers_length = len(wire) - 16 - len(payload)
    if headers_length > MAX_HEADERS_LENGTH:
        raise InvalidHeadersLength(headers_length)
    return wire


class EncodedMessage(EventMessage):
    """smithy's ``EventMessage`` whose ``encode()`` is fastsmr's (the signer calls it too)."""

    def encode(self) -> bytes:
        return encode_message(self.headers, self.payload)


class EventPublisher(_EventPublisher[E]):  # type: ignore[type-var]
    """Sends the events of one request, as smithy's ``AWSEventPublisher`` does.

    It takes over a publisher smithy's protocol built (its writer, serializer
    and signing configuration): ``await send(event)``, ``await close()`` (which
    sends the signed empty message that ends a signed stream).
    """

    def __init__(self, stock: Any) -> None:
        self._writer = stock._writer
        self._signing_config = stock._signing_config
        self._serializer = stock._serializer
        self._closed = False

    async def send(self, event: E) -> None:
        """Serialize, sign (when the stream is signed), encode and write one event."""
        if self._closed:
            raise OSError("Attempted to write to closed stream.")
        event.serialize(self._serializer)  # type: ignore[attr-defined]
        result = self._serializer.get_result()
        if result is None:
            raise ExpectationNotMetError("Expected an event message to be serialized, but was None.")
        result = EncodedMessage(headers=result.headers, payload=result.payload)
        signing = self._signing_config
        if signing is not None:
            identity = await signing.identity_resolver.get_identity(properties=signing.identity_properties)
            result = await signing.signer.sign(event=result, identity=identity, properties=signing.signing_properties)
        encoded = result.encode()
        try:
            await self._writer.write(encoded)
        except Exception as error:
            await self.close()
            raise OSError("Failed to write to stream.") from error

    async def close(self) -> None:
        """End the stream: the signed empty message when signed, then close the writer."""
        if self._closed:
            return
        self._closed = True
        try:
            signing = self._signing_config
            if signing is not None:
                identity = await signing.identity_resolver.get_identity(properties=signing.identity_properties)
                end = await signing.signer.sign_empty(
                    event=EncodedMessage(), identity=identity, properties=signing.signing_properties
                )
                await self._writer.write(end.encode())
        finally:
            close = getattr(self._writer, "close", None)
            if close is not None:
                result = close()
                if asyncio.iscoroutine(result):
                    await result

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

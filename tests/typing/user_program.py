"""A user's program, typed: ``mypy --strict`` and pyright must accept it as written.

It is never run by the suite (it would need AWS); ``.ci/run``'s lint stage
type-checks it, and ``assert_type`` states what the checkers must infer. Its
twin, ``user_errors.py``, holds the mistakes they must report.
"""

from __future__ import annotations

import array
import datetime
import uuid
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator, List, Literal, Optional

import boto3
from aiobotocore.session import get_session
from typing_extensions import assert_type

import fastsmr
import fastsmr.aio
import fastsmr.mux
from fastsmr.boto import AioWrappedEventStream, WrappedEventStream

if TYPE_CHECKING:
    from types_aiobotocore_sagemaker_runtime.type_defs import ResponseStreamTypeDef as AioResponseStream
    from types_boto3_sagemaker_runtime.type_defs import ResponseStreamTypeDef


def decode_everything(chunks: Iterator[bytes]) -> List[bytes]:
    decoder = fastsmr.Decoder(max_payload_length=1 << 20, max_headers_length=4096)
    payloads: List[bytes] = []
    for chunk in chunks:
        messages = decoder.feed(chunk)
        assert_type(messages, List[fastsmr.Message])
        for message in messages:
            assert_type(message.event_type, Optional[str])
            assert_type(message.message_type, Optional[str])
            assert_type(message.payload, bytes)
            assert_type(message.total_length, int)
            payloads.append(message.payload)
    assert_type(decoder.buffered, int)
    decoder.close()
    return payloads


def bytes_like_everywhere() -> None:
    headers = {
        ":event-type": "PayloadPart",
        "n": fastsmr.Short(3),
        "at": datetime.datetime.now(datetime.timezone.utc),
        "id": uuid.uuid4(),
    }
    for payload in (b"hi", bytearray(b"hi"), memoryview(b"hi"), array.array("B", b"hi")):
        wire = fastsmr.encode(headers, payload)
        assert_type(wire, bytes)
        assert_type(fastsmr.decode(memoryview(wire)), List[fastsmr.Message])
        assert_type(fastsmr.crc32(bytearray(wire)), int)


def stream_text() -> Iterator[str]:
    client = boto3.client("sagemaker-runtime")
    response = client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=b'{"inputs": "Hi"}')
    parts = fastsmr.payload_parts(response["Body"])
    assert_type(parts, Iterator[bytes])
    for text in fastsmr.text_stream(parts, "tgi"):
        assert_type(text, str)
        yield text


def wrapped() -> None:
    client = boto3.client("sagemaker-runtime")
    response = client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=b"{}")
    stream = fastsmr.wrap(response["Body"])
    assert_type(stream, WrappedEventStream[ResponseStreamTypeDef])
    for event in stream:
        part = event.get("PayloadPart")
        if part is not None:
            assert_type(part.get("Bytes", b""), bytes)
    stream.close()
    generic: WrappedEventStream[object] = stream  # covariant in the event type
    del generic


def relay_thinking_and_answer() -> None:
    client = boto3.client("sagemaker-runtime")
    response = client.invoke_endpoint_with_response_stream(EndpointName="vllm", Body=b"{}")
    with fastsmr.mux.Reader() as reader:
        stream = reader.add(response["Body"], text="openai", reasoning="include")
        assert_type(stream.reasoning, Literal["raise", "skip", "include"])
        for _, events in reader.batches():
            assert_type(events, Any)


async def stream_text_async() -> AsyncIterator[str]:
    async with get_session().create_client("sagemaker-runtime") as client:
        response = await client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=b"{}")
        body = response["Body"]
        async for text in fastsmr.aio.text_stream(fastsmr.aio.payload_parts(body), format="lmi"):
            yield text
        stream = fastsmr.wrap(body)
        assert_type(stream, AioWrappedEventStream[AioResponseStream])
        async for event in stream:
            if "PayloadPart" in event:
                yield event["PayloadPart"].get("Bytes", b"").decode()


def errors() -> None:
    try:
        fastsmr.decode(b"")
    except fastsmr.ChecksumMismatch as error:
        assert_type(error.expected, int)
        assert_type(error.computed, int)
        assert_type(error.offset, int)
    except fastsmr.TruncatedStreamError as error:
        assert_type(error.remaining, int)
    for event in fastsmr.sse_events([b"data: hi\n\n"]):
        assert_type(event.data, str)
        assert_type(event.retry, Optional[int])
    for line in fastsmr.lines([bytearray(b"a\nb")]):
        assert_type(line, bytes)

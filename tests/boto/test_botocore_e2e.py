"""Real boto3 and aiobotocore clients over HTTP on 127.0.0.1: stock against fastsmr.

SageMaker Runtime calls go to ``fastsmr.testing.StreamingEndpoint`` (with its
fault injection); Bedrock, Lambda, S3 and Kinesis calls go to a loopback
server that streams bytes encoded here. Each call is made stock, under
``fastsmr.install()``, through ``fastsmr.wrap()`` and (SageMaker) through
``fastsmr.payload_parts()``, and everything the caller sees is compared.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Dict, Iterator, List

import boto3
import botocore.eventstream
import botocore.exceptions
import pytest
from botocore.config import Config

import fastsmr
import fastsmr.aio
from support.dropin_models import aio_observe, observe, typed
from support.dropin_server import LoopbackServer
from fastsmr.testing import StreamingEndpoint

CREDENTIALS = {
    "region_name": "us-east-1",
    "aws_access_key_id": "fastsmr-test",
    "aws_secret_access_key": "fastsmr-test",
}
NO_RETRIES = {"retries": {"total_max_attempts": 1}}


@pytest.fixture(autouse=True)
def stock_botocore():
    """Each test starts and ends with botocore stock, whatever ran before it."""
    fastsmr.uninstall()
    yield
    fastsmr.uninstall()


def event(event_type: str, payload: bytes = b"", **headers: Any) -> bytes:
    return fastsmr.encode({":message-type": "event", ":event-type": event_type, **headers}, payload)


def exception(name: str, message: str) -> bytes:
    body = json.dumps({"message": message}).encode()
    return fastsmr.encode(
        {":message-type": "exception", ":exception-type": name, ":content-type": "application/json"}, body
    )


def three_ways(call: Callable[[], Any], body_key: str) -> Dict[str, List[Any]]:
    """The call's stream seen stock, installed and wrapped (fastsmr uninstalled after)."""
    assert not fastsmr.is_installed()
    seen = {
        "stock": observe(iter(call()[body_key])),
        "wrapped": observe(iter(fastsmr.wrap(call()[body_key]))),
    }
    fastsmr.install()
    try:
        seen["installed"] = observe(iter(call()[body_key]))
    finally:
        fastsmr.uninstall()
    return seen


CONVERSE = b"".join([
    event("messageStart", b'{"role":"assistant"}'),
    *(event("contentBlockDelta", json.dumps({"delta": {"text": f" token{i}"}, "contentBlockIndex": 0}).encode())
      for i in range(40)),
    event("contentBlockStop", b'{"contentBlockIndex":0}'),
    event("messageStop", b'{"stopReason":"end_turn"}'),
    event("metadata", b'{"usage":{"inputTokens":3,"outputTokens":40,"totalTokens":43},"metrics":{"latencyMs":12}}'),
])
LAMBDA = b"".join(
    [event("PayloadChunk", b"chunk %d\n" % i) for i in range(30)]
    + [event("InvokeComplete", b'{"ErrorCode":"","LogResult":"bG9n"}')]
)
SELECT = b"".join([
    *(event("Records", b"%d,row\n" % i) for i in range(30)),
    event("Stats", b"<Stats><Details><BytesScanned>30</BytesScanned><BytesProcessed>30</BytesProcessed>"
                   b"<BytesReturned>210</BytesReturned></Details></Stats>"),
    event("Progress", b"<Progress><Details><BytesScanned>30</BytesScanned></Details></Progress>"),
    event("Cont"),
    event("End"),
])
KINESIS = b"".join([
    event("initial-response", b"{}"),
    *(event("SubscribeToShardEvent", json.dumps({
        "Records": [{"SequenceNumber": str(i), "ApproximateArrivalTimestamp": 1.7e9 + i,
                     "Data": "aGVsbG8=", "PartitionKey": "k"}],
        "ContinuationSequenceNumber": str(i), "MillisBehindLatest": 0,
    }).encode()) for i in range(20)),
])

CALLS = {
    "bedrock-runtime.converse_stream": (
        "bedrock-runtime", "stream", CONVERSE,
        lambda client: client.converse_stream(modelId="m", messages=[{"role": "user", "content": [{"text": "Hi"}]}]),
    ),
    "lambda.invoke_with_response_stream": (
        "lambda", "EventStream", LAMBDA, lambda client: client.invoke_with_response_stream(FunctionName="f"),
    ),
    "s3.select_object_content": (
        "s3", "Payload", SELECT,
        lambda client: client.select_object_content(
            Bucket="bucket", Key="key", Expression="SELECT * FROM S3Object", ExpressionType="SQL",
            InputSerialization={"CSV": {}}, OutputSerialization={"CSV": {}},
        ),
    ),
    "kinesis.subscribe_to_shard": (
        "kinesis", "EventStream", KINESIS,
        lambda client: client.subscribe_to_shard(
            ConsumerARN="arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1",
            ShardId="shardId-000000000000", StartingPosition={"Type": "LATEST"},
        ),
    ),
}


# The json protocol reads the initial response while parsing the call, so
# botocore's generator has started: wrap() leaves such a stream as it is
# (install() covers it).
STARTED_BY_BOTOCORE = {"kinesis.subscribe_to_shard"}


def test_wrap_leaves_a_stream_botocore_started_alone(backend, loopback):
    service, key, wire, call = CALLS["kinesis.subscribe_to_shard"]
    loopback.reply(wire)
    stream = call(boto3_client(service, loopback.url))[key]
    assert fastsmr.wrap(stream) is stream
    assert len(list(stream)) == 20


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


def boto3_client(service: str, url: str) -> Any:
    config = Config(**NO_RETRIES, s3={"addressing_style": "path"})
    try:
        return boto3.client(service, endpoint_url=url, config=config, **CREDENTIALS)
    except botocore.exceptions.UnknownServiceError:
        pytest.skip(f"this botocore has no {service}")


def require(client: Any, method: str) -> None:
    if not hasattr(client, method):
        pytest.skip(f"this botocore has no {method}")


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("ending", ["whole", "error-midway", "truncated"])
def test_boto3_streams_equal_stock(backend, loopback, name, ending):
    service, key, wire, call = CALLS[name]
    if ending == "error-midway":
        wire = wire[: len(wire) // 2 // 16 * 16]  # cut anywhere, then a clean exception message
        wire = _whole_messages(wire) + exception("internalServerException", "the model tripped")
    elif ending == "truncated":
        cut = len(wire) // 2 + 7
    client = boto3_client(service, loopback.url)
    require(client, name.split(".")[1])
    for _ in range(3):
        if ending == "truncated":
            loopback.reply(wire, cut=cut, chunk_size=50)
        else:
            loopback.reply(wire, chunk_size=50)
    seen = three_ways(lambda: call(client), key)
    if name in STARTED_BY_BOTOCORE:
        assert seen.pop("wrapped") == seen["stock"]
    if ending == "truncated":
        # botocore drops the bytes of the unfinished message and ends quietly;
        # fastsmr yields the same events, then says what was lost.
        assert seen["installed"][:-1] == seen["stock"]
        for way in set(seen) - {"stock"}:
            assert seen[way][:-1] == seen["stock"]
            _, cls, message, _ = seen[way][-1]
            assert issubclass(cls, botocore.eventstream.ParserError)
            assert issubclass(cls, fastsmr.TruncatedStreamError)
            assert "left over" in message
    else:
        assert seen["installed"] == seen["stock"] == seen.get("wrapped", seen["stock"])
        assert len(seen["stock"]) > 5
    if ending == "error-midway":
        assert seen["stock"][-1][1] is botocore.exceptions.EventStreamError


def _whole_messages(wire: bytes) -> bytes:
    """The complete messages at the start of ``wire``."""
    end = 0
    while end + 4 <= len(wire):
        total = int.from_bytes(wire[end : end + 4], "big")
        if end + total > len(wire):
            break
        end += total
    return wire[:end]


def test_boto3_connection_reset_inside_a_message_raises(backend, loopback):
    service, key, wire, call = CALLS["bedrock-runtime.converse_stream"]
    client = boto3_client(service, loopback.url)
    require(client, "converse_stream")
    for _ in range(3):
        loopback.reply(wire, cut=len(wire) // 2 + 5, reset=True, chunk_size=50)
    seen = three_ways(lambda: call(client), key)
    # How much arrives before the reset is up to the kernel; what ends each
    # stream is the same connection error, never a quiet end.
    kinds = {way: observed[-1][:2] for way, observed in seen.items()}
    assert kinds["installed"] == kinds["stock"] == kinds["wrapped"]
    assert kinds["stock"][0] == "raised"


# --- SageMaker Runtime through fastsmr.testing.StreamingEndpoint --------------------


@pytest.fixture(scope="module")
def endpoint() -> Iterator[StreamingEndpoint]:
    with StreamingEndpoint() as server:
        require(server.client(), "invoke_endpoint_with_response_stream")
        yield server


def sagemaker_call(client: Any, attributes: str) -> Callable[[], Any]:
    return lambda: client.invoke_endpoint_with_response_stream(
        EndpointName="raw", Body=b'{"inputs": "Hi"}', CustomAttributes=attributes
    )


FAULTS = {
    "none": "fastsmr-tokens=60",
    "model-stream-error": "fastsmr-tokens=60;fastsmr-fault=model-stream-error;fastsmr-fail-after=25",
    "internal-stream-failure": "fastsmr-tokens=60;fastsmr-fault=internal-stream-failure;fastsmr-fail-after=25",
    "bad-crc": "fastsmr-tokens=60;fastsmr-fault=bad-crc;fastsmr-fail-after=25",
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_sagemaker_streams_and_payload_parts_equal_stock(backend, endpoint, fault):
    client = endpoint.client()
    call = sagemaker_call(client, FAULTS[fault])
    seen = three_ways(call, "Body")
    parts = observe(fastsmr.payload_parts(call()["Body"]))
    stock_parts = observe(event["PayloadPart"]["Bytes"] for event in call()["Body"])
    if fault == "bad-crc":
        # botocore's own class, with fastsmr's message naming the offset
        for way in ("installed", "wrapped"):
            assert seen[way][:-1] == seen["stock"][:-1]
            assert issubclass(seen[way][-1][1], botocore.eventstream.ChecksumMismatch)
            assert "offset" in seen[way][-1][2]
        assert seen["stock"][-1][1] is botocore.eventstream.ChecksumMismatch
        assert parts[:-1] == stock_parts[:-1]
        assert issubclass(parts[-1][1], botocore.eventstream.ChecksumMismatch)
        return
    assert seen["installed"] == seen["stock"] == seen["wrapped"]
    assert parts == stock_parts
    if fault != "none":
        assert len(seen["stock"]) == 26
        assert seen["stock"][-1][1] is botocore.exceptions.EventStreamError


def test_sagemaker_truncated_and_reset_streams_raise(backend, endpoint):
    client = endpoint.client()
    for fault in ("truncate", "reset"):
        call = sagemaker_call(client, f"fastsmr-tokens=40;fastsmr-fault={fault};fastsmr-fail-after=10")
        stock = observe(iter(call()["Body"]))
        fastsmr.install()
        try:
            installed = observe(iter(call()["Body"]))
        finally:
            fastsmr.uninstall()
        parts = observe(fastsmr.payload_parts(call()["Body"]))
        if fault == "truncate":
            assert stock[-1][0] == "dict"  # botocore ends quietly, 10 tokens in
            assert installed[:-1] == stock and len(parts) == len(stock) + 1
            assert issubclass(installed[-1][1], fastsmr.TruncatedStreamError)
            assert issubclass(parts[-1][1], botocore.eventstream.ParserError)
        else:
            assert stock[-1][0] == installed[-1][0] == parts[-1][0] == "raised"
            assert stock[-1][1] is installed[-1][1] is parts[-1][1]


# --- aiobotocore ---------------------------------------------------------------------

@pytest.fixture
def aio_session() -> Any:
    """aiobotocore's session module (the aiobotocore tests skip without it)."""
    return pytest.importorskip("aiobotocore.session")


async def aio_three_ways(client: Any, call: Callable[[Any], Any], key: str, parts: bool) -> Dict[str, List[Any]]:
    seen = {"stock": await aio_observe((await call(client))[key])}
    seen["wrapped"] = await aio_observe(fastsmr.wrap((await call(client))[key]))
    if parts:
        seen["payload_parts"] = await aio_observe(fastsmr.aio.payload_parts((await call(client))[key]))
        stream = (await call(client))[key]
        seen["stock_parts"] = [
            typed(event["PayloadPart"]["Bytes"]) for event in await aio_observe_raw(stream)
        ]
    fastsmr.install()
    try:
        seen["installed"] = await aio_observe((await call(client))[key])
    finally:
        fastsmr.uninstall()
    return seen


async def aio_observe_raw(stream: Any) -> List[Any]:
    events = []
    try:
        async for item in stream:
            events.append(item)
    except Exception:
        pass
    return events


def aio_client(session: Any, url: str, service: str) -> Any:
    from aiobotocore.config import AioConfig

    return session.get_session().create_client(
        service, endpoint_url=url, config=AioConfig(**NO_RETRIES), **CREDENTIALS
    )


@pytest.mark.parametrize("fault", ["none", "model-stream-error", "truncate"])
def test_aiobotocore_sagemaker_equals_stock(backend, aio_session, endpoint, fault):
    attributes = FAULTS.get(fault, "fastsmr-tokens=40;fastsmr-fault=truncate;fastsmr-fail-after=10")

    def call(client: Any) -> Any:
        return client.invoke_endpoint_with_response_stream(
            EndpointName="raw", Body=b'{"inputs": "Hi"}', CustomAttributes=attributes
        )

    async def scenario() -> Dict[str, List[Any]]:
        async with aio_client(aio_session, endpoint.url, "sagemaker-runtime") as client:
            return await aio_three_ways(client, call, "Body", parts=True)

    seen = asyncio.run(scenario())
    parts = [part for part in seen["payload_parts"] if part[0] == "bytes"]
    assert parts == seen["stock_parts"]
    if fault == "truncate":
        for way in ("installed", "wrapped", "payload_parts"):
            assert issubclass(seen[way][-1][1], fastsmr.TruncatedStreamError)
        assert seen["installed"][:-1] == seen["stock"] == seen["wrapped"][:-1]
    else:
        assert seen["installed"] == seen["stock"] == seen["wrapped"]
        if fault == "none":
            assert seen["payload_parts"] == parts
        else:
            assert seen["payload_parts"][-1] == seen["stock"][-1]
    if fault == "model-stream-error":
        assert seen["stock"][-1][1] is botocore.exceptions.EventStreamError


def test_aiobotocore_converse_stream_and_reset_equal_stock(backend, aio_session, loopback):
    service, key, wire, _ = CALLS["bedrock-runtime.converse_stream"]

    def call(client: Any) -> Any:
        return client.converse_stream(modelId="m", messages=[{"role": "user", "content": [{"text": "Hi"}]}])

    async def scenario() -> List[Dict[str, List[Any]]]:
        async with aio_client(aio_session, loopback.url, service) as client:
            require(client, "converse_stream")
            results = []
            for options in ({}, {"cut": len(wire) // 2 + 5, "reset": True}):
                for _ in range(3):
                    loopback.reply(wire, chunk_size=50, **options)
                results.append(await aio_three_ways(client, call, key, parts=False))
            return results

    whole, reset = asyncio.run(scenario())
    assert whole["installed"] == whole["stock"] == whole["wrapped"]
    assert len(whole["stock"]) == 44
    ends = {way: observed[-1][:2] for way, observed in reset.items()}
    assert ends["installed"] == ends["stock"] == ends["wrapped"]
    assert ends["stock"][0] == "raised"

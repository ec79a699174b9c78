"""The drop-in reads botocore's HTTP bodies itself: a real boto3 client, real sockets.

``install()``, ``wrap()`` and ``payload_parts()`` read a chunked response
straight off the connection and de-chunk it in the codec instead of through
urllib3's ``stream()``. Through a real boto3 client talking to a loopback
server that sends hand-made transfer codings, this checks that every way of
reading sees what stock botocore sees; that a broken or cut-short transfer
coding raises a ``urllib3.exceptions.ProtocolError`` as stock does (one that
also says where the coding broke); and that connections go back to the pool
after a stream, and are dropped when they cannot be reused.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Dict, Iterator, List

import boto3
import pytest
from botocore.config import Config
from urllib3.exceptions import ProtocolError, ReadTimeoutError
from urllib3.response import HTTPResponse

import fastsmr
from support.dropin_models import aio_observe, observe, typed
from support.dropin_server import LoopbackServer

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "fastsmr-test", "aws_secret_access_key": "fastsmr-test"}

PAYLOADS = [json.dumps({"token": i}).encode() for i in range(30)]
PARTS = [fastsmr.encode({":message-type": "event", ":event-type": "PayloadPart"}, p) for p in PAYLOADS]
WIRE = b"".join(PARTS)


@pytest.fixture(autouse=True)
def stock_botocore() -> Iterator[None]:
    fastsmr.uninstall()
    yield
    fastsmr.uninstall()


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(keep_alive=True) as loopback:
        yield loopback


@pytest.fixture
def client(server: LoopbackServer) -> Any:
    config = Config(retries={"total_max_attempts": 1}, read_timeout=10)
    made = boto3.client("sagemaker-runtime", endpoint_url=server.url, config=config, **CREDENTIALS)
    if not hasattr(made, "invoke_endpoint_with_response_stream"):
        pytest.skip("this botocore has no invoke_endpoint_with_response_stream")
    return made


def call(client: Any) -> Any:
    return client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"{}")["Body"]


WAYS: Dict[str, Callable[[Any], Iterator[Any]]] = {
    "stock": iter,
    "installed": iter,  # read() installs fastsmr before the call
    "wrapped": lambda body: iter(fastsmr.wrap(body)),
    "payload_parts": lambda body: ({"PayloadPart": {"Bytes": part}} for part in fastsmr.payload_parts(body)),
}


def read(client: Any, way: str) -> List[Any]:
    """One call's body, read ``way``."""
    if way == "installed":
        fastsmr.install()
    try:
        return observe(WAYS[way](call(client)))
    finally:
        fastsmr.uninstall()


def every_way(server: LoopbackServer, client: Any, wire: bytes, **options: Any) -> Dict[str, List[Any]]:
    seen = {}
    for way in WAYS:
        server.reply(b"", wire=wire, **options)
        seen[way] = read(client, way)
    return seen


def chunked(data: bytes, sizes: List[int], size_line: Callable[[int], bytes] = lambda n: b"%x\r\n" % n,
            end: bytes = b"0\r\n\r\n") -> bytes:
    out, start, i = [], 0, 0
    while start < len(data):
        size = sizes[i % len(sizes)]
        out.append(size_line(len(data[start : start + size])) + data[start : start + size] + b"\r\n")
        start += size
        i += 1
    return b"".join(out) + end


CODINGS = {
    "a chunk per message": b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in PARTS) + b"0\r\n\r\n",
    "one chunk": chunked(WIRE, [len(WIRE)]),
    "one byte per chunk": chunked(WIRE, [1]),
    "chunks across messages": chunked(WIRE, [7, 100, 33, 1, 250]),
    "extensions, LF line ends, upper case, trailers": chunked(
        WIRE, [61, 300], lambda n: b"%X ;name=value\n" % n, b"0;last\r\nX-Checksum: abc\nExpires: 0\r\n\r\n"
    ),
    "no blank line after the last chunk": chunked(WIRE, [64], end=b"0\r\n"),
}


@pytest.mark.parametrize("coding", sorted(CODINGS))
def test_every_way_reads_what_stock_reads(backend, server, client, coding):
    end_ok = not CODINGS[coding].endswith(b"0\r\n")
    # A body that ends without the blank line must end the connection too.
    seen = every_way(server, client, CODINGS[coding], **({} if end_ok else {"cut": len(CODINGS[coding])}))
    assert seen["stock"] == [typed({"PayloadPart": {"Bytes": payload}}) for payload in PAYLOADS]
    assert seen["installed"] == seen["wrapped"] == seen["payload_parts"] == seen["stock"]


BROKEN = {
    # (transfer coding, close the connection after it)
    "a size that is not hex": (CODINGS["a chunk per message"].replace(b"\r\n%x\r\n" % len(PARTS[5]), b"\r\nzz\r\n", 1),
                               False),
    "the connection closes inside a chunk": (chunked(WIRE, [150])[:1000], True),
    "the connection closes before the last chunk": (chunked(WIRE, [150])[:-5], True),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_transfer_coding_raises_protocol_error(backend, server, client, case):
    wire, closes = BROKEN[case]
    seen = every_way(server, client, wire, **({"cut": len(wire)} if closes else {}))
    stock = seen.pop("stock")
    assert stock[-1][0] == "raised" and issubclass(stock[-1][1], ProtocolError)
    every_event = [typed({"PayloadPart": {"Bytes": payload}}) for payload in PAYLOADS]
    for way, observed in seen.items():
        # The events before the break are stock's, plus any whole message
        # that arrived in the chunk urllib3 drops when it is cut short;
        # what ends them says where the coding broke.
        assert len(stock) - 1 <= len(observed) - 1 <= len(PARTS)
        assert observed[:-1] == every_event[: len(observed) - 1], way
        kind, cls, message, _ = observed[-1]
        assert kind == "raised" and issubclass(cls, ProtocolError) and issubclass(cls, fastsmr.ChunkedEncodingError)
        assert "invalid chunked transfer coding at offset" in message


def test_a_connection_goes_back_to_the_pool_after_each_stream(backend, server, client):
    first = len(server.requests)
    for way in ("installed", "wrapped", "payload_parts", "installed"):
        server.reply(b"", wire=CODINGS["chunks across messages"])
        assert len(read(client, way)) == len(PARTS)
    connections = {request.connection for request in server.requests[first:]}
    assert len(server.requests) - first == 4 and len(connections) == 1


def test_a_connection_with_bytes_past_the_body_is_not_reused(backend, server, client):
    server.reply(b"", wire=CODINGS["a chunk per message"] + b"HTTP/1.1 200 OK\r\n")
    server.reply(b"", wire=CODINGS["one chunk"])
    first = len(server.requests)
    assert len(list(fastsmr.payload_parts(call(client)))) == len(PARTS)
    # The stray bytes are not read as the next response: a new connection is.
    assert len(list(fastsmr.payload_parts(call(client)))) == len(PARTS)
    assert server.requests[first].connection != server.requests[first + 1].connection


def test_a_stream_left_midway_leaves_the_client_working(backend, server, client):
    for way in ("installed", "payload_parts"):
        server.reply(b"", wire=chunked(WIRE, [40]))
        fastsmr.install()
        body = call(client)
        items = WAYS[way](body)
        assert next(items) and next(items)
        body.close()
        server.reply(b"", wire=CODINGS["one chunk"])
        assert len(read(client, way)) == len(PARTS)


def test_the_drop_in_reads_the_body_without_urllib3s_chunk_parser(backend, server, client, monkeypatch):
    # Were urllib3's internals not the ones body_chunks() reads under, every
    # body would quietly go back through the slow parser: this says so.
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the body went through urllib3's read_chunked")

    monkeypatch.setattr(HTTPResponse, "read_chunked", refuse)
    for way in ("installed", "wrapped", "payload_parts"):
        server.reply(b"", wire=CODINGS["chunks across messages"])
        assert read(client, way) == [typed({"PayloadPart": {"Bytes": payload}}) for payload in PAYLOADS]


def test_lambda_streams_too_on_every_supported_botocore(backend, server, monkeypatch):
    # Lambda's InvokeWithResponseStream is in the oldest botocore supported
    # (SageMaker's streaming call is not): the body is read past urllib3's
    # chunk parser there as well, and its connection goes back to the pool.
    config = Config(retries={"total_max_attempts": 1}, read_timeout=10)
    client = boto3.client("lambda", endpoint_url=server.url, config=config, **CREDENTIALS)
    chunks = [fastsmr.encode({":message-type": "event", ":event-type": "PayloadChunk"}, p) for p in PAYLOADS]
    wire = chunked(b"".join(chunks), [90, 7])
    server.reply(b"", wire=wire)
    stock = observe(iter(client.invoke_with_response_stream(FunctionName="f")["EventStream"]))
    assert stock == [typed({"PayloadChunk": {"Payload": payload}}) for payload in PAYLOADS]

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the body went through urllib3's read_chunked")

    monkeypatch.setattr(HTTPResponse, "read_chunked", refuse)
    first = len(server.requests)
    for way in ("installed", "wrapped"):
        server.reply(b"", wire=wire)
        if way == "installed":
            fastsmr.install()
        try:
            stream = client.invoke_with_response_stream(FunctionName="f")["EventStream"]
            assert observe(iter(stream if way == "installed" else fastsmr.wrap(stream))) == stock
        finally:
            fastsmr.uninstall()
    assert len({request.connection for request in server.requests[first:]}) == 1


def test_a_stalled_body_times_out_as_stock_does(backend, server):
    # The body stops mid-chunk and the connection stays open: the socket's
    # read timeout ends the wait, with urllib3's ReadTimeoutError as stock.
    config = Config(retries={"total_max_attempts": 1}, read_timeout=0.5)
    client = boto3.client("sagemaker-runtime", endpoint_url=server.url, config=config, **CREDENTIALS)
    if not hasattr(client, "invoke_endpoint_with_response_stream"):
        pytest.skip("this botocore has no invoke_endpoint_with_response_stream")
    stalled = chunked(WIRE, [150])[:1000]
    seen = every_way(server, client, stalled)
    assert seen["stock"][-1][:2] == ("raised", ReadTimeoutError)
    for way, observed in seen.items():
        assert observed[-1][:2] == ("raised", ReadTimeoutError), way
        assert 0 < len(observed) - 1 <= len(PARTS)


@pytest.mark.parametrize("coding", ["a chunk per message", "chunks across messages", "one byte per chunk"])
def test_aiobotocore_reads_whatever_has_arrived_at_once(backend, server, coding, monkeypatch):
    # aiobotocore steps through aiohttp's StreamReader a chunk at a time
    # (iter_chunks); fastsmr takes all that has arrived (readany) and must
    # see the same events. Stock is observed first, then iter_chunks is
    # made to fail, so the fastsmr ways cannot quietly use it.
    session = pytest.importorskip("aiobotocore.session")
    from aiobotocore.config import AioConfig
    from aiohttp import StreamReader

    import fastsmr.aio

    async def parts(body: Any) -> Any:
        async for part in fastsmr.aio.payload_parts(body):
            yield {"PayloadPart": {"Bytes": part}}

    async def scenario() -> Dict[str, List[Any]]:
        config = AioConfig(retries={"total_max_attempts": 1}, read_timeout=10)
        async with session.get_session().create_client(
            "sagemaker-runtime", endpoint_url=server.url, config=config, **CREDENTIALS
        ) as client:
            if not hasattr(client, "invoke_endpoint_with_response_stream"):
                pytest.skip("this botocore has no invoke_endpoint_with_response_stream")

            async def body() -> Any:
                server.reply(b"", wire=CODINGS[coding])
                return (await client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"{}"))["Body"]

            seen = {"stock": await aio_observe(await body())}

            def refuse(*args: Any, **kwargs: Any) -> Any:
                raise AssertionError("the body went through iter_chunks")

            monkeypatch.setattr(StreamReader, "iter_chunks", refuse)
            seen["payload_parts"] = await aio_observe(parts(await body()))
            seen["wrapped"] = await aio_observe(fastsmr.wrap(await body()))
            fastsmr.install()
            try:
                seen["installed"] = await aio_observe(await body())
            finally:
                fastsmr.uninstall()
            return seen

    seen = asyncio.run(scenario())
    assert seen["stock"] == [typed({"PayloadPart": {"Bytes": payload}}) for payload in PAYLOADS]
    assert seen["installed"] == seen["wrapped"] == seen["payload_parts"] == seen["stock"]

"""Response bodies that end before their HTTP framing says: boto3 and aiobotocore clients, plain HTTP and TLS.

botocore opens its responses with urllib3's ``enforce_content_length=False``
and its ``EventStream`` does not check the length itself, so stock boto3 reads
a body whose connection closes early at a message boundary as a whole stream:
fewer events, no error. Through the drop-in (every way of reading) such a
body raises ``IncompleteBodyError`` (a ``botocore.eventstream.ParserError``
and a ``fastsmr.TruncatedStreamError``) naming the Content-Length, the bytes
received and where the stream ended. Where the stock client raises (urllib3
for a chunked body without its last chunk, aiohttp for any short body), the
drop-in raises the same class. A body longer than its Content-Length, and a
Content-Length of 0, read as under stock.
"""

from __future__ import annotations

import asyncio
import pickle
from typing import Any, Iterator, List

import boto3
import botocore.eventstream
import pytest
from botocore.config import Config
from urllib3.exceptions import ProtocolError

import fastsmr
import fastsmr.aio
from support.dropin_models import aio_observe, observe, typed
from support.paced_server import HEAD, PARTS, PAYLOADS, PacedServer, Script, chunk, tls_context

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "fastsmr-test", "aws_secret_access_key": "fastsmr-test"}
EVENTS = [typed({"PayloadPart": {"Bytes": p}}) for p in PAYLOADS]
WIRE = b"".join(PARTS)
WAYS = ("installed", "wrapped", "payload_parts")

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def content_length(length: int, body: bytes) -> Script:
    """A response announcing ``length`` bytes that sends ``body``, then closes the connection."""
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
            b"Content-Length: %d\r\n\r\n" % length)
    return [(0.0, head + body[:100]), (0.01, body[100:]), (0.05, None)]


@pytest.fixture(autouse=True)
def stock_botocore() -> Iterator[None]:
    fastsmr.uninstall()
    yield
    fastsmr.uninstall()


@pytest.fixture(scope="module", params=["http", "https"])
def server(request) -> Iterator[PacedServer]:
    if request.param == "https":
        pytest.importorskip("cryptography")
    with PacedServer(tls_context() if request.param == "https" else None) as running:
        yield running


def make_client(url: str) -> Any:
    made = boto3.client("sagemaker-runtime", endpoint_url=url,
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=10),
                        verify=False, **CREDENTIALS)
    if not hasattr(made, "invoke_endpoint_with_response_stream"):
        pytest.skip("this botocore has no invoke_endpoint_with_response_stream")
    return made


def read(client: Any, way: str) -> List[Any]:
    if way == "installed":
        fastsmr.install()
    try:
        body = client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"{}")["Body"]
        if way == "payload_parts":
            return observe({"PayloadPart": {"Bytes": part}} for part in fastsmr.payload_parts(body))
        return observe(iter(fastsmr.wrap(body) if way == "wrapped" else body))
    finally:
        fastsmr.uninstall()


def raised(server: PacedServer, client: Any, way: str, script: Script, events: List[Any]) -> Any:
    """What ``way`` raised for ``script`` after ``events``, checked against stock, which ends quietly."""
    server.answer(script)
    assert read(client, "stock") == events
    server.answer(script)
    seen = read(client, way)
    assert seen[:-1] == events and seen[-1][0] == "raised", seen[-1]
    error = seen[-1]
    assert issubclass(error[1], botocore.eventstream.ParserError)
    assert issubclass(error[1], fastsmr.IncompleteBodyError) and issubclass(error[1], fastsmr.TruncatedStreamError)
    # The client goes on: the next response (a new connection) is read whole.
    server.answer(content_length(len(WIRE), WIRE))
    assert read(client, way) == EVENTS
    return error


@pytest.mark.parametrize("way", WAYS)
def test_a_body_short_of_its_content_length_between_messages_raises(backend, server, way):
    error = raised(server, make_client(server.url), way, content_length(len(WIRE) + 50, WIRE), EVENTS)
    assert error[2] == (f"the body ended short of its Content-Length: expected {len(WIRE) + 50} bytes, "
                        f"received {len(WIRE)}; the stream ended at offset {len(WIRE)}, between messages")


@pytest.mark.parametrize("way", WAYS)
def test_a_body_short_of_its_content_length_inside_a_message_says_both(backend, server, way):
    error = raised(server, make_client(server.url), way, content_length(len(WIRE), WIRE[:-10]), EVENTS[:-1])
    last = len(WIRE) - len(PARTS[-1])
    assert error[2] == (f"the body ended short of its Content-Length: expected {len(WIRE)} bytes, "
                        f"received {len(WIRE) - 10}; the stream ended inside the message at offset {last}: "
                        f"{len(PARTS[-1]) - 10} bytes left over")


def test_the_error_keeps_its_numbers(backend, server):
    server.answer(content_length(len(WIRE) + 50, WIRE))
    parts: List[bytes] = []
    with pytest.raises(fastsmr.IncompleteBodyError) as caught:
        parts.extend(fastsmr.payload_parts(make_client(server.url).invoke_endpoint_with_response_stream(
            EndpointName="e", Body=b"{}")["Body"]))
    assert parts == PAYLOADS
    error = caught.value
    assert (error.expected, error.received, error.remaining, error.offset) == (len(WIRE) + 50, len(WIRE), 0, len(WIRE))
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and (copy.expected, copy.received, str(copy)) == (len(WIRE) + 50, len(WIRE), str(error))


@pytest.mark.parametrize("case", ["longer than its Content-Length", "a Content-Length of 0"])
def test_other_content_lengths_read_as_under_stock(backend, server, case):
    # Bytes past the Content-Length are not the body's: urllib3 reads up to
    # it. (It then pools the connection with those bytes unread, which the
    # next request on it takes for its response, stock and drop-in alike:
    # each way here has a client of its own.)
    short = len(WIRE) - len(PARTS[-1])
    script, events = (content_length(short, WIRE), EVENTS[:-1]) if case.startswith("longer") else (
        content_length(0, b""), [])
    for way in ("stock",) + WAYS:
        server.answer(script)
        assert read(make_client(server.url), way) == events, way


@pytest.mark.parametrize("way", WAYS)
def test_a_chunked_body_without_its_last_chunk_raises_protocol_error_as_stock(backend, server, way):
    # Plain HTTP goes through the codec's BodyReader, TLS through the socket file.
    script: Script = [(0.0, HEAD + b"".join(chunk(p) for p in PARTS)), (0.05, None)]
    client = make_client(server.url)
    server.answer(script)
    stock = read(client, "stock")
    assert stock[:-1] == EVENTS and stock[-1][0] == "raised" and issubclass(stock[-1][1], ProtocolError)
    server.answer(script)
    seen = read(client, way)
    assert seen[:-1] == EVENTS and issubclass(seen[-1][1], ProtocolError)
    assert "the body ended before the last chunk" in seen[-1][2]


# --- aiobotocore: aiohttp checks the length itself ------------------------------------


@pytest.mark.parametrize("case", ["short between messages", "short inside a message", "chunked without last chunk"])
def test_aiobotocore_raises_aiohttps_client_payload_error_as_stock(backend, server, case):
    aiobotocore_session = pytest.importorskip("aiobotocore.session")
    from aiobotocore.config import AioConfig
    from aiohttp import ClientPayloadError

    script, events = {
        "short between messages": (content_length(len(WIRE) + 50, WIRE), EVENTS),
        "short inside a message": (content_length(len(WIRE), WIRE[:-10]), EVENTS[:-1]),
        "chunked without last chunk": ([(0.0, HEAD + b"".join(chunk(p) for p in PARTS)), (0.05, None)], EVENTS),
    }[case]

    async def parts(body: Any) -> Any:
        async for part in fastsmr.aio.payload_parts(body):
            yield {"PayloadPart": {"Bytes": part}}

    async def scenario() -> List[List[Any]]:
        config = AioConfig(retries={"total_max_attempts": 1}, read_timeout=10)
        seen = []
        async with aiobotocore_session.get_session().create_client(
                "sagemaker-runtime", endpoint_url=server.url, config=config, verify=False, **CREDENTIALS) as made:
            if not hasattr(made, "invoke_endpoint_with_response_stream"):
                pytest.skip("this botocore has no invoke_endpoint_with_response_stream")
            for way in ("stock",) + WAYS:
                server.answer(script)
                if way == "installed":
                    fastsmr.install()
                try:
                    body = (await made.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"{}"))["Body"]
                    items = parts(body) if way == "payload_parts" else fastsmr.wrap(body) if way == "wrapped" else body
                    seen.append(await aio_observe(items))
                finally:
                    fastsmr.uninstall()
        return seen

    for seen in asyncio.run(scenario()):
        assert seen[:-1] == events and seen[-1][0] == "raised" and issubclass(seen[-1][1], ClientPayloadError)

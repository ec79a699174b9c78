"""boto3 bodies read straight from the socket: one codec call per arrival, stock's behaviour kept.

A real boto3 client against a loopback server that sends each response's
pieces over time. With ``install()``, ``wrap()`` or ``payload_parts()``, a
plain HTTP/1.1 chunked body is read by the codec's ``BodyReader`` (the socket
blocking, its read timeout as the socket's receive timeout) and checked
against stock botocore: the same events; the read timeout bounds each wait
(not the whole stream) and raises urllib3's ``ReadTimeoutError``; the
connection goes back to the pool after a clean end, with its timeout as
before, and is dropped after a timeout or when a consumer leaves midway;
bodies the codec cannot receive (content-length, TLS) are read as before.
"""

from __future__ import annotations

import gc
import socket
import struct
import time
from typing import Any, Iterator, List

import boto3
import pytest
from botocore.config import Config
from urllib3.exceptions import ReadTimeoutError

import fastsmr
import fastsmr.boto.urllib3_body as urllib3_body
from support.dropin_models import observe, typed
from support.paced_server import PARTS, PAYLOADS, PacedServer, paced, tls_context

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "fastsmr-test", "aws_secret_access_key": "fastsmr-test"}
EVENTS = [typed({"PayloadPart": {"Bytes": p}}) for p in PAYLOADS]

@pytest.fixture(autouse=True)
def stock_botocore() -> Iterator[None]:
    fastsmr.uninstall()
    yield
    fastsmr.uninstall()


@pytest.fixture(scope="module")
def server() -> Iterator[PacedServer]:
    with PacedServer() as running:
        yield running


def make_client(url: str, read_timeout: float = 10, **config: Any) -> Any:
    made = boto3.client("sagemaker-runtime", endpoint_url=url,
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout, **config),
                        verify=False, **CREDENTIALS)
    if not hasattr(made, "invoke_endpoint_with_response_stream"):
        pytest.skip("this botocore has no invoke_endpoint_with_response_stream")
    return made


def call(client: Any) -> Any:
    return client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"{}")["Body"]


def read(client: Any, way: str) -> List[Any]:
    if way == "installed":
        fastsmr.install()
    try:
        body = call(client)
        if way == "payload_parts":
            return observe({"PayloadPart": {"Bytes": part}} for part in fastsmr.payload_parts(body))
        return observe(iter(fastsmr.wrap(body) if way == "wrapped" else body))
    finally:
        fastsmr.uninstall()


WAYS = ("installed", "wrapped", "payload_parts")


@pytest.fixture
def taken(monkeypatch) -> List[bool]:
    """Whether each body read was taken by the socket path."""
    seen: List[bool] = []
    original = urllib3_body.socket_body

    def spy(raw: Any) -> Any:
        body = original(raw)
        seen.append(body is not None)
        return body

    monkeypatch.setattr("fastsmr.boto.sync.socket_body", spy)
    return seen


def pooled_sockets(client: Any, url: str) -> List[socket.socket]:
    pool = client._endpoint.http_session._manager.connection_from_url(url)
    return [conn.sock for conn in list(pool.pool.queue) if conn is not None and conn.sock is not None]


@pytest.mark.parametrize("way", WAYS)
def test_parts_over_time_are_received_by_the_codec_not_the_socket_file(backend, server, taken, monkeypatch, way):
    client = make_client(server.url)
    server.answer(paced(0.01))
    assert read(client, "stock") == EVENTS
    reads = []
    original = socket.SocketIO.readinto
    monkeypatch.setattr(socket.SocketIO, "readinto", lambda self, b: reads.append(1) or original(self, b))
    server.answer(paced(0.01))
    assert read(client, way) == EVENTS
    assert taken == [True]
    # At most the first read (what the socket file held, or one receive):
    # the other parts, each its own arrival, went through BodyReader.read.
    assert len(reads) <= 1


@pytest.mark.parametrize("way", WAYS)
def test_the_read_timeout_bounds_each_wait_not_the_stream(backend, server, taken, way):
    # Margins of 4x either way, so that a loaded machine (pytest -n auto) cannot stall 1 s.
    client = make_client(server.url, read_timeout=1.0)
    server.answer(paced(0.25, PARTS[:8]))  # 1.75 s in all, never 1 s without a part
    assert read(client, way) == EVENTS[:8] and taken == [True]


@pytest.mark.parametrize("way", WAYS)
def test_a_stall_raises_urllib3s_read_timeout_as_stock_and_drops_the_connection(backend, server, way):
    client = make_client(server.url, read_timeout=1.0)
    stalled = paced(0.0, PARTS[:3], end=b"")[:-1] + [(4.0, b"")]  # the body stalls 4 s after 3 parts
    server.answer(stalled)
    stock = read(client, "stock")
    assert stock[-1][:2] == ("raised", ReadTimeoutError) and stock[:-1] == EVENTS[:3]
    server.answer(stalled)
    first = len(server.connections)
    started = time.monotonic()
    seen = read(client, way)
    assert time.monotonic() - started < 4  # the timeout ended the read, not the stall
    assert seen[:-1] == EVENTS[:3] and seen[-1][:3] == stock[-1][:3]
    server.answer(paced(0.0))
    assert read(client, way) == EVENTS
    assert server.connections[first] != server.connections[first + 1]  # a new connection after the timeout


@pytest.mark.parametrize("way", WAYS)
def test_a_clean_end_puts_the_connection_back_with_its_timeout(backend, server, taken, way):
    client = make_client(server.url, read_timeout=7.5)
    first = len(server.connections)
    for _ in range(3):
        server.answer(paced(0.0))
        assert read(client, way) == EVENTS
    assert taken == [True] * 3
    assert len(set(server.connections[first:])) == 1
    (sock,) = pooled_sockets(client, server.url)
    assert sock.gettimeout() == 7.5
    assert struct.unpack("@ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)) == (0, 0)


@pytest.mark.parametrize("leave", ["break", "close"])
def test_a_stream_left_midway_does_not_go_back_to_the_pool(backend, server, taken, leave):
    client = make_client(server.url)
    server.answer(paced(0.0))
    fastsmr.install()
    body = call(client)
    events = iter(body)
    assert typed(next(events)) == EVENTS[0]
    if leave == "close":
        body.close()
    del events, body
    gc.collect()
    first = len(server.connections)
    server.answer(paced(0.0))
    assert read(client, "payload_parts") == EVENTS
    assert taken == [True, True]
    assert server.connections[first] not in server.connections[:first]


def test_a_content_length_body_is_read_as_before(backend, server, taken):
    client = make_client(server.url)
    wire = b"".join(PARTS)
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
            b"Content-Length: %d\r\n\r\n" % len(wire))
    for way in ("stock",) + WAYS:
        server.answer([(0.0, head + wire[:100]), (0.01, wire[100:])])
        assert read(client, way) == EVENTS, way
    assert taken == [False] * len(WAYS)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[PacedServer]:
    pytest.importorskip("cryptography")
    with PacedServer(tls_context()) as running:
        yield running


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_tls_body_is_read_through_the_ssl_socket_as_before(backend, tls_server, taken):
    # An ssl socket's bytes are decrypted by the ssl module: the codec cannot
    # receive them itself, so TLS bodies keep the socket-file path.
    client = make_client(tls_server.url, read_timeout=0.3)
    for way in ("stock",) + WAYS:
        tls_server.answer(paced(0.01))
        assert read(client, way) == EVENTS, way
    assert taken == [False] * len(WAYS)
    tls_server.answer(paced(0.0, PARTS[:2], end=b"")[:-1] + [(1.0, b"")])
    assert read(client, "payload_parts")[-1][:2] == ("raised", ReadTimeoutError)

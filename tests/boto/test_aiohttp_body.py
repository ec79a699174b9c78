"""aiobotocore bodies taken off aiohttp: the transport's bytes go to the codec, stock's behaviour kept.

A real aiobotocore client (default event loop, and uvloop when installed)
against a loopback server that sends each response's pieces over time. With
``install()``, ``wrap()`` or ``fastsmr.aio.payload_parts()``, a chunked body
is handed from aiohttp to the codec once aiohttp's parser is between chunks
and checked against stock aiobotocore: the same events; after the hand-over
the arrivals no longer go through aiohttp's protocol; the read timeout bounds
each wait and raises aiohttp's timeout error; a body cut short raises
aiohttp's ``ClientPayloadError``; connections go back to the pool after a
clean end and are dropped after an error or when a consumer leaves midway;
a cancelled reader loses nothing.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any, AsyncIterator, Callable, Iterator, List

import pytest

import fastsmr
import fastsmr.aio
from support.dropin_models import aio_observe, typed
from support.paced_server import PARTS, PAYLOADS, PacedServer, paced, tls_context

aiobotocore_session = pytest.importorskip("aiobotocore.session")
from aiobotocore.config import AioConfig  # noqa: E402
from aiohttp import ClientPayloadError  # noqa: E402
from aiohttp.client_proto import ResponseHandler  # noqa: E402

import fastsmr.boto.aiohttp_body as aiohttp_body  # noqa: E402

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "fastsmr-test", "aws_secret_access_key": "fastsmr-test"}
EVENTS = [typed({"PayloadPart": {"Bytes": p}}) for p in PAYLOADS]
WAYS = ("installed", "wrapped", "payload_parts")


def loops() -> List[str]:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return ["default"]
    return ["default", "uvloop"]


@pytest.fixture(params=loops())
def run(request) -> Callable[[Any], Any]:
    """Runs a coroutine on the default event loop or uvloop's."""
    def run_(coroutine: Any) -> Any:
        if request.param == "uvloop":
            import uvloop

            loop = uvloop.new_event_loop()
        else:
            loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(coroutine)
        finally:
            loop.close()

    return run_


@pytest.fixture(autouse=True)
def stock_botocore() -> Iterator[None]:
    fastsmr.uninstall()
    yield
    fastsmr.uninstall()


@pytest.fixture(scope="module")
def server() -> Iterator[PacedServer]:
    with PacedServer() as running:
        yield running


def client(server: PacedServer, read_timeout: float = 10) -> Any:
    config = AioConfig(retries={"total_max_attempts": 1}, read_timeout=read_timeout)
    return aiobotocore_session.get_session().create_client("sagemaker-runtime", endpoint_url=server.url,
                                                           config=config, **CREDENTIALS)


async def call(made: Any) -> Any:
    if not hasattr(made, "invoke_endpoint_with_response_stream"):
        pytest.skip("this botocore has no invoke_endpoint_with_response_stream")
    return (await made.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"{}"))["Body"]


async def parts(body: Any) -> AsyncIterator[Any]:
    async for part in fastsmr.aio.payload_parts(body):
        yield {"PayloadPart": {"Bytes": part}}


async def read(made: Any, way: str) -> List[Any]:
    if way == "installed":
        fastsmr.install()
    try:
        body = await call(made)
        if way == "payload_parts":
            return await aio_observe(parts(body))
        return await aio_observe(fastsmr.wrap(body) if way == "wrapped" else body)
    finally:
        fastsmr.uninstall()


@pytest.fixture
def handed(monkeypatch) -> List[Any]:
    """Each TakenBody made, to see whether its body changed hands."""
    made: List[Any] = []
    original = aiohttp_body.take_body

    def spy(response: Any, core: Any) -> Any:
        taken = original(response, core)
        made.append(taken)
        return taken

    monkeypatch.setattr("fastsmr.boto.aio.take_body", spy)
    return made


@pytest.mark.parametrize("way", WAYS)
def test_parts_over_time_go_from_the_transport_to_the_codec(backend, run, server, handed, monkeypatch, way):
    before: List[bytes] = []  # what aiohttp's protocol got, before and after the body changed hands
    after: List[bytes] = []
    original = ResponseHandler.data_received

    def counted(self: Any, data: bytes) -> None:
        if data:  # (aiohttp also calls it with nothing, to resume its reader)
            handed_over = bool(handed) and handed[-1] is not None and handed[-1].chunked is not None
            (after if handed_over else before).append(bytes(data))
        original(self, data)

    monkeypatch.setattr(ResponseHandler, "data_received", counted)

    async def scenario() -> Any:
        async with client(server) as made:
            server.answer(paced(0.02))
            stock = await read(made, "stock")
            stock_arrivals = len(before)
            server.answer(paced(0.02))
            return stock, stock_arrivals, await read(made, way)

    stock, stock_arrivals, seen = run(scenario())
    assert stock == EVENTS and seen == EVENTS
    (taken,) = handed
    assert taken is not None and taken.chunked is not None
    # This body changed hands before its end, and from then on aiohttp got
    # only the last chunk it is given to end the response.
    assert len(before) - stock_arrivals < len(PARTS)
    assert after == [b"0\r\n\r\n"]


@pytest.mark.parametrize("way", WAYS)
def test_a_clean_end_puts_the_connection_back(backend, run, server, handed, way):
    async def scenario() -> List[int]:
        async with client(server) as made:
            first = len(server.connections)
            for _ in range(3):
                server.answer(paced(0.01))
                assert await read(made, way) == EVENTS
            return server.connections[first:]

    assert len(set(run(scenario()))) == 1
    assert len(handed) == 3 and all(taken is not None and taken.chunked is not None for taken in handed)


@pytest.mark.parametrize("way", WAYS)
def test_the_read_timeout_bounds_each_wait_not_the_stream(backend, run, server, handed, way):
    async def scenario() -> List[Any]:
        # Margins of 4x either way, so that a loaded machine (pytest -n auto) cannot stall 1 s.
        async with client(server, read_timeout=1.0) as made:
            server.answer(paced(0.25, PARTS[:8]))  # 1.75 s in all, never 1 s without a part
            return await read(made, way)

    assert run(scenario()) == EVENTS[:8]
    assert handed[0] is not None and handed[0].chunked is not None


@pytest.mark.parametrize("way", WAYS)
def test_a_stall_raises_aiohttps_timeout_as_stock_and_drops_the_connection(backend, run, server, way):
    stalled = paced(0.02, PARTS[:4], end=b"")[:-1] + [(4.0, b"")]  # the body stalls 4 s after 4 parts

    async def scenario() -> Any:
        async with client(server, read_timeout=1.0) as made:
            server.answer(stalled)
            stock = await read(made, "stock")
            server.answer(stalled)
            first = len(server.connections)
            started = time.monotonic()
            seen = await read(made, way)
            took = time.monotonic() - started
            server.answer(paced(0.0))
            after = await read(made, way)
            return stock, seen, took, after, server.connections[first : first + 2]

    stock, seen, took, after, connections = run(scenario())
    assert stock[:-1] == EVENTS[:4] and stock[-1][0] == "raised"
    assert seen[:-1] == EVENTS[:4] and seen[-1][:3] == stock[-1][:3]  # the class and message of stock's error
    assert took < 3 and after == EVENTS
    assert connections[0] != connections[1]


@pytest.mark.parametrize("way", WAYS)
def test_a_body_cut_short_raises_client_payload_error_as_stock(backend, run, server, way):
    cut = paced(0.02, PARTS[:4], end=b"")[:-1] + [(0.02, b"%x\r\n" % len(PARTS[4]) + PARTS[4][:10])]

    async def scenario() -> Any:
        async with client(server) as made:
            seen = {}
            for each in ("stock", way):
                server.answer(cut + [(0.0, None)])  # None: the server closes the connection
                seen[each] = await read(made, each)
            return seen

    seen = run(scenario())
    assert seen["stock"][:-1] == EVENTS[:4] and issubclass(seen["stock"][-1][1], ClientPayloadError)
    assert seen[way][:-1] == EVENTS[:4] and issubclass(seen[way][-1][1], ClientPayloadError)


@pytest.mark.parametrize("way", ("stock",) + WAYS)
def test_a_stream_left_midway_ends_as_under_stock(backend, run, server, handed, way):
    # Stock aiohttp reads a left body on to its end (it stays referenced by
    # the connection's reader) and then returns the connection to the pool;
    # the codec does the same, and the stream it left behind was not lost.
    async def scenario() -> Any:
        async with client(server) as made:
            server.answer(paced(0.02))
            first = len(server.connections)
            if way == "installed":
                fastsmr.install()
            body = await call(made)
            stream = fastsmr.wrap(body) if way == "wrapped" else body
            reader = parts(body) if way == "payload_parts" else stream
            async for item in reader:
                assert typed(item) == EVENTS[0]
                break
            fastsmr.uninstall()
            del body, stream, reader
            gc.collect()
            await asyncio.sleep(0.6)  # the rest of the body has arrived
            server.answer(paced(0.0))
            assert await read(made, "payload_parts") == EVENTS
            return server.connections[first : first + 2]

    first, second = run(scenario())
    assert first == second
    if way != "stock":
        assert handed[0] is not None and handed[0].chunked is not None


def test_a_cancelled_reader_loses_nothing(backend, run, server, handed):
    async def scenario() -> List[Any]:
        async with client(server) as made:
            server.answer(paced(0.05))
            body = await call(made)
            got: List[Any] = []

            async def consume() -> None:
                async for part in fastsmr.aio.payload_parts(body):
                    got.append(part)

            task = asyncio.ensure_future(consume())
            await asyncio.sleep(0.17)  # a few parts in, waiting for the next
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            async for part in fastsmr.aio.payload_parts(body):
                got.append(part)
            return got

    assert run(scenario()) == PAYLOADS
    assert handed[0] is not None and handed[0].chunked is not None


@pytest.mark.parametrize("way", WAYS)
def test_a_decode_error_after_the_hand_over_raises_stocks_class_and_drops_the_connection(backend, run, server,
                                                                                        handed, way):
    bad = bytearray(PARTS[6])
    bad[-1] ^= 0xFF  # its message CRC
    broken = paced(0.02, PARTS[:6] + [bytes(bad)] + PARTS[7:])

    async def scenario() -> Any:
        async with client(server) as made:
            seen = {}
            first = len(server.connections)
            for each in ("stock", way):
                server.answer(broken)
                seen[each] = await read(made, each)
            server.answer(paced(0.0))
            assert await read(made, way) == EVENTS
            return seen, server.connections[first:]

    seen, connections = run(scenario())
    assert seen["stock"][:-1] == EVENTS[:6] and seen["stock"][-1][0] == "raised"
    assert seen[way][:-1] == EVENTS[:6] and issubclass(seen[way][-1][1], seen["stock"][-1][1])
    assert handed[0] is not None and handed[0].chunked is not None
    assert connections[1] not in (connections[0], connections[2])  # the error closed its connection


@pytest.fixture(scope="module")
def tls_server() -> Iterator[PacedServer]:
    pytest.importorskip("cryptography")
    with PacedServer(tls_context()) as running:
        yield running


@pytest.mark.parametrize("way", WAYS)
def test_a_tls_body_changes_hands_too(backend, run, tls_server, handed, way):
    # The TLS transport decrypts and hands its protocol the plain bytes: the
    # codec takes the body over as on a plain connection.
    async def scenario() -> Any:
        config = AioConfig(retries={"total_max_attempts": 1}, read_timeout=0.5)
        async with aiobotocore_session.get_session().create_client(
            "sagemaker-runtime", endpoint_url=tls_server.url, config=config, verify=False, **CREDENTIALS
        ) as made:
            seen = {}
            for each in ("stock", way):
                tls_server.answer(paced(0.02))
                seen[each] = await read(made, each)
            tls_server.answer(paced(0.02, PARTS[:3], end=b"")[:-1] + [(1.5, b"")])
            seen["stall"] = await read(made, way)
            return seen

    seen = run(scenario())
    assert seen["stock"] == EVENTS and seen[way] == EVENTS
    assert handed[0] is not None and handed[0].chunked is not None
    assert seen["stall"][:-1] == EVENTS[:3] and seen["stall"][-1][0] == "raised"
    assert issubclass(seen["stall"][-1][1], asyncio.TimeoutError)

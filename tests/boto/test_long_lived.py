"""One long-lived client, consumers that leave, resume, switch readers or read one stream twice.

Real boto3 and aiobotocore clients against the local endpoint, whose parts
are paced so that they arrive over time, one per HTTP chunk and socket read
(or, for the switch at any message, against the loopback server with all the
parts in one HTTP chunk). Every way fastsmr comes in — ``install()``,
``wrap()``, ``payload_parts()`` — is read the way stock botocore allows, and
what the consumers see is compared with stock botocore on the same server:

* a consumer leaves its loop (break, an exception in its body, ``close()``,
  dropping the reader; under asyncio, a cancelled task too) and the same or
  another reader gets the rest, in order, nothing lost;
* while one consumer waits for data, a second one reading the same stream
  gets stock's error and the first receives every event;
* readers switch at any message;
* a stream that fails to decode closes its connection at once.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import boto3
import botocore.eventstream as bes
import pytest
from botocore.config import Config

import fastsmr
import fastsmr.aio
from support.dropin_server import LoopbackServer
from fastsmr.testing import StreamingEndpoint

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "fastsmr-test", "aws_secret_access_key": "fastsmr-test"}
NO_RETRIES = {"retries": {"total_max_attempts": 1}, "read_timeout": 20}

# stock is the oracle; the others are how fastsmr comes in
MODES = ("installed", "wrapped", "payload_parts")


@pytest.fixture(autouse=True)
def stock_botocore() -> Iterator[None]:
    fastsmr.uninstall()
    yield
    fastsmr.uninstall()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[StreamingEndpoint]:
    with StreamingEndpoint() as server:
        yield server


def require_streaming(client: Any) -> None:
    if not hasattr(client, "invoke_endpoint_with_response_stream"):
        pytest.skip("this botocore has no invoke_endpoint_with_response_stream")


@pytest.fixture(scope="module")
def client(endpoint: StreamingEndpoint) -> Any:
    made = boto3.client("sagemaker-runtime", endpoint_url=endpoint.url, config=Config(**NO_RETRIES), **CREDENTIALS)
    require_streaming(made)
    return made


def paced(tokens: int, rate: float, extra: str = "") -> str:
    return f"fastsmr-tokens={tokens}; fastsmr-rate={rate:g}" + (f"; {extra}" if extra else "")


def event_part(event: Dict[str, Any]) -> bytes:
    return event["PayloadPart"]["Bytes"]


def same(part: bytes) -> bytes:
    return part


Reader = Tuple[Callable[[], Any], Callable[[Any], bytes]]

#: The readers of a body in each mode ("body events": botocore's own iteration
#: of a stream fastsmr took over).
READERS = {
    "stock": ["events"],
    "installed": ["events", "parts"],
    "wrapped": ["events", "parts", "body events"],
    "payload_parts": ["parts", "body events"],
}


def sync_readers(mode: str, body: Any) -> Dict[str, Reader]:
    """The ways to read ``body`` in ``mode``: name -> (make a reader, the part in what it yields)."""
    if mode == "stock":
        return {"events": (lambda: iter(body), event_part)}
    if mode == "installed":
        return {"events": (lambda: iter(body), event_part), "parts": (lambda: fastsmr.payload_parts(body), same)}
    if mode == "wrapped":
        wrapped = fastsmr.wrap(body)
        assert wrapped is not body
        return {
            "events": (lambda: iter(wrapped), event_part),
            "parts": (lambda: fastsmr.payload_parts(wrapped), same),
            "body events": (lambda: iter(body), event_part),  # botocore's own __iter__ on fastsmr's source
        }
    return {"parts": (lambda: fastsmr.payload_parts(body), same), "body events": (lambda: iter(body), event_part)}


def sync_body(client: Any, mode: str, attributes: str) -> Any:
    if mode == "installed":
        assert fastsmr.install()
    return client.invoke_endpoint_with_response_stream(EndpointName="raw", Body=b"{}", CustomAttributes=attributes)[
        "Body"
    ]


class Leave(Exception):
    """An exception in the consumer's loop body."""


SYNC_LEAVES = ("break", "exception", "close", "dropped")


def take(reader: Any, to_part: Callable[[Any], bytes], count: int, how: str) -> List[bytes]:
    """The first ``count`` parts of ``reader``, then leave it ``how`` (the caller drops it for "dropped")."""
    got: List[bytes] = []
    try:
        for item in reader:
            got.append(to_part(item))
            if len(got) == count:
                if how == "exception":
                    raise Leave
                break
    except Leave:
        pass
    if how == "close":
        reader.close()
    return got


def sync_leave_and_resume(client: Any, mode: str, first: str, then: str, how: str) -> List[bytes]:
    """4 parts read ``first``, left ``how``, then the rest read ``then``."""
    body = sync_body(client, mode, paced(12, 400))
    ways = sync_readers(mode, body)
    make, to_part = ways[first]
    reader = make()
    seen = take(reader, to_part, 4, how)
    if how == "dropped":
        del reader  # the last reference: the generator is closed now
    make, to_part = ways[then]
    seen += [to_part(item) for item in make()]
    return seen


def test_boto3_a_consumer_that_leaves_loses_nothing(backend, client):
    stock = {how: sync_leave_and_resume(client, "stock", "events", "events", how) for how in SYNC_LEAVES}
    whole = stock["break"]
    assert len(whole) == 12 and all(seen == whole for seen in stock.values())
    for mode in MODES:
        names = READERS[mode]
        for first, then, how in itertools.product(names, names, SYNC_LEAVES):
            try:
                seen = sync_leave_and_resume(client, mode, first, then, how)
            finally:
                fastsmr.uninstall()
            assert seen == whole, (mode, first, then, how)


def test_boto3_a_second_consumer_raises_stocks_error_and_the_first_reads_on(backend, client):
    def run(mode: str, first: str, second: str) -> Tuple[List[bytes], Any]:
        body = sync_body(client, mode, paced(20, 80))
        ways = sync_readers(mode, body)
        five = threading.Event()
        seen: List[bytes] = []

        def consumer_a() -> None:
            make, to_part = ways[first]
            for item in make():
                seen.append(to_part(item))
                if len(seen) == 5:
                    five.set()

        a = threading.Thread(target=consumer_a)
        a.start()
        assert five.wait(10)
        wait_until_reading(body)
        make, to_part = ways[second]
        with pytest.raises(Exception) as raised:
            next(iter(make()))
        a.join(20)
        return seen, raised.value

    stock_seen, stock_error = run("stock", "events", "events")
    assert len(stock_seen) == 20
    pairs = {"installed": [("events", "events"), ("parts", "parts"), ("events", "parts")],
             "wrapped": [("events", "events"), ("parts", "body events")],
             "payload_parts": [("parts", "parts"), ("parts", "body events")]}
    try:
        for mode, cases in pairs.items():
            for first, second in cases:
                seen, error = run(mode, first, second)
                fastsmr.uninstall()
                assert seen == stock_seen, (mode, first, second)
                assert type(error) is type(stock_error) and str(error) == str(stock_error)
    finally:
        fastsmr.uninstall()


def wait_until_reading(body: Any) -> None:
    """Wait until the generator that reads ``body`` is blocked in a read (stock's or fastsmr's)."""
    source = body._event_generator
    generator = getattr(source, "reading", source)
    deadline = time.monotonic() + 10
    while not generator.gi_running:
        assert time.monotonic() < deadline, "the first consumer never waited for data"
        time.sleep(0.001)


# --- switching at any message: all parts in one HTTP chunk ------------------------------


def parts_wire(count: int) -> Tuple[List[bytes], bytes]:
    payloads = [b"part %d" % i for i in range(count)]
    wire = b"".join(
        fastsmr.encode({":message-type": "event", ":event-type": "PayloadPart"}, payload) for payload in payloads
    )
    return payloads, wire


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    with LoopbackServer(keep_alive=True) as server:
        yield server


@pytest.mark.parametrize("at", [0, 1, 5, 29, 30])
def test_boto3_readers_switch_at_any_message(backend, loopback, at):
    payloads, wire = parts_wire(30)
    client = boto3.client("sagemaker-runtime", endpoint_url=loopback.url, config=Config(**NO_RETRIES), **CREDENTIALS)
    require_streaming(client)

    def run(mode: str, first: str, then: str) -> List[bytes]:
        loopback.reply(wire, chunk_size=len(wire))
        ways = sync_readers(mode, sync_body(client, mode, ""))
        make, to_part = ways[first]
        seen = take(make(), to_part, at, "break") if at else []
        make, to_part = ways[then]
        return seen + [to_part(item) for item in make()]

    assert run("stock", "events", "events") == payloads
    for mode in MODES:
        for first, then in itertools.permutations(READERS[mode], 2):
            try:
                assert run(mode, first, then) == payloads, (mode, first, then)
            finally:
                fastsmr.uninstall()


# --- a stream that fails to decode closes its connection at once ------------------------


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc/self/fd")


# The corrupt message comes early in a paced stream, so that the error is
# raised while the rest of the body is still on its way.
BAD = paced(20, 400, "fastsmr-fault=bad-crc; fastsmr-fail-after=3")


@needs_proc
def test_boto3_a_stream_that_fails_to_decode_closes_its_connection_at_once(backend, client):
    def run(mode: str) -> int:
        kept = []  # the responses stay referenced, as a service's request context may keep them
        make, _ = next(iter(sync_readers(mode, sync_body(client, mode, BAD)).values()))
        with pytest.raises(bes.ChecksumMismatch):
            list(make())  # warm: the pool's first connection
        gc.collect()
        gc.disable()  # no help from the cyclic collector
        try:
            before = open_descriptors()
            for _ in range(30):
                body = sync_body(client, mode, BAD)
                kept.append(body)
                make, _ = next(iter(sync_readers(mode, body).values()))
                with pytest.raises(bes.ChecksumMismatch):
                    list(make())
            return open_descriptors() - before
        finally:
            gc.enable()
            fastsmr.uninstall()

    assert run("stock") <= 2
    for mode in MODES:
        assert run(mode) <= 2, mode


# --- aiobotocore ------------------------------------------------------------------------


@pytest.fixture
def aio_session() -> Any:
    return pytest.importorskip("aiobotocore.session")


def aio_client(session: Any, url: str) -> Any:
    from aiobotocore.config import AioConfig

    return session.get_session().create_client(
        "sagemaker-runtime", endpoint_url=url, config=AioConfig(**NO_RETRIES), **CREDENTIALS
    )


def aio_readers(mode: str, body: Any) -> Dict[str, Reader]:
    """The async twin of :func:`sync_readers`."""
    if mode == "stock":
        return {"events": (lambda: body.__aiter__(), event_part)}
    if mode == "installed":
        return {"events": (lambda: body.__aiter__(), event_part),
                "parts": (lambda: fastsmr.aio.payload_parts(body), same)}
    if mode == "wrapped":
        wrapped = fastsmr.wrap(body)
        assert wrapped is not body
        return {
            "events": (lambda: wrapped.__aiter__(), event_part),
            "parts": (lambda: fastsmr.aio.payload_parts(wrapped), same),
            "body events": (lambda: body.__aiter__(), event_part),
        }
    return {"parts": (lambda: fastsmr.aio.payload_parts(body), same), "body events": (lambda: body.__aiter__(), event_part)}


async def aio_body(client: Any, mode: str, attributes: str) -> Any:
    if mode == "installed":
        assert fastsmr.install()
    response = await client.invoke_endpoint_with_response_stream(
        EndpointName="raw", Body=b"{}", CustomAttributes=attributes
    )
    return response["Body"]


AIO_LEAVES = ("break", "exception", "close", "dropped", "cancelled")


async def aio_take(reader: Any, to_part: Callable[[Any], bytes], count: int, how: str) -> Tuple[List[bytes], bool]:
    """:func:`take` for an async reader; "cancelled" cancels a task waiting for the next part.

    Returns the parts and whether a cancellation hit a task that was waiting.
    """
    got: List[bytes] = []
    try:
        async for item in reader:
            got.append(to_part(item))
            if len(got) == count:
                if how == "exception":
                    raise Leave
                break
    except Leave:
        pass
    if how == "close":
        await reader.aclose()
    hit = False
    if how == "cancelled":
        task = asyncio.ensure_future(reader.__anext__())
        await asyncio.sleep(0)
        task.cancel()
        try:
            got.append(to_part(await task))  # the part was there before the cancellation
        except asyncio.CancelledError:
            hit = True
    return got, hit


async def aio_leave_and_resume(client: Any, mode: str, first: str, then: str, how: str) -> Tuple[List[bytes], bool]:
    body = await aio_body(client, mode, paced(12, 400))
    ways = aio_readers(mode, body)
    make, to_part = ways[first]
    reader = make()
    seen, hit = await aio_take(reader, to_part, 4, how)
    if how == "dropped":
        del reader
        await asyncio.sleep(0)  # the event loop closes a dropped async generator
    make, to_part = ways[then]
    seen += [to_part(item) async for item in make()]
    return seen, hit


def test_aiobotocore_a_consumer_that_leaves_loses_nothing(backend, aio_session, endpoint):
    async def scenario() -> None:
        async with aio_client(aio_session, endpoint.url) as client:
            require_streaming(client)
            stock = {how: await aio_leave_and_resume(client, "stock", "events", "events", how) for how in AIO_LEAVES}
            whole = stock["break"][0]
            assert len(whole) == 12
            for how in ("exception", "close", "dropped"):
                assert stock[how][0] == whole
            # Stock ends the stream when the task waiting in it is cancelled:
            # the rest is lost, silently. fastsmr's stream goes on.
            if stock["cancelled"][1]:
                assert len(stock["cancelled"][0]) < 12
            cancellations = 0
            for mode in MODES:
                names = READERS[mode]
                for first, then, how in itertools.product(names, names, AIO_LEAVES):
                    if mode == "payload_parts" and first == "body events" and how == "cancelled":
                        continue  # aiobotocore's own reader, before fastsmr took the stream: stock's loss
                    try:
                        seen, hit = await aio_leave_and_resume(client, mode, first, then, how)
                    finally:
                        fastsmr.uninstall()
                    assert seen == whole, (mode, first, then, how)
                    cancellations += hit
            assert cancellations > 0  # a task waiting for data was cancelled at least once

    asyncio.run(scenario())


def test_aiobotocore_a_second_consumer_raises_stocks_error_and_the_first_reads_on(backend, aio_session, endpoint):
    async def run(client: Any, mode: str, first: str, second: str) -> Tuple[List[bytes], BaseException]:
        body = await aio_body(client, mode, paced(20, 80))
        ways = aio_readers(mode, body)
        five = asyncio.Event()
        seen: List[bytes] = []

        async def consumer_a() -> None:
            make, to_part = ways[first]
            async for item in make():
                seen.append(to_part(item))
                if len(seen) == 5:
                    five.set()

        a = asyncio.ensure_future(consumer_a())
        await five.wait()
        # A runs on to its next read and waits there: B runs only then.
        await asyncio.sleep(0.005)
        make, to_part = ways[second]
        error: Optional[BaseException] = None
        try:
            await make().__anext__()
        except Exception as raised:
            error = raised
        await asyncio.wait_for(a, 20)
        assert error is not None, "the second consumer read"
        return seen, error

    async def scenario() -> None:
        async with aio_client(aio_session, endpoint.url) as client:
            require_streaming(client)
            stock_seen, stock_error = await run(client, "stock", "events", "events")
            assert len(stock_seen) == 20
            pairs = {"installed": [("events", "events"), ("parts", "parts"), ("events", "parts")],
                     "wrapped": [("events", "events"), ("parts", "body events")],
                     "payload_parts": [("parts", "parts"), ("parts", "body events")]}
            for mode, cases in pairs.items():
                for first, second in cases:
                    try:
                        seen, error = await run(client, mode, first, second)
                    finally:
                        fastsmr.uninstall()
                    assert seen == stock_seen, (mode, first, second)
                    assert isinstance(error, type(stock_error)), (error, stock_error)
                    assert "already" in str(error)

    asyncio.run(scenario())


@pytest.mark.parametrize("at", [0, 1, 5, 29, 30])
def test_aiobotocore_readers_switch_at_any_message(backend, aio_session, loopback, at):
    payloads, wire = parts_wire(30)

    async def run(client: Any, mode: str, first: str, then: str) -> List[bytes]:
        loopback.reply(wire, chunk_size=len(wire))
        ways = aio_readers(mode, await aio_body(client, mode, ""))
        make, to_part = ways[first]
        seen = (await aio_take(make(), to_part, at, "break"))[0] if at else []
        make, to_part = ways[then]
        return seen + [to_part(item) async for item in make()]

    async def scenario() -> None:
        async with aio_client(aio_session, loopback.url) as client:
            require_streaming(client)
            assert await run(client, "stock", "events", "events") == payloads
            for mode in MODES:
                for first, then in itertools.permutations(READERS[mode], 2):
                    try:
                        assert await run(client, mode, first, then) == payloads, (mode, first, then)
                    finally:
                        fastsmr.uninstall()

    asyncio.run(scenario())


@needs_proc
def test_aiobotocore_a_stream_that_fails_to_decode_closes_its_connection_at_once(backend, aio_session, endpoint):
    async def run(client: Any, mode: str) -> int:
        kept = []

        async def one() -> None:
            body = await aio_body(client, mode, BAD)
            kept.append(body)
            make, _ = next(iter(aio_readers(mode, body).values()))
            with pytest.raises(bes.ChecksumMismatch):
                async for _ in make():
                    pass

        await one()  # warm: the pool's first connection
        gc.collect()
        gc.disable()
        try:
            before = open_descriptors()
            for _ in range(30):
                await one()
            return open_descriptors() - before
        finally:
            gc.enable()
            fastsmr.uninstall()

    async def scenario() -> Dict[str, int]:
        async with aio_client(aio_session, endpoint.url) as client:
            require_streaming(client)
            return {mode: await run(client, mode) for mode in ("stock",) + MODES}

    grown = asyncio.run(scenario())
    for mode in MODES:
        assert grown[mode] <= 2, grown

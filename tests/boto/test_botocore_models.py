"""For every event-stream operation in botocore's models, installed fastsmr gives stock botocore's events.

The same bytes, chunked at random, go through a stock ``EventStream``, one
under ``fastsmr.install()`` and one through ``fastsmr.wrap()`` (and the
aiobotocore twins); everything a user can observe must be equal: each event
with its key order and value types, the exception (class, message and
``.response``), what ``get_initial_response()`` returns, and what iterating
again after the end or an error yields.
"""

from __future__ import annotations

from typing import Any, Callable, List

import botocore.session
import pytest
from botocore.eventstream import EventStream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import dropin_models
from support.dropin_models import described, typed
import fastsmr

OPERATIONS = dropin_models.operations()
IDS = [operation.id for operation in OPERATIONS]
_PARSERS: dict = {}


@pytest.fixture(autouse=True)
def stock_botocore():
    """Each test starts and ends with botocore stock, whatever ran before it."""
    fastsmr.uninstall()
    yield
    fastsmr.uninstall()


def test_the_walk_finds_the_known_operations():
    found = {(operation.service, operation.name) for operation in OPERATIONS}
    session = botocore.session.get_session()
    available = set(session.get_available_services())
    known = [
        ("sagemaker-runtime", "InvokeEndpointWithResponseStream"),
        ("bedrock-runtime", "ConverseStream"),
        ("bedrock-runtime", "InvokeModelWithResponseStream"),
        ("lambda", "InvokeWithResponseStream"),
        ("s3", "SelectObjectContent"),
        ("kinesis", "SubscribeToShard"),
        ("logs", "StartLiveTail"),
    ]
    for service, name in known:  # those this botocore has must all be found
        if service in available and name in session.get_service_model(service).operation_names:
            assert (service, name) in found
    assert ("s3", "SelectObjectContent") in found and len(found) >= 4 + 3


def parser_for(operation: dropin_models.Operation, factory: Any = None) -> Any:
    key = (operation.protocol, factory)
    if key not in _PARSERS:
        _PARSERS[key] = dropin_models.event_stream_parser(operation.protocol, *([factory] if factory else []))
    return _PARSERS[key]


def initial(message: Any) -> Any:
    return (
        "initial", typed(message.headers), message.payload, vars(message.prelude),
        message.crc, typed(message.to_response_dict()),
    )


class RawStream:
    """What botocore's EventStream reads: an object with ``stream()`` and ``close()``."""

    def __init__(self, chunks: List[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def stream(self):
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


def chunked(data: bytes, sizes: List[int]) -> List[bytes]:
    chunks, position = [], 0
    for size in sizes:
        chunks.append(data[position : position + size])
        position += size
    chunks.append(data[position:])
    return chunks


def observe(stream: Any, ask_initial: bool) -> List[Any]:
    seen: List[Any] = []
    if ask_initial:
        try:
            seen.append(initial(stream.get_initial_response()))
        except Exception as error:
            seen.append(described(error))
    for _ in range(2):  # the second pass: what is left after the end or an error
        events = []
        try:
            for event in stream:
                events.append(typed(event))
        except Exception as error:
            events.append(described(error))
        seen.append(events)
    return seen


STREAMS = st.data()
# The backend fixture is the same for every example of a test: that is intended.
# There are some 30 operations times two backends: a third of the profile's
# examples each (a sixth for aiobotocore, which shares the converters) keeps
# the suite quick while every operation still gets dozens of streams.
SYNC = settings(
    suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture],
    max_examples=max(10, min(25, settings.default.max_examples // 3)),
)
AIO = settings(SYNC, max_examples=max(8, min(12, settings.default.max_examples // 6)))


def draw_case(data: Any, operation: dropin_models.Operation) -> tuple:
    messages = data.draw(dropin_models.stream(operation), label="messages")
    wire = dropin_models.encode(messages)
    sizes = data.draw(st.lists(st.integers(0, 90), max_size=12), label="chunk sizes")
    ask_initial = data.draw(st.booleans(), label="get_initial_response")
    return chunked(wire, sizes), ask_initial


@pytest.mark.parametrize("operation", OPERATIONS, ids=IDS)
@SYNC
@given(data=STREAMS)
def test_installed_and_wrapped_events_equal_stock(backend, operation, data):
    chunks, ask_initial = draw_case(data, operation)
    parser = parser_for(operation)

    def make() -> EventStream:
        return EventStream(RawStream(chunks), operation.shape, parser, operation.name)

    assert not fastsmr.is_installed()
    stock = observe(make(), ask_initial)
    wrapped = observe(fastsmr.wrap(make()), ask_initial)
    assert fastsmr.install()
    try:
        installed = observe(make(), ask_initial)
    finally:
        fastsmr.uninstall()
    assert installed == stock
    assert wrapped == stock


# --- aiobotocore ------------------------------------------------------------------

@pytest.fixture
def aio() -> Any:
    """aiobotocore's eventstream and parsers modules (the aio tests skip without aiobotocore)."""
    eventstream = pytest.importorskip("aiobotocore.eventstream")
    import aiobotocore.parsers

    return eventstream, aiobotocore.parsers


def run(awaitable: Any) -> Any:
    """Run a coroutine that never really waits (the fake response below), with no loop."""
    try:
        awaitable.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the coroutine waited")


class AioContent:
    """What AioEventStream reads: ``raw_stream.content.iter_chunks()`` like aiohttp's."""

    def __init__(self, chunks: List[bytes]) -> None:
        self.chunks = chunks

    async def iter_chunks(self):
        for chunk in self.chunks:
            yield chunk, True


class AioRawStream(RawStream):
    def __init__(self, chunks: List[bytes]) -> None:
        super().__init__(chunks)
        self.content = AioContent(chunks)


async def observe_async(stream: Any, ask_initial: bool) -> List[Any]:
    seen: List[Any] = []
    if ask_initial:
        try:
            seen.append(initial(await stream.get_initial_response()))
        except Exception as error:
            seen.append(described(error))
    for _ in range(2):
        events = []
        try:
            async for event in stream:
                events.append(typed(event))
        except Exception as error:
            events.append(described(error))
        seen.append(events)
    return seen


@pytest.mark.parametrize("operation", OPERATIONS, ids=IDS)
@AIO
@given(data=STREAMS)
def test_aio_installed_and_wrapped_events_equal_stock(backend, aio, operation, data):
    eventstream, parsers = aio
    chunks, ask_initial = draw_case(data, operation)
    parser = parser_for(operation, parsers)
    make: Callable[[], Any] = lambda: eventstream.AioEventStream(  # noqa: E731
        AioRawStream(chunks), operation.shape, parser, operation.name
    )
    stock = run(observe_async(make(), ask_initial))
    wrapped = run(observe_async(fastsmr.wrap(make()), ask_initial))
    assert fastsmr.install()
    try:
        installed = run(observe_async(make(), ask_initial))
    finally:
        fastsmr.uninstall()
    assert installed == stock
    assert wrapped == stock

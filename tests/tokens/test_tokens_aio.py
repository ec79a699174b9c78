"""fastsmr.aio's twins give what the synchronous helpers give, over async iterables."""

from __future__ import annotations

import asyncio
import pathlib
from typing import AsyncIterator, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastsmr
import fastsmr.aio

FIXTURES = pathlib.Path(__file__).parent.parent / "support" / "fixtures" / "tokens"


async def agen(parts: List[bytes], log: List[bytes] = None) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)  # a real suspension point between parts
        if log is not None:
            log.append(part)
        yield part


def collect(aiterable) -> list:
    async def run():
        return [item async for item in aiterable]

    return asyncio.run(run())


def chunks(data: bytes, size: int) -> List[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the backend fixture only selects a module
@given(st.binary(max_size=60).map(lambda b: b.replace(b"A", b"\n").replace(b"B", b"\r")), st.integers(1, 9), st.booleans())
def test_lines_twin(backend, stream, size, keepends):
    parts = chunks(stream, size)
    assert collect(fastsmr.aio.lines(agen(parts), keepends=keepends)) == list(fastsmr.lines(parts, keepends=keepends))


def sync_outcome(iterable) -> tuple:
    got = []
    try:
        for item in iterable:
            got.append(item)
    except (fastsmr.TextStreamError, UnicodeDecodeError) as error:
        return got, type(error), str(error)
    return got, None, ""


def async_outcome(aiterable) -> tuple:
    got = []

    async def run():
        async for item in aiterable:
            got.append(item)

    try:
        asyncio.run(run())
    except (fastsmr.TextStreamError, UnicodeDecodeError) as error:
        return got, type(error), str(error)
    return got, None, ""


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*") if p.suffix in (".sse", ".jsonl", ".txt")))
@pytest.mark.parametrize("size", [1, 5, 4096])
def test_fixture_twins(backend, name, size):
    # The same events, texts and errors (JSON lines are no SSE: sse_events raises on them).
    parts = chunks((FIXTURES / name).read_bytes(), size)
    assert async_outcome(fastsmr.aio.sse_events(agen(parts))) == sync_outcome(fastsmr.sse_events(parts))
    expected = sync_outcome(fastsmr.text_stream(parts))
    assert async_outcome(fastsmr.aio.text_stream(agen(parts))) == expected
    assert expected[0] or expected[1]  # every fixture gives text or an error


def test_text_stream_twin_options(backend):
    parts = [b"caf\xc3", b"\xa9 \xff"]
    assert collect(fastsmr.aio.text_stream(agen(parts), "raw", errors="replace")) == ["caf", "é \ufffd"]
    with pytest.raises(ValueError, match="unknown format"):
        fastsmr.aio.text_stream(agen(parts), "nope")


def test_done_drains_the_async_stream(backend):
    log: List[bytes] = []
    parts = [b'data: {"choices":[{"index":0,"text":"a"}]}\n\ndata: [DONE]\n\n', b": keep-alive\n\n", b"\n"]
    assert collect(fastsmr.aio.text_stream(agen(parts, log))) == ["a"]
    assert log == parts
    late = [*parts, b"data: late\n\n"]
    assert async_outcome(fastsmr.aio.text_stream(agen(late)))[:2] == (["a"], fastsmr.TextStreamError)


def test_error_raised_after_earlier_tokens_arrive(backend):
    parts = chunks((FIXTURES / "tgi_error.sse").read_bytes(), 7)
    got = []

    async def run():
        async for text in fastsmr.aio.text_stream(agen(parts)):
            got.append(text)

    with pytest.raises(fastsmr.ModelServerError, match="CUDA out of memory"):
        asyncio.run(run())
    assert got == ["The", " answer"]


def test_error_surfaces_before_the_next_part_is_read(backend):
    async def parts():
        yield (FIXTURES / "lmi_error.jsonl").read_bytes()
        raise AssertionError("the stream was read past the error")

    got = []

    async def run():
        async for text in fastsmr.aio.text_stream(parts()):
            got.append(text)

    with pytest.raises(fastsmr.ModelServerError):
        asyncio.run(run())
    assert got == ["Once", " upon"]

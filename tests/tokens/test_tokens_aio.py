"""fastsmr.aio's twins give what the synchronous helpers give, over async iterables."""

from __future__ import annotations

import asyncio
import pathlib
from typing import AsyncIterator, List

import pytest
from hypothesis import given
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


@given(st.binary(max_size=60).map(lambda b: b.replace(b"A", b"\n").replace(b"B", b"\r")), st.integers(1, 9), st.booleans())
def test_lines_twin(stream, size, keepends):
    parts = chunks(stream, size)
    assert collect(fastsmr.aio.lines(agen(parts), keepends=keepends)) == list(fastsmr.lines(parts, keepends=keepends))


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*") if p.suffix in (".sse", ".jsonl", ".txt")))
@pytest.mark.parametrize("size", [1, 5, 4096])
def test_fixture_twins(name, size):
    parts = chunks((FIXTURES / name).read_bytes(), size)
    assert collect(fastsmr.aio.sse_events(agen(parts))) == list(fastsmr.sse_events(parts))
    try:
        expected = list(fastsmr.text_stream(parts))
    except fastsmr.ModelServerError as error:
        with pytest.raises(fastsmr.ModelServerError) as info:
            collect(fastsmr.aio.text_stream(agen(parts)))
        assert info.value.message == error.message
    else:
        assert collect(fastsmr.aio.text_stream(agen(parts))) == expected
        assert expected


def test_text_stream_twin_options():
    parts = [b"caf\xc3", b"\xa9 \xff"]
    assert collect(fastsmr.aio.text_stream(agen(parts), "raw", errors="replace")) == ["caf", "é \ufffd"]
    with pytest.raises(ValueError, match="unknown format"):
        fastsmr.aio.text_stream(agen(parts), "nope")


def test_done_drains_the_async_stream():
    log: List[bytes] = []
    parts = [b'data: {"choices":[{"index":0,"text":"a"}]}\n\ndata: [DONE]\n\n', b"data: late\n\n", b"more"]
    assert collect(fastsmr.aio.text_stream(agen(parts, log))) == ["a"]
    assert log == parts


def test_error_raised_after_earlier_tokens_arrive():
    parts = chunks((FIXTURES / "tgi_error.sse").read_bytes(), 7)
    got = []

    async def run():
        async for text in fastsmr.aio.text_stream(agen(parts)):
            got.append(text)

    with pytest.raises(fastsmr.ModelServerError, match="CUDA out of memory"):
        asyncio.run(run())
    assert got == ["The", " answer"]


def test_error_surfaces_before_the_next_part_is_read():
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

"""fastsmr.lines: whatever the chunking, the same result as a straightforward
reference over the whole stream, and the same in the C and the pure-Python
backend whatever the parts (of any type)."""

from __future__ import annotations

import array
import contextlib
import io
from typing import Any, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastsmr
from fastsmr.codec import _codec_py
from support.token_streams import chunked

try:
    from fastsmr.codec import _codec_c
except ImportError:  # the pure-only install
    _codec_c = None


# Bytes rich in what matters here: line ends, colons, spaces, multi-byte UTF-8.
stream_bytes = st.lists(
    st.sampled_from([b"\n", b"\r", b"\r\n", b"a", b"data", b":", b" ", b"\xc3\xa9", b"\xf0\x9f\x9a\x80", b"\x00", b"{}"]),
    max_size=40,
).map(b"".join)


# -- lines ---------------------------------------------------------------------


def reference_lines(data: bytes, keepends: bool) -> List[bytes]:
    """BytesIO's readline splits on b"\\n" only, exactly the contract of lines()."""
    out = []
    for line in io.BytesIO(data):
        if not keepends:
            line = line[:-1] if line.endswith(b"\n") else line
            line = line[:-1] if line.endswith(b"\r") else line
        out.append(line)
    return out


# The backend fixture only selects a module: nothing in it needs resetting per example.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data(), stream_bytes, st.booleans())
def test_lines_matches_reference_for_any_chunking(backend, data, stream, keepends):
    parts = data.draw(chunked(stream))
    assert list(fastsmr.lines(parts, keepends=keepends)) == reference_lines(stream, keepends)


@pytest.mark.parametrize("keepends", [False, True])
def test_lines_every_single_cut(backend, keepends):
    stream = b'data:{"t":"\xc3\xa9"}\r\n\r\nline two\nlast\r'
    expected = reference_lines(stream, keepends)
    for i in range(len(stream) + 1):
        assert list(fastsmr.lines([stream[:i], stream[i:]], keepends=keepends)) == expected
    assert list(fastsmr.lines([bytes([b]) for b in stream], keepends=keepends)) == expected


def test_lines_examples(backend):
    assert list(fastsmr.lines([b'{"a": 1}\r\n{"b"', b': 2}\n', b"tail"])) == [b'{"a": 1}', b'{"b": 2}', b"tail"]
    assert list(fastsmr.lines([b"a\r", b"\nb\n"])) == [b"a", b"b"]  # CRLF split across parts
    assert list(fastsmr.lines([b"a\r", b"\nb\n"], keepends=True)) == [b"a\r\n", b"b\n"]
    assert list(fastsmr.lines([b"\n\n"])) == [b"", b""]
    assert list(fastsmr.lines([b"x\ry\n"])) == [b"x\ry"]  # a lone CR is not a line end
    assert list(fastsmr.lines([])) == []
    assert list(fastsmr.lines([b"", b""])) == []


def test_lines_is_lazy(backend):
    def parts():
        yield b"first\nsec"
        raise RuntimeError("the stream broke")

    it = fastsmr.lines(parts())
    assert next(it) == b"first"
    with pytest.raises(RuntimeError, match="broke"):
        next(it)


def test_lines_large_part_split_in_windows(backend):
    # Parts above the window size are split lazily a window at a time; a CRLF
    # and a multi-byte character straddle the window boundaries here.
    from fastsmr.tokens.lines import _WINDOW

    body = b"".join(b"line %d \xc3\xa9\r\n" % i for i in range(20000))
    body = b"x" * (_WINDOW - 1) + b"\r\n" + body + b"no end\r"
    for keepends in (False, True):
        assert list(fastsmr.lines([body[:5], body[5:]], keepends=keepends)) == reference_lines(body, keepends)


def test_lines_long_line_across_many_parts(backend):
    # A line spread over many parts is joined once, not re-copied per part.
    parts = [b"x" * 1000] * 5000 + [b"\nend"]
    out = list(fastsmr.lines(parts))
    assert out == [b"x" * 5_000_000, b"end"]


# -- parts that are not bytes: the same error in both backends, never an early end --


def test_lines_none_is_a_part_not_the_end(backend):
    it = fastsmr.lines([b"a\n", None, b"b\n"])
    assert next(it) == b"a"
    with pytest.raises(TypeError, match=r"^a part must be bytes-like \(bytes, bytearray, memoryview\), got NoneType$"):
        next(it)


def test_lines_int_is_no_part(backend):
    # bytes(123) would be 123 NUL bytes.
    with pytest.raises(TypeError, match=r"^a part must be bytes-like \(bytes, bytearray, memoryview\), got int$"):
        list(fastsmr.lines([123]))
    with pytest.raises(TypeError, match="got str$"):
        list(fastsmr.lines([b"x", "text\n"]))


def test_lines_event_dicts_name_payload_parts(backend):
    with pytest.raises(TypeError, match=r"got dict: an event of an event stream\? pass fastsmr.payload_parts"):
        list(fastsmr.lines([{"PayloadPart": {"Bytes": b"a\n"}}]))


def test_lines_any_buffer_is_a_part(backend):
    parts = [bytearray(b"a\nb"), memoryview(b"c\n"), array.array("B", b"d\n"), memoryview(array.array("H", [0x0A41]))]
    assert list(fastsmr.lines(parts)) == [b"a", b"bc", b"d", b"A"]  # 0x0A41 little-endian is "A\n"


@contextlib.contextmanager
def using(module):
    saved = fastsmr.codec.backend.impl
    fastsmr.codec.backend.impl = module
    try:
        yield
    finally:
        fastsmr.codec.backend.impl = saved


def outcome(parts: List[Any], keepends: bool) -> Tuple[List[bytes], Optional[Tuple[str, str]]]:
    """The lines up to the first error, and that error's type and message."""
    got: List[bytes] = []
    try:
        for line in fastsmr.lines(parts, keepends=keepends):
            got.append(line)
    except Exception as exc:  # any exception: both backends must raise the same
        return got, (type(exc).__name__, str(exc))
    return got, None


def agree(parts: List[Any], keepends: bool) -> None:
    if _codec_c is None:
        pytest.skip("the C extension is not installed")
    with using(_codec_c):
        c = outcome(parts, keepends)
    with using(_codec_py):
        python = outcome(parts, keepends)
    assert c == python


# Parts of every kind: bytes rich in line ends, other buffers, and things that are not bytes-like.
not_bytes_like = st.sampled_from([None, 0, 123, "a\n", {"PayloadPart": {"Bytes": b"x\n"}}, [10], 1.5, object()])
buffers = st.tuples(st.binary(max_size=24), st.sampled_from([bytes, bytearray, memoryview, lambda b: array.array("B", b)]))
any_part = st.one_of(
    stream_bytes,
    buffers.map(lambda pair: pair[1](pair[0])),
    not_bytes_like,
)


@given(st.lists(any_part, max_size=12), st.booleans())
def test_lines_backends_agree_on_any_parts(parts, keepends):
    agree(parts, keepends)


@given(st.data(), st.binary(max_size=200), st.booleans())
def test_lines_backends_agree_on_random_bytes(data, stream, keepends):
    agree(data.draw(chunked(stream)), keepends)


def test_lines_backends_agree_on_large_parts():
    body = b"".join(b"line %d\r\n" % i for i in range(10000)) + b"tail"
    agree([body[:7], body[7:], b"\n"], False)
    agree([body[:7], None, body[7:]], True)

"""ChunkedDecoder: HTTP/1.1 chunked transfer coding, with urllib3 as the oracle.

botocore reads bodies through urllib3, so what urllib3 reads from a chunked
body is what the decoder must read: the same data for every body urllib3
accepts (bar the garbage it takes for chunks, listed in csrc/chunked.c),
and an error for every body urllib3 rejects. Both backends must agree on
everything, error messages and offsets included.
"""

from __future__ import annotations

import http.client
import io
import random
from typing import Any, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.response import HTTPResponse

import fastsmr
from fastsmr.codec import _codec_py as _pure
from fastsmr.codec.errors import MAX_CHUNK_LINE

try:
    from fastsmr.codec import _codec_c as _speedups
except ImportError:
    _speedups = None


class _Socket:
    """What http.client needs of a socket: a file to read the response from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> Any:
        return io.BufferedReader(io.BytesIO(self._data))


def urllib3_reads(body: bytes) -> Optional[bytes]:
    """The data urllib3's ``stream()`` reads from a chunked ``body``; None if it raises."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    original = http.client.HTTPResponse(_Socket(head + body), method="GET")  # type: ignore[arg-type]
    original.begin()
    response = HTTPResponse(body=original, headers=dict(original.msg.items()), status=original.status, preload_content=False,
                            decode_content=False, original_response=original)
    try:
        return b"".join(response.stream())
    except (Urllib3Error, ValueError):
        return None


def decode_in_pieces(module: Any, body: bytes, cuts: List[int]) -> Tuple[List[bytes], Any, int]:
    """(data per feed, the error or None, unused) feeding ``body`` cut at ``cuts``, then close()."""
    decoder = module.ChunkedDecoder()
    out: List[bytes] = []
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(body)), len(body)]
    try:
        for index, (start, stop) in enumerate(zip(bounds, bounds[1:])):
            if index % 2:
                out.append(decoder.feed(body[start:stop]))
            else:
                piece = bytearray(body[start:stop])
                out.append(decoder.feed(piece))
                piece[:] = b"\xa5" * len(piece)  # reused by the caller: what was read is kept
        decoder.close()
    except fastsmr.ChunkedEncodingError as error:
        assert decoder.offset == error.offset
        with pytest.raises(fastsmr.ChunkedEncodingError) as again:
            decoder.feed(b"0\r\n\r\n")  # a failed decoder stays failed
        assert str(again.value) == str(error)
        return out, (str(error), error.problem, error.offset, error.found), decoder.unused
    return out, None, decoder.unused


# --- bodies as servers write them ---------------------------------------------

line_ends = st.sampled_from([b"\r\n", b"\n"])
blanks = st.sampled_from([b"", b" ", b"\t ", b"  "])


@st.composite
def chunked_bodies(draw, ended: Optional[bool] = None) -> Tuple[bytes, bytes]:
    """(a chunked body urllib3 accepts, its data); ``ended``: with the blank line that ends it, or without."""
    datas = draw(st.lists(st.binary(min_size=1, max_size=300), max_size=8))
    wire = []
    for data in datas:
        digits = f"{len(data):x}"
        digits = draw(st.sampled_from([digits, digits.upper(), "000" + digits]))
        extension = draw(st.sampled_from([b"", b";name=value", b';a="b c";d']))
        wire.append(digits.encode() + draw(blanks) + extension + draw(line_ends) + data + b"\r\n")
    wire.append(b"0" + draw(st.sampled_from([b"", b";last"])) + draw(line_ends))
    trailers = draw(st.lists(st.sampled_from([b"X-Checksum: abc", b"Expires: 0"]), max_size=2))
    wire += [t + draw(line_ends) for t in trailers]
    ends = [b"\r\n", b"\n"] if ended else [b""] if ended is False else [b"\r\n", b"\n", b""]
    wire.append(draw(st.sampled_from(ends)))  # urllib3 accepts a body cut short after the last chunk
    return b"".join(wire), b"".join(datas)


cut_lists = st.lists(st.integers(0, 3000), max_size=12)
# The backend fixture only selects a module: nothing in it needs resetting per example.
per_backend = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@per_backend
@given(chunked_bodies(), cut_lists)
def test_reads_what_urllib3_reads(backend, body_and_data, cuts):
    body, data = body_and_data
    assert urllib3_reads(body) == data
    out, error, unused = decode_in_pieces(backend, body, cuts)
    assert error is None and unused == 0
    assert b"".join(out) == data
    assert all(type(piece) is bytes for piece in out)


@per_backend
@given(chunked_bodies(ended=True), st.binary(min_size=1, max_size=20), cut_lists)
def test_bytes_after_the_end_are_counted_not_read(backend, body_and_data, extra, cuts):
    body, data = body_and_data
    decoder = backend.ChunkedDecoder()
    out = [decoder.feed(piece) for piece in _pieces(body + extra, cuts)]
    assert decoder.done and b"".join(out) == data
    assert decoder.unused == len(extra)
    assert decoder.offset == len(body)


def _pieces(data: bytes, cuts: List[int]) -> List[bytes]:
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(data)), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@st.composite
def damaged_bodies(draw) -> bytes:
    body, _ = draw(chunked_bodies())
    body = bytearray(body)
    for _ in range(draw(st.integers(1, 3))):
        if not body:
            break
        at = draw(st.integers(0, len(body) - 1))
        how = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        if how == "flip":
            body[at] = draw(st.integers(0, 255))
        elif how == "delete":
            del body[at]
        elif how == "insert":
            body.insert(at, draw(st.sampled_from(b"0aG \t;\r\n-x_+")))
        else:
            del body[at:]
    return bytes(body)


@per_backend
@given(damaged_bodies(), cut_lists)
def test_rejects_what_urllib3_rejects(backend, body, cuts):
    theirs = urllib3_reads(body)
    out, error, _ = decode_in_pieces(backend, body, cuts)
    if error is None:
        assert b"".join(out) == theirs, "accepted a body urllib3 rejects, or read other data"
    # else: urllib3 may take garbage for chunks (see csrc/chunked.c); the
    # decoder says where it is instead.


@pytest.mark.c_extension
@given(st.one_of(damaged_bodies(), st.binary(max_size=200)), cut_lists)
def test_backends_agree_on_any_bytes(body, cuts):
    assert decode_in_pieces(_speedups, body, cuts) == decode_in_pieces(_pure, body, cuts)


# --- each error, named ----------------------------------------------------------

ERRORS = [
    (b"g\r\n", "size", 0, "expected a hex digit of a chunk size, found b'g'"),
    (b"\r\n", "size", 0, "expected a hex digit of a chunk size, found b'\\r'"),
    (b"0x5\r\nhello\r\n", "size_line", 1, "expected ';' or a line end after the chunk size, found b'x'"),
    (b"+5\r\n", "size", 0, "expected a hex digit of a chunk size, found b'+'"),
    (b"5 5\r\n", "size_line", 2, "expected ';' or a line end after the chunk size, found b'5'"),
    (b"5\rhello", "line_end", 2, "expected LF after CR, found b'h'"),
    (b"2\r\nabXY", "data_end", 5, "expected CRLF after the chunk data, found b'X'"),
    (b"2\r\nab\n0\r\n\r\n", "data_end", 5, "expected CRLF after the chunk data, found b'\\n'"),
    (b"2\r\nab\rX", "line_end", 6, "expected LF after CR, found b'X'"),
    (b"1" * 17 + b"\r\n", "size_overflow", 16, "the chunk size does not fit in 64 bits"),
    (b"0\r\n\rX", "line_end", 4, "expected LF after CR, found b'X'"),
    (b"5\r\nab", "data_left", 5, "the body ended inside a chunk, 3 bytes of its data short"),
    (b"2\r\nab\r\n", "no_last_chunk", 7, "the body ended before the last chunk"),
    (b"", "no_last_chunk", 0, "the body ended before the last chunk"),
    (b"5;" + b"e" * MAX_CHUNK_LINE, "line_length", MAX_CHUNK_LINE, f"longer than {MAX_CHUNK_LINE} bytes"),
    (b"0\r\nX: " + b"y" * MAX_CHUNK_LINE, "line_length", 3 + MAX_CHUNK_LINE, f"longer than {MAX_CHUNK_LINE} bytes"),
]


@pytest.mark.parametrize("body, problem, offset, says", ERRORS, ids=[e[1] + str(i) for i, e in enumerate(ERRORS)])
def test_errors_name_the_offset_and_the_byte(backend, body, problem, offset, says):
    for cuts in ([], list(range(len(body)))[:200], [random.Random(offset).randrange(len(body) + 1)]):
        _, error, _ = decode_in_pieces(backend, body, cuts)
        assert error is not None
        message, found_problem, found_offset, _ = error
        assert (found_problem, found_offset) == (problem, offset)
        assert message.startswith(f"invalid chunked transfer coding at offset {offset}: ")
        assert says in message


def test_size_line_and_trailers_at_the_limit_are_accepted(backend):
    line = b"5;" + b"e" * (MAX_CHUNK_LINE - 4) + b"\r\n"
    trailer = b"X: " + b"y" * (MAX_CHUNK_LINE - 7) + b"\r\n" + b"\r\n"
    assert len(line) == MAX_CHUNK_LINE and len(trailer) == MAX_CHUNK_LINE
    body = line + b"hello\r\n0\r\n" + trailer
    assert urllib3_reads(body) == b"hello"
    out, error, _ = decode_in_pieces(backend, body, [100, 70000])
    assert error is None and b"".join(out) == b"hello"


def test_a_huge_declared_chunk_allocates_nothing_up_front(backend):
    decoder = backend.ChunkedDecoder()
    assert decoder.feed(b"7fffffffffffffff\r\nabc") == b"abc"
    with pytest.raises(fastsmr.ChunkedEncodingError, match="9223372036854775804 bytes of its data short"):
        decoder.close()


def test_feeds_any_bytes_like_object(backend):
    body = b"3\r\nabc\r\n0\r\n\r\n"
    for kind in (bytes, bytearray, memoryview):
        decoder = backend.ChunkedDecoder()
        assert decoder.feed(kind(body)) == b"abc" and decoder.done


def test_a_chunk_is_read_without_copying_more_than_once(backend):
    # A 4 MiB chunk fed in 64 KiB pieces comes back piece by piece.
    data = random.Random(1).randbytes(4 << 20)
    body = b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n"
    decoder = backend.ChunkedDecoder()
    out = [decoder.feed(piece) for piece in _pieces(body, list(range(0, len(body), 65536)))]
    assert b"".join(out) == data and decoder.done
    assert max(len(piece) for piece in out) <= 65536

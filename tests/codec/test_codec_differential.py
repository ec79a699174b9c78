"""Differential property tests: botocore's EventStreamBuffer is the oracle.

Random messages split at random points must decode exactly as botocore
decodes them; random corruptions must fail where botocore fails (with the
matching error class), and where botocore crashes with a generic error or
returns short data, we must raise a clear DecodeError. The two backends must
agree on everything, error messages included.
"""

from __future__ import annotations

import array
import struct
import zlib

import botocore.eventstream as be
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastsmr
from support import backends

BOTOCORE_CLASSES = {
    fastsmr.ChecksumMismatch: be.ChecksumMismatch,
    fastsmr.InvalidHeadersLength: be.InvalidHeadersLength,
    fastsmr.InvalidPayloadLength: be.InvalidPayloadLength,
    fastsmr.DuplicateHeader: be.DuplicateHeader,
}

names = st.text(max_size=12).filter(lambda s: len(s.encode()) < 256)
values = st.one_of(
    st.booleans(),
    st.integers(-128, 127).map(fastsmr.Byte),
    st.integers(-(2**15), 2**15 - 1).map(fastsmr.Short),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**63 - 1).map(fastsmr.Long),
    st.binary(max_size=40),
    st.text(max_size=20),
    st.integers(-(2**63), 2**63 - 1).map(fastsmr.Timestamp),
    st.binary(min_size=16, max_size=16).map(fastsmr.Uuid),
)


@st.composite
def payloads(draw):
    if draw(st.integers(0, 9)) == 0:
        size = draw(st.integers(0, 100_000))
        return draw(st.randoms(use_true_random=False)).randbytes(size)
    return draw(st.binary(max_size=300))


messages = st.builds(
    fastsmr.encode, st.dictionaries(names, values, max_size=6), payloads()
)
streams = st.lists(messages, min_size=1, max_size=6).map(b"".join)


@st.composite
def chunked(draw, data):
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    edges = [0] + cuts + [len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


def botocore_run(chunks):
    """(messages as (headers, payload), exception or None, bytes left over)."""
    buffer = be.EventStreamBuffer()
    assert type(buffer) is be.EventStreamBuffer, "fastsmr.install() left in effect: the oracle would be fastsmr"
    out = []
    try:
        for chunk in chunks:
            buffer.add_data(chunk)
            for message in buffer:
                out.append((message.headers, message.payload))
    except Exception as exc:  # the oracle may crash with anything
        return out, exc, None
    return out, None, len(buffer._data)


def as_buffer(chunk: bytes, index: int):
    """The chunk as one of the bytes-like objects a caller may feed, by turns: a
    writable one is overwritten once fed (the decoder must have kept a copy)."""
    kind = index % 4
    if kind == 1:
        return bytearray(chunk)
    if kind == 2:
        return memoryview(bytearray(chunk))
    if kind == 3 and len(chunk) % 4 == 0:
        return array.array("I", chunk)  # read as its bytes, whatever its item size
    return chunk


def fastsmr_run(module, chunks):
    decoder = module.Decoder()
    out = []
    try:
        for index, chunk in enumerate(chunks):
            fed = as_buffer(chunk, index + len(chunks))
            out += [(m.headers, m.payload) for m in decoder.feed(fed)]
            if isinstance(fed, (bytearray, memoryview)):
                fed[:] = b"\xa5" * len(chunk)
        decoder.close()
    except fastsmr.DecodeError as exc:
        return out, exc
    return out, None


def strict_headers_ok(block: bytes) -> bool:
    """An independent, minimal well-formedness check of a header block."""
    sizes = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}
    pos, seen = 0, set()
    try:
        while pos < len(block):
            n = block[pos]
            name = block[pos + 1 : pos + 1 + n]
            if len(name) < n:
                return False
            name = name.decode()
            pos += 1 + n
            kind = block[pos]
            pos += 1
            if kind in (6, 7):
                (size,) = struct.unpack_from("!H", block, pos)
                pos += 2
                if kind == 7:
                    block[pos : pos + size].decode()
            elif kind in sizes:
                size = sizes[kind]
            else:
                return False
            if pos + size > len(block) or name in seen:
                return False
            seen.add(name)
            pos += size
    except (IndexError, struct.error, UnicodeDecodeError):
        return False
    return True


def first_unreadable_message(data: bytes) -> bool:
    """Whether the stream holds a message botocore cannot read faithfully:
    impossible lengths or a malformed header block."""
    pos = 0
    while pos + 12 <= len(data):
        total, headers_length, _ = struct.unpack_from("!III", data, pos)
        if total < 16 or headers_length > total - 16:
            return True
        if pos + total > len(data):
            return False
        if not strict_headers_ok(data[pos + 12 : pos + 12 + headers_length]):
            return True
        pos += total
    return False


def stopped_at_unreadable(got, expected, error, data) -> bool:
    """We raised at a message that botocore read short or from impossible
    lengths (botocore then went on, or failed later)."""
    return (
        isinstance(error, (fastsmr.InvalidHeader, fastsmr.InvalidMessageLength))
        and got == expected[: len(got)]
        and len(got) < len(expected)
        and first_unreadable_message(data)
    )


def check_against_botocore(data: bytes, chunks) -> None:
    expected, boto_error, left_over = botocore_run(chunks)
    results = {}
    for module in backends.chosen():
        got, error = fastsmr_run(module, chunks)
        results[module.BACKEND] = (got, error)
        if error is None:
            # Accepting means botocore accepted it all, with the same values.
            assert boto_error is None and not left_over, (boto_error, left_over)
            assert got == expected
            for (ours, _), (theirs, _) in zip(got, expected):
                assert [type(v) for v in ours.values()] == [type(v) for v in theirs.values()]
        elif stopped_at_unreadable(got, expected, error, data):
            pass
        elif boto_error is None:
            assert got == expected
            if left_over:
                # botocore ends quietly with bytes left over; we say how many,
                # or reject an impossible prelude at once.
                if isinstance(error, fastsmr.InvalidMessageLength):
                    assert first_unreadable_message(data)
                else:
                    assert isinstance(error, fastsmr.TruncatedStreamError), error
                    assert error.remaining == left_over
            else:
                # botocore read the last message short: we say what is wrong.
                assert isinstance(error, (fastsmr.InvalidHeader, fastsmr.InvalidMessageLength)), error
                assert first_unreadable_message(data)
        else:
            assert got == expected, (error, boto_error)
            if isinstance(error, fastsmr.InvalidMessageLength):
                # Impossible lengths send botocore down arbitrary paths (a
                # ChecksumMismatch of the wrong bytes, struct.error, ...).
                assert first_unreadable_message(data)
            elif isinstance(boto_error, be.ParserError):
                boto_class = BOTOCORE_CLASSES.get(type(error))
                assert boto_class is not None and isinstance(boto_error, boto_class), (error, boto_error)
            else:
                # A generic crash in botocore: ours names the problem instead.
                assert isinstance(error, (fastsmr.InvalidHeader, fastsmr.DuplicateHeader)), (
                    error, boto_error,
                )
    if len(results) == 2:
        (got_c, err_c), (got_py, err_py) = results["c"], results["python"]
        assert got_c == got_py
        assert type(err_c) is type(err_py)
        assert str(err_c) == str(err_py)
        assert getattr(err_c, "offset", None) == getattr(err_py, "offset", None)


@given(st.data(), streams)
def test_random_messages_random_chunks(data, stream):
    check_against_botocore(stream, data.draw(chunked(stream)))


def reseal(buf: bytearray, pos: int = 0) -> None:
    """Recompute the CRCs of the message at pos, so corruption reaches past them."""
    if len(buf) - pos < 12:
        return
    struct.pack_into("!I", buf, pos + 8, zlib.crc32(bytes(buf[pos : pos + 8])))
    total = struct.unpack_from("!I", buf, pos)[0]
    if 16 <= total <= len(buf) - pos:
        end = pos + total - 4
        struct.pack_into("!I", buf, end, zlib.crc32(bytes(buf[pos:end])))


@st.composite
def corrupted(draw):
    buf = bytearray(draw(streams))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "flip-resealed", "length", "truncate", "garbage"]))
        if kind.startswith("flip") and buf:
            index = draw(st.integers(0, len(buf) - 1))
            buf[index] ^= 1 << draw(st.integers(0, 7))
            if kind == "flip-resealed":
                reseal(buf)
        elif kind == "length" and len(buf) >= 12:
            field = draw(st.sampled_from([0, 4]))
            value = draw(st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1)))
            struct.pack_into("!I", buf, field, value)
            reseal(buf)
        elif kind == "truncate" and buf:
            del buf[draw(st.integers(0, len(buf) - 1)) :]
        else:
            buf += draw(st.binary(max_size=40))
    return bytes(buf)


@given(st.data(), corrupted())
def test_random_corruptions(data, stream):
    check_against_botocore(stream, data.draw(chunked(stream)))


@st.composite
def header_blocks(draw):
    """A header block with one random header spliced in: exercises every
    header error path behind valid CRCs."""
    good = fastsmr.codec.encoder.encode_headers(draw(st.dictionaries(names, values, max_size=3)))
    junk = draw(st.binary(max_size=30))
    name = draw(st.binary(max_size=5))
    kind = draw(st.integers(0, 12))
    spliced = bytes([len(name)]) + name + bytes([kind]) + junk
    return draw(st.sampled_from([good + spliced, spliced + good, good + good]))


@given(st.data(), header_blocks(), st.binary(max_size=50))
def test_malformed_header_blocks(data, block, payload):
    prelude = struct.pack("!II", 16 + len(block) + len(payload), len(block))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + block + payload
    stream = body + struct.pack("!I", zlib.crc32(body))
    check_against_botocore(stream, data.draw(chunked(stream)))


@pytest.mark.parametrize(
    # botocore's cost is quadratic in the chunk count: keep the small chunks short.
    "chunk, size", [(1, 20_000), (7, 100_000), (64, 1 << 20), (1 << 16, 4 << 20)]
)
def test_large_payload_chunked_like_the_network(chunk, size):
    payload = bytes(range(256)) * (size // 256) + b"tail"
    stream = fastsmr.encode({":event-type": "Chunk"}, payload) * 2
    check_against_botocore(stream, [stream[i : i + chunk] for i in range(0, len(stream), chunk)])

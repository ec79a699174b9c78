"""The codec's API and wire-format vectors, run once per backend."""

from __future__ import annotations

import array
import datetime
import pickle
import struct
import uuid
import zlib

import pytest

import fastsmr
from support.wire import frame

SAGEMAKER_HEADERS = {
    ":event-type": "PayloadPart",
    ":content-type": "application/octet-stream",
    ":message-type": "event",
}


def test_backend_names(backend):
    assert backend.BACKEND in ("c", "python")


def test_active_backend_is_exported():
    assert fastsmr.BACKEND == fastsmr.codec.backend.impl.BACKEND
    assert fastsmr.Decoder is fastsmr.codec.backend.impl.Decoder


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, True),
        (False, False),
        (fastsmr.Byte(-128), -128),
        (fastsmr.Byte(127), 127),
        (fastsmr.Short(-32768), -32768),
        (fastsmr.Short(32767), 32767),
        (-(2**31), -(2**31)),
        (2**31 - 1, 2**31 - 1),
        (2**31, 2**31),  # does not fit int32: sent as long
        (fastsmr.Long(-(2**63)), -(2**63)),
        (fastsmr.Long(2**63 - 1), 2**63 - 1),
        (b"\x00\xffbytes", b"\x00\xffbytes"),
        (bytearray(b"ba"), b"ba"),
        ("", ""),
        ("héllo ✓ 🎉", "héllo ✓ 🎉"),
        (fastsmr.Timestamp(1_700_000_000_123), 1_700_000_000_123),
        (
            datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc),
            1704164645678,
        ),
        (uuid.UUID(int=0x0123456789ABCDEF0123456789ABCDEF), bytes.fromhex("0123456789abcdef" * 2)),
        (fastsmr.Uuid(b"u" * 16), b"u" * 16),
    ],
)
def test_every_header_type_round_trips(backend, value, expected):
    (message,) = backend.decode(fastsmr.encode({"h": value}, b"p"))
    assert message.headers == {"h": expected}
    assert type(message.headers["h"]) is type(expected)
    assert message.payload == b"p"


def test_header_type_codes_on_the_wire():
    codes = [
        (True, 0), (False, 1), (fastsmr.Byte(1), 2), (fastsmr.Short(1), 3), (1, 4),
        (fastsmr.Long(1), 5), (b"x", 6), ("x", 7), (fastsmr.Timestamp(1), 8),
        (fastsmr.Uuid(b"0" * 16), 9),
    ]
    for value, code in codes:
        wire = fastsmr.encode({"h": value})
        assert wire[12 + 2] == code, value


def test_message_fields(backend):
    wire = fastsmr.encode(SAGEMAKER_HEADERS, b'{"token": "hi"}')
    (message,) = backend.decode(wire)
    assert message.headers == SAGEMAKER_HEADERS
    assert message.payload == b'{"token": "hi"}'
    assert message.total_length == len(wire)
    assert message.prelude_crc == struct.unpack("!I", wire[8:12])[0]
    assert message.crc == struct.unpack("!I", wire[-4:])[0]
    assert message.message_type == "event"
    assert message.event_type == "PayloadPart"
    assert type(message.payload) is bytes


def test_message_type_absent(backend):
    (message,) = backend.decode(fastsmr.encode({}, b""))
    assert message.message_type is None and message.event_type is None


def test_message_equality_and_repr(backend):
    a, b, c = backend.decode(
        fastsmr.encode({"a": 1}, b"x") * 2 + fastsmr.encode({"a": 2}, b"x" * 500)
    )
    assert a == b and a is not b
    assert a != c
    assert a != "not a message"
    with pytest.raises(TypeError):
        hash(a)
    assert repr(a) == "Message(headers={'a': 1}, payload=b'x')"
    assert repr(c).endswith("... (500 bytes))")
    assert repr(c).startswith("Message(headers={'a': 2}, payload=b'xxxx")


def test_message_pickles(backend):
    (message,) = backend.decode(fastsmr.encode(SAGEMAKER_HEADERS, b"data"))
    assert pickle.loads(pickle.dumps(message)) == message


def test_messages_sharing_a_header_block_do_not_share_mutations(backend):
    first, second = backend.decode(fastsmr.encode(SAGEMAKER_HEADERS, b"1") + fastsmr.encode(SAGEMAKER_HEADERS, b"2"))
    assert first.headers is first.headers
    first.headers[":event-type"] = "Changed"
    first.headers["extra"] = 1
    assert first.event_type == "Changed"
    assert second.headers == SAGEMAKER_HEADERS and second.event_type == "PayloadPart"
    (third,) = backend.decode(fastsmr.encode(SAGEMAKER_HEADERS, b"3"))
    assert third.headers == SAGEMAKER_HEADERS
    assert first != second


def test_message_constructor(backend):
    message = backend.Message({"k": "v"}, b"p", 1, 2, 3)
    assert (message.headers, message.payload, message.prelude_crc, message.crc, message.total_length) == (
        {"k": "v"}, b"p", 1, 2, 3,
    )


def test_empty_message(backend):
    wire = fastsmr.encode({})
    assert len(wire) == 16
    (message,) = backend.decode(wire)
    assert message.headers == {} and message.payload == b""


def test_payload_without_headers_and_headers_without_payload(backend):
    messages = backend.decode(fastsmr.encode({}, b"\x00" * 10) + fastsmr.encode({"only": "headers"}))
    assert [(m.headers, m.payload) for m in messages] == [({}, b"\x00" * 10), ({"only": "headers"}, b"")]


def test_empty_header_name_is_accepted(backend):
    # botocore accepts a zero-length name, so we do too.
    (message,) = backend.decode(frame(b"\x00\x07\x00\x01v", b""))
    assert message.headers == {"": "v"}


def test_header_name_of_255_bytes(backend):
    name = "n" * 255
    (message,) = backend.decode(fastsmr.encode({name: True}))
    assert message.headers == {name: True}


def test_longest_string_value(backend):
    (message,) = backend.decode(fastsmr.encode({"s": "é" * 32767 + "a"}))
    assert message.headers["s"] == "é" * 32767 + "a"


def test_maximum_sizes_are_accepted(backend):
    payload = bytes(range(256)) * (24 * 1024 * 1024 // 256)
    headers = {f"h{i:05d}": b"v" * 100 for i in range(1191)}  # 110 bytes each
    headers["z"] = b"v" * 57
    block = fastsmr.codec.encoder.encode_headers(headers)
    assert len(block) == 128 * 1024
    wire = frame(block, payload)
    decoder = backend.Decoder()
    messages = []
    for start in range(0, len(wire), 1 << 20):
        messages += decoder.feed(wire[start : start + (1 << 20)])
    decoder.close()
    (message,) = messages
    assert message.payload == payload
    assert len(message.headers) == 1192


def test_limits_are_inclusive(backend):
    wire = fastsmr.encode({"a": "b"}, b"x" * 10)
    headers_length = struct.unpack("!I", wire[4:8])[0]
    (message,) = backend.decode(wire, max_payload_length=10, max_headers_length=headers_length)
    assert message.payload == b"x" * 10
    with pytest.raises(fastsmr.InvalidPayloadLength):
        backend.decode(wire, max_payload_length=9)
    with pytest.raises(fastsmr.InvalidHeadersLength):
        backend.decode(wire, max_headers_length=headers_length - 1)


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "10", True])
def test_limit_arguments_are_checked(backend, bad):
    with pytest.raises((TypeError, ValueError)):
        backend.Decoder(max_payload_length=bad)
    with pytest.raises((TypeError, ValueError)):
        backend.Decoder(max_headers_length=bad)


def test_feed_accepts_any_bytes_like(backend):
    wire = fastsmr.encode({"k": "v"}, b"abcd")
    padded = wire + b"\x00" * (-len(wire) % 4)
    as_array = array.array("I")
    as_array.frombytes(padded)
    for chunk in (wire, bytearray(wire), memoryview(wire), memoryview(bytearray(wire))):
        (message,) = backend.decode(chunk)
        assert message.payload == b"abcd"
    decoder = backend.Decoder()
    (message,) = decoder.feed(as_array)
    assert message.payload == b"abcd"
    assert decoder.buffered == len(padded) - len(wire)


def test_feed_rejects_non_buffers_and_non_contiguous(backend):
    decoder = backend.Decoder()
    with pytest.raises(TypeError):
        decoder.feed("text")
    with pytest.raises(TypeError):
        decoder.feed(12)
    with pytest.raises(BufferError):
        decoder.feed(memoryview(fastsmr.encode({}) * 2)[::2])


def test_caller_may_reuse_its_buffer(backend):
    wire = fastsmr.encode({"k": "v"}, b"payload-" * 1000)
    buffer = bytearray(1000)
    decoder = backend.Decoder()
    messages = []
    for start in range(0, len(wire), 1000):
        piece = wire[start : start + 1000]
        buffer[: len(piece)] = piece
        messages += decoder.feed(memoryview(buffer)[: len(piece)])
        buffer[:] = b"\xee" * 1000  # scribble over it: nothing may still point here
    assert [m.payload for m in messages] == [b"payload-" * 1000]
    assert messages[0].headers == {"k": "v"}


@pytest.mark.parametrize("size", [1, 2, 3, 11, 12, 13, 15, 16, 17, 100, 4096])
def test_every_chunk_size(backend, size):
    wires = [fastsmr.encode({"i": i, "s": "x" * i}, bytes([i]) * (i * 7)) for i in range(30)]
    stream = b"".join(wires)
    decoder = backend.Decoder()
    messages = []
    for start in range(0, len(stream), size):
        messages += decoder.feed(stream[start : start + size])
        assert decoder.buffered < 16 + 1000
    decoder.close()
    assert [m.headers["i"] for m in messages] == list(range(30))
    assert [m.payload for m in messages] == [bytes([i]) * (i * 7) for i in range(30)]


def test_buffered_counts_the_incomplete_message(backend):
    wire = fastsmr.encode({"k": "v"}, b"0123456789")
    decoder = backend.Decoder()
    assert decoder.buffered == 0
    assert decoder.feed(wire + wire[:5]) != []
    assert decoder.buffered == 5
    assert decoder.feed(wire[5:20]) == []
    assert decoder.buffered == 20
    assert len(decoder.feed(wire[20:])) == 1
    assert decoder.buffered == 0
    assert decoder.feed(b"") == []


def test_close_reports_truncation(backend):
    wire = fastsmr.encode({"k": "v"}, b"0123456789")
    decoder = backend.Decoder()
    assert len(decoder.feed(wire + wire[:-3])) == 1
    with pytest.raises(fastsmr.TruncatedStreamError) as info:
        decoder.close()
    assert info.value.remaining == len(wire) - 3
    assert info.value.offset == len(wire)
    assert f"{len(wire) - 3} bytes left over" in str(info.value)


def test_decode_raises_on_trailing_bytes(backend):
    with pytest.raises(fastsmr.TruncatedStreamError) as info:
        backend.decode(fastsmr.encode({}) + b"\x00\x00")
    assert info.value.remaining == 2


def test_close_after_clean_end_is_silent(backend):
    decoder = backend.Decoder()
    decoder.feed(fastsmr.encode({}))
    decoder.close()
    decoder.close()


def test_errors_are_value_errors():
    for cls in (
        fastsmr.ChecksumMismatch, fastsmr.InvalidMessageLength, fastsmr.InvalidHeadersLength,
        fastsmr.InvalidPayloadLength, fastsmr.InvalidHeader, fastsmr.DuplicateHeader,
        fastsmr.TruncatedStreamError,
    ):
        assert issubclass(cls, fastsmr.DecodeError)
    assert issubclass(fastsmr.DecodeError, ValueError)


def test_prelude_checksum_mismatch(backend):
    wire = bytearray(fastsmr.encode({"k": "v"}))
    wire[2] ^= 0x10
    with pytest.raises(fastsmr.ChecksumMismatch) as info:
        backend.decode(bytes(fastsmr.encode({}) + wire))
    err = info.value
    assert err.part == "prelude" and err.offset == 16
    assert err.expected == struct.unpack("!I", wire[8:12])[0]
    assert err.computed == zlib.crc32(bytes(wire[:8]))
    assert "prelude CRC mismatch" in str(err) and "offset 16" in str(err)
    assert f"0x{err.expected:08x}" in str(err) and f"0x{err.computed:08x}" in str(err)


def test_message_checksum_mismatch(backend):
    wire = bytearray(fastsmr.encode({"k": "v"}, b"payload"))
    wire[-6] ^= 1
    with pytest.raises(fastsmr.ChecksumMismatch) as info:
        backend.decode(bytes(wire))
    assert info.value.part == "message"
    assert info.value.expected == struct.unpack("!I", wire[-4:])[0]
    assert info.value.computed == zlib.crc32(bytes(wire[:-4]))


def test_message_checksum_mismatch_when_split(backend):
    wire = bytearray(fastsmr.encode({"k": "v"}, b"payload" * 100))
    wire[400] ^= 4
    decoder = backend.Decoder()
    with pytest.raises(fastsmr.ChecksumMismatch) as info:
        for start in range(0, len(wire), 33):
            decoder.feed(bytes(wire[start : start + 33]))
    assert info.value.part == "message"
    assert info.value.computed == zlib.crc32(bytes(wire[:-4]))


@pytest.mark.parametrize("total, headers_length", [(0, 0), (15, 0), (12, 0), (20, 5), (16, 1)])
def test_invalid_message_length(backend, total, headers_length):
    wire = frame(b"", b"", total=total, headers_length=headers_length) + b"\x00" * 64
    with pytest.raises(fastsmr.InvalidMessageLength) as info:
        backend.decode(wire)
    assert info.value.total_length == total and info.value.headers_length == headers_length


def test_declared_lengths_over_the_limits_fail_from_the_prelude_alone(backend):
    decoder = backend.Decoder()
    prelude = struct.pack("!II", 0xFFFFFFFF, 0)
    with pytest.raises(fastsmr.InvalidPayloadLength) as info:
        decoder.feed(prelude + struct.pack("!I", zlib.crc32(prelude)))
    assert info.value.length == 0xFFFFFFFF - 16
    assert info.value.maximum == 24 * 1024 * 1024
    prelude = struct.pack("!II", 200_000, 150_000)
    with pytest.raises(fastsmr.InvalidHeadersLength) as info:
        backend.Decoder().feed(prelude + struct.pack("!I", zlib.crc32(prelude)))
    assert info.value.length == 150_000 and info.value.maximum == 128 * 1024


def test_prelude_is_checked_as_soon_as_it_arrives(backend):
    prelude = struct.pack("!II", 100, 0)
    prelude += struct.pack("!I", zlib.crc32(prelude) ^ 1)
    decoder = backend.Decoder()
    assert decoder.feed(prelude[:11]) == []
    with pytest.raises(fastsmr.ChecksumMismatch):
        decoder.feed(prelude[11:])


@pytest.mark.parametrize(
    "block, reason",
    [
        (b"\x05ab", "name of 5 bytes runs past the header block (2 bytes left)"),
        (b"\x02ab", "header 'ab' has no value type byte"),
        (b"\x01a\x0a", "header 'a' has unknown value type 10"),
        (b"\x01a\xff", "header 'a' has unknown value type 255"),
        (b"\x01a\x07\x00", "string header 'a' has no room for its length"),
        (b"\x01a\x06\x00\x05abc", "byte array header 'a' of 5 bytes runs past the header block (3 bytes left)"),
        (b"\x01a\x07\x00\x05abc", "string header 'a' of 5 bytes runs past the header block (3 bytes left)"),
        (b"\x01a\x09" + b"u" * 15, "uuid header 'a' needs 16 bytes, 15 left"),
        (b"\x01a\x04\x00\x00", "header 'a' of type 4 needs 4 bytes, 2 left"),
        (b"\x01a\x05" + b"\x00" * 7, "header 'a' of type 5 needs 8 bytes, 7 left"),
        (b"\x01a\x08", "header 'a' of type 8 needs 8 bytes, 0 left"),
        (b"\x01a\x02", "header 'a' of type 2 needs 1 bytes, 0 left"),
        (b"\x01a\x03\x00", "header 'a' of type 3 needs 2 bytes, 1 left"),
        (b"\x02\xff\xfe\x00", "name is not valid UTF-8 (invalid start byte)"),
        (b"\x02\xc3\x28", "name is not valid UTF-8 (invalid continuation byte)"),
        (b"\x01a\x07\x00\x02\xed\xa0", "string header 'a' is not valid UTF-8"),
        (b"\x01a\x07\x00\x03\xed\xa0\x80", "string header 'a' is not valid UTF-8 (invalid continuation byte)"),
    ],
)
def test_invalid_headers(backend, block, reason):
    good = fastsmr.codec.encoder.encode_headers({"ok": 1})
    with pytest.raises(fastsmr.InvalidHeader) as info:
        backend.decode(frame(good + block, b"payload"))
    assert reason in str(info.value)
    assert info.value.offset == 12 + len(good)


def test_duplicate_header(backend):
    block = fastsmr.codec.encoder.encode_headers({"a": 1, "b": "x"}) + fastsmr.codec.encoder.encode_headers({"a": True})
    with pytest.raises(fastsmr.DuplicateHeader) as info:
        backend.decode(fastsmr.encode({}) + frame(block, b""))
    assert info.value.name == "a"
    assert info.value.offset == 16 + 12 + len(block) - 3
    assert 'duplicate header "a"' in str(info.value)


def test_good_messages_before_an_error_are_returned(backend):
    good = fastsmr.encode({"n": 1}, b"a") + fastsmr.encode({"n": 2}, b"b")
    bad = bytearray(fastsmr.encode({"n": 3}, b"c"))
    bad[-1] ^= 0xFF
    decoder = backend.Decoder()
    messages = decoder.feed(good + bytes(bad))
    assert [m.payload for m in messages] == [b"a", b"b"]
    with pytest.raises(fastsmr.ChecksumMismatch) as first:
        decoder.feed(fastsmr.encode({}))
    with pytest.raises(fastsmr.ChecksumMismatch) as again:
        decoder.close()
    assert first.value is again.value
    assert first.value.offset == len(good)


def test_errors_pickle_with_their_details(backend):
    wire = bytearray(fastsmr.encode({"k": "v"}))
    wire[-1] ^= 1
    with pytest.raises(fastsmr.ChecksumMismatch) as info:
        backend.decode(bytes(wire))
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is fastsmr.ChecksumMismatch
    assert (copy.part, copy.expected, copy.computed, copy.offset, str(copy)) == (
        "message", info.value.expected, info.value.computed, 0, str(info.value),
    )


@pytest.mark.parametrize(
    "data",
    [b"", b"a", b"123456789", bytes(range(256)) * 1000, bytearray(b"x" * 70_000)],
)
def test_crc32_matches_zlib(backend, data):
    assert backend.crc32(data) == zlib.crc32(data)
    assert backend.crc32(data, 0xDEADBEEF) == zlib.crc32(data, 0xDEADBEEF)
    assert backend.crc32(memoryview(data)) == zlib.crc32(data)


def test_crc32_value_is_masked_like_zlib(backend):
    assert backend.crc32(b"abc", -1) == zlib.crc32(b"abc", -1)
    assert backend.crc32(b"abc", 2**40 + 5) == zlib.crc32(b"abc", 2**40 + 5)


def test_crc32_rejects_text(backend):
    with pytest.raises(TypeError):
        backend.crc32("text")


def test_crc32_chains(backend):
    data = bytes(range(200)) * 50
    assert backend.crc32(data[5000:], backend.crc32(data[:5000])) == zlib.crc32(data)


def test_encode_rejects_what_cannot_be_sent():
    with pytest.raises(TypeError):
        fastsmr.encode({"h": 1.5})
    with pytest.raises(ValueError):
        fastsmr.encode({"n" * 256: True})
    with pytest.raises(ValueError):
        fastsmr.encode({"h": b"x" * 65536})
    with pytest.raises(ValueError):
        fastsmr.encode({"h": datetime.datetime(2024, 1, 1)})
    with pytest.raises(ValueError):
        fastsmr.Uuid(b"short")


@pytest.mark.parametrize(
    "headers, payload, error, message",
    [
        ({"n": 2**63}, b"", ValueError, "header 'n': 9223372036854775808 does not fit a long header (int64: "),
        ({"n": -(2**63) - 1}, b"", ValueError, "header 'n': -9223372036854775809 does not fit a long header"),
        ({"b": fastsmr.Byte(128)}, b"", ValueError, "header 'b': 128 does not fit a byte header (int8: "),
        ({"s": fastsmr.Short(-32769)}, b"", ValueError, "header 's': -32769 does not fit a short header (int16: "),
        ({"t": fastsmr.Timestamp(2**64)}, b"", ValueError, "header 't': 18446744073709551616 does not fit a timestamp"),
        ({"h": 1.5}, b"", TypeError, "header 'h': cannot encode a value of type float"),
        ({"h": b"x" * 65536}, b"", ValueError, "header 'h': a value holds at most 65535 bytes, got 65536"),
        ({"d": datetime.datetime(2024, 1, 1)}, b"", ValueError, "header 'd': a timestamp needs an aware datetime"),
        ({7: "v"}, b"", TypeError, "header names are str, got int 7"),
        ([("k", "v")], b"", TypeError, "headers must be a mapping of names to values, not list"),
        ({}, "text", TypeError, 'the payload must be bytes-like, not str: encode it first, e.g. payload.encode("utf-8")'),
        ({}, 5, TypeError, "the payload must be bytes-like, not int"),
    ],
)
def test_encode_errors_say_what_is_wrong(headers, payload, error, message):
    with pytest.raises(error) as caught:
        fastsmr.encode(headers, payload)
    assert str(caught.value).startswith(message)


def test_encode_takes_the_extremes_of_each_integer_type():
    headers = {"lo": -(2**63), "hi": 2**63 - 1, "b": fastsmr.Byte(-128), "s": fastsmr.Short(32767)}
    (message,) = fastsmr.decode(fastsmr.encode(headers, bytearray(b"p")))
    assert message.headers == headers and message.payload == b"p"


def test_encode_matches_botocore_framing():
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    buffer.add_data(fastsmr.encode(SAGEMAKER_HEADERS, b"body"))
    (message,) = list(buffer)
    assert message.headers == SAGEMAKER_HEADERS and message.payload == b"body"


def test_events_shapes_mapped_event_types(backend):
    part = fastsmr.encode(SAGEMAKER_HEADERS, b"tok")
    chunk = fastsmr.encode({":message-type": "event", ":event-type": "PayloadChunk"}, b"lam")
    untyped = fastsmr.encode({":event-type": "PayloadPart"}, b"no type")
    other = fastsmr.encode({":message-type": "event", ":event-type": "Other"}, b"o")
    failure = fastsmr.encode(
        {":message-type": "exception", ":exception-type": "ModelStreamError", ":event-type": "PayloadPart"}, b"{}"
    )
    empty = fastsmr.encode({})
    stream = part + chunk + untyped + other + failure + empty + part
    for pieces in ([stream], [stream[i : i + 7] for i in range(0, len(stream), 7)]):
        decoder = backend.Decoder()
        items = []
        for piece in pieces:
            items += decoder.feed(piece, events={"PayloadPart": "Bytes", "PayloadChunk": None})
        decoder.close()
        assert items[:3] == [{"PayloadPart": {"Bytes": b"tok"}}, b"lam", {"PayloadPart": {"Bytes": b"no type"}}]
        assert [type(item) for item in items[3:6]] == [backend.Message] * 3
        assert [m.event_type for m in items[3:6]] == ["Other", "PayloadPart", None]
        assert items[6] == {"PayloadPart": {"Bytes": b"tok"}}
    assert backend.Decoder().feed(stream, events={}) == backend.decode(stream)


def test_events_still_validate(backend):
    bad = bytearray(fastsmr.encode(SAGEMAKER_HEADERS, b"tok"))
    bad[-1] ^= 1
    with pytest.raises(fastsmr.ChecksumMismatch):
        backend.Decoder().feed(bytes(bad), events={"PayloadPart": None})

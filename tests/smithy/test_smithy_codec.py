"""The drop-in's decoder and encoder against smithy-aws-event-stream's, on random messages and chunkings.

Both backends: header values typed as smithy types them (Byte, Short, Long,
datetime, uuid.UUID), the same payloads and CRCs; the encoder writes smithy's
bytes and refuses what smithy refuses, with smithy's exceptions.
"""

from __future__ import annotations

import datetime
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smithy_aws_event_stream import exceptions as smithy_exceptions
from smithy_aws_event_stream.events import MAX_HEADERS_LENGTH, MAX_PAYLOAD_LENGTH, Byte, EventMessage, Long, Short

from fastsmr.smithy.headers import CONVERTERS
from fastsmr.smithy.publisher import EncodedMessage, encode_message
from support.smithy_env import run
from support.smithy_wire import BACKENDS, chunkings, headers, messages, payloads, stock_events, wire_of


def _decode(backend, pieces):
    decoder = backend.Decoder(
        max_payload_length=MAX_PAYLOAD_LENGTH, max_headers_length=MAX_HEADERS_LENGTH, header_converters=CONVERTERS
    )
    out = []
    for piece in pieces:
        out += decoder.feed(piece)
    decoder.close()
    return out


@given(data=st.data(), items=messages)
def test_decoded_messages_are_smithys(data, items):
    wire = wire_of(items)
    pieces = data.draw(chunkings(wire))
    stock = run(stock_events(pieces))
    for backend in BACKENDS:
        _check(_decode(backend, pieces), stock, len(items))


def _check(ours, stock, count):
    assert len(ours) == len(stock) == count
    for mine, theirs in zip(ours, stock):
        assert mine.headers == theirs.message.headers
        assert [type(v) for v in mine.headers.values()] == [type(v) for v in theirs.message.headers.values()]
        assert mine.payload == theirs.message.payload
        assert (mine.prelude_crc, mine.crc, mine.total_length) == (
            theirs.prelude.crc, theirs.crc, theirs.prelude.total_length
        )


@given(items=messages)
def test_encoded_messages_are_smithys(items):
    for header_map, payload in items:
        assert encode_message(header_map, payload) == EventMessage(headers=header_map, payload=payload).encode()
        assert EncodedMessage(headers=header_map, payload=payload).encode() == encode_message(header_map, payload)


@given(header_map=headers, payload=payloads, when=st.datetimes(timezones=st.just(datetime.timezone.utc)))
def test_timestamps_are_encoded_as_smithy_rounds_them(header_map, payload, when):
    header_map = {**header_map, "when": when}
    assert encode_message(header_map, payload) == EventMessage(headers=header_map, payload=payload).encode()


@pytest.mark.parametrize(
    "value, error",
    [
        (Byte(128), smithy_exceptions.InvalidIntegerValue),
        (Short(-(2**15) - 1), smithy_exceptions.InvalidIntegerValue),
        (2**31, smithy_exceptions.InvalidIntegerValue),
        (Long(2**63), smithy_exceptions.InvalidIntegerValue),
        (b"x" * 32768, smithy_exceptions.InvalidHeaderValueLength),
        ("é" * 16384, smithy_exceptions.InvalidHeaderValueLength),
        (bytearray(b"x"), smithy_exceptions.InvalidHeaderValue),
        (1.5, smithy_exceptions.InvalidHeaderValue),
        (None, smithy_exceptions.InvalidHeaderValue),
    ],
)
def test_the_encoder_refuses_what_smithy_refuses(value, error):
    with pytest.raises(error) as stock:
        EventMessage(headers={"h": value}).encode()
    with pytest.raises(error) as ours:
        encode_message({"h": value}, b"")
    assert str(ours.value) == str(stock.value)


def test_the_encoder_refuses_a_header_block_over_128_kib_as_smithy_does():
    big = {f"h{i}": "x" * 30000 for i in range(5)}
    with pytest.raises(smithy_exceptions.InvalidHeadersLength) as stock:
        EventMessage(headers=big).encode()
    with pytest.raises(smithy_exceptions.InvalidHeadersLength) as ours:
        encode_message(big, b"")
    assert str(ours.value) == str(stock.value)


def test_the_largest_values_smithy_takes_are_taken():
    edge = {"b": b"x" * 32767, "s": "é" * 16383 + "x", "u": uuid.UUID(int=1), "l": Long(-(2**63))}
    assert encode_message(edge, b"p" * 1000) == EventMessage(headers=edge, payload=b"p" * 1000).encode()

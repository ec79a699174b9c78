"""Decoder(header_converters=...): header values built by the caller's callables, on both backends."""

from __future__ import annotations

import pytest

import fastsmr
from fastsmr.codec.encoder import Byte, Long, Short, Timestamp, Uuid

HEADERS = {
    "t": True,
    "f": False,
    "b": Byte(-2),
    "s": Short(300),
    "i": 70000,
    "l": Long(2**40),
    "a": b"\x00\x01",
    "str": "text",
    "ts": Timestamp(1_700_000_000_123),
    "u": Uuid(bytes(range(16))),
}
CODES = {"t": 0, "f": 1, "b": 2, "s": 3, "i": 4, "l": 5, "a": 6, "str": 7, "ts": 8, "u": 9}


def test_every_type_goes_through_its_converter(backend):
    wire = fastsmr.encode(HEADERS, b"payload")
    converters = {code: (lambda value, code=code: (code, value)) for code in range(10)}
    (message,) = backend.Decoder(header_converters=converters).feed(wire)
    plain = backend.decode(wire)[0].headers
    assert message.headers == {name: (CODES[name], plain[name]) for name in HEADERS}
    assert message.payload == b"payload"


def test_types_without_a_converter_are_left_as_they_are(backend):
    wire = fastsmr.encode(HEADERS)
    (message,) = backend.Decoder(header_converters={8: str}).feed(wire)
    expected = backend.decode(wire)[0].headers
    expected["ts"] = str(expected["ts"])
    assert message.headers == expected


def test_a_refused_value_is_an_invalid_header_at_its_offset(backend):
    wire = fastsmr.encode({"ok": "x", "ts": Timestamp(10**18)})

    def to_year(milliseconds):
        raise OverflowError(f"{milliseconds} is too far")

    decoder = backend.Decoder(header_converters={8: to_year})
    with pytest.raises(fastsmr.InvalidHeader) as info:
        decoder.feed(wire)
    error = info.value
    assert error.offset == 12 + len(b"\x02ok\x07\x00\x01x")
    assert "timestamp header 'ts'" in str(error) and "is too far" in str(error)
    assert isinstance(error.__cause__, OverflowError)
    with pytest.raises(fastsmr.InvalidHeader):  # the decoder stays failed
        decoder.feed(b"")


def test_a_converter_runs_once_for_a_repeated_header_block(backend):
    calls = []

    def count(value):
        calls.append(value)
        return value

    wire = fastsmr.encode({":event-type": "PayloadPart", "n": Short(5)}, b"x")
    decoder = backend.Decoder(header_converters={3: count})
    messages = decoder.feed(wire * 3)
    assert [m.headers["n"] for m in messages] == [5, 5, 5]
    assert calls == [5]


def test_init_again_with_other_converters_forgets_converted_blocks(backend):
    wire = fastsmr.encode({"n": Short(5)})
    decoder = backend.Decoder(header_converters={3: str})
    assert decoder.feed(wire)[0].headers == {"n": "5"}
    decoder.__init__(header_converters={3: float})
    assert decoder.feed(wire)[0].headers == {"n": 5.0}


@pytest.mark.parametrize(
    "converters, error",
    [({10: str}, ValueError), ({-1: str}, ValueError), ({True: str}, ValueError), ({"8": str}, ValueError),
     ({8: "str"}, TypeError)],
)
def test_bad_converters_are_refused(backend, converters, error):
    with pytest.raises(error):
        backend.Decoder(header_converters=converters)

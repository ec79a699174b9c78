"""The drop-in's receiver against smithy's ``AWSEventReceiver``: the oracle is stock smithy.

Real generated models (SageMaker Runtime HTTP/2's ``ResponseStreamEvent``,
Bedrock Runtime's ``ConverseStreamOutput``), random event sequences, random
JSON payloads (duplicate keys, wrong types, nulls, escapes), random chunkings
and random corruptions, on both backends. Where stock smithy gives events,
ours are equal, value types included; where it raises a modeled
error or one of its own exceptions, ours raises that class (the same error, for
anything the drop-in hands back to smithy's own code); where it fails with a
generic error (re-raised as ``OSError``) or reads bytes short, ours raises an
``InvalidEventBytes`` that is also the fastsmr error.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any, List

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smithy_aws_core.aio.protocols import RestJsonClientProtocol
from smithy_aws_event_stream import exceptions as smithy_exceptions

import fastsmr
from support.smithy_env import run
from support.smithy_wire import (
    BACKENDS,
    chunkings,
    fastsmr_receiver,
    header_values,
    outcome,
    plain,
    stock_receiver,
    using,
    wire_of,
)

from aws_sdk_bedrock_runtime.config import _PROTOCOL_SETTINGS as BEDROCK_SETTINGS  # noqa: E402
from aws_sdk_bedrock_runtime.models import _ConverseStreamOutputDeserializer  # noqa: E402
from aws_sdk_sagemaker_runtime_http2.config import _PROTOCOL_SETTINGS as SAGEMAKER_SETTINGS  # noqa: E402
from aws_sdk_sagemaker_runtime_http2.models import _ResponseStreamEventDeserializer  # noqa: E402

SAGEMAKER = (RestJsonClientProtocol(SAGEMAKER_SETTINGS).payload_codec, lambda: _ResponseStreamEventDeserializer().deserialize)
BEDROCK = (RestJsonClientProtocol(BEDROCK_SETTINGS).payload_codec, lambda: _ConverseStreamOutputDeserializer().deserialize)

EVENT = {":message-type": "event"}
JSON = {":content-type": "application/json"}


# --- SageMaker Runtime HTTP/2 events ---------------------------------------------------

text = st.text(max_size=20)
optional_headers = st.dictionaries(
    st.sampled_from(["DataType", "CompletionState", "P", "Other"]),
    st.one_of(st.sampled_from(["UTF8", "BINARY", "PARTIAL", "COMPLETE"]), text, header_values),
    max_size=3,
)


@st.composite
def sagemaker_messages(draw: Any):
    kind = draw(st.sampled_from(["part"] * 6 + ["stream-error", "internal", "error", "unknown", "odd"]))
    if kind == "part":
        headers = {**EVENT, ":event-type": "PayloadPart", ":content-type": "application/octet-stream"}
        return {**headers, **draw(optional_headers)}, draw(st.binary(max_size=60))
    if kind in ("stream-error", "internal"):
        name = "ModelStreamError" if kind == "stream-error" else "InternalStreamFailure"
        body = draw(json_objects(["Message", "ErrorCode"]))
        return {":message-type": "exception", ":exception-type": name, **JSON}, body
    if kind == "error":
        return {":message-type": "error", ":error-code": draw(text), ":error-message": draw(text)}, b""
    if kind == "unknown":
        return {**EVENT, ":event-type": draw(st.sampled_from(["Surprise", "initial-response"]))}, draw(st.binary(max_size=10))
    # Type headers missing, mistyped or unknown: smithy's own code decides.
    headers = draw(st.dictionaries(st.sampled_from([":message-type", ":event-type", ":exception-type"]),
                                   st.one_of(st.sampled_from(["event", "exception", "PayloadPart", "nope"]), header_values),
                                   max_size=3))
    return headers, draw(st.binary(max_size=10))


# --- JSON payloads (Bedrock) -------------------------------------------------------------

KEYS = ["contentBlockIndex", "delta", "text", "p", "role", "stopReason", "usage", "inputTokens", "outputTokens",
        "totalTokens", "metrics", "latencyMs", "message", "toolUse", "reasoningContent", "start", "x"]


def _scalar_text(value: Any, escape: bool) -> str:
    return json.dumps(value, ensure_ascii=escape)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.sampled_from(["1.0", "1e2", "-0", "2.5E-3", "12345678901234567890", "0.1", "NaN", "Infinity"]),
    st.text(max_size=8),
    st.sampled_from(["\\ud83d\\ude80", "\\ud800", "\\u00e9", "caf\\u00e9"]).map(lambda raw: ("raw-string", raw)),
)


def _render(value: Any, escape: bool) -> str:
    if isinstance(value, tuple) and value and value[0] == "raw-string":
        return '"' + value[1] + '"'
    if isinstance(value, tuple) and value and value[0] == "object":
        return "{" + ",".join(f"{_scalar_text(k, escape)}:{_render(v, escape)}" for k, v in value[1]) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_render(item, escape) for item in value) + "]"
    if isinstance(value, str) and value in ("1.0", "1e2", "-0", "2.5E-3", "12345678901234567890", "0.1", "NaN", "Infinity"):
        return value  # a number literal as written
    return _scalar_text(value, escape)


json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(st.tuples(st.sampled_from(KEYS), inner), max_size=4).map(lambda pairs: ("object", pairs)),
    ),
    max_leaves=12,
)


@st.composite
def json_objects(draw: Any, keys: List[str]) -> bytes:
    """A JSON object text: mostly well-typed members, sometimes anything (duplicates included)."""
    pairs = []
    for key in draw(st.lists(st.sampled_from(keys + KEYS[:3]), max_size=5)):
        pairs.append((key, draw(st.one_of(st.text(max_size=10), json_values))))
    if draw(st.booleans()):
        pairs = [(key, value if not isinstance(value, str) else value) for key, value in pairs]
    escape = draw(st.booleans())
    rendered = _render(("object", pairs), escape)
    return rendered.encode("utf-8") if draw(st.integers(0, 20)) else draw(st.sampled_from([b"[]", b"{", b"\xff", b'{"a":1} x']))


@st.composite
def bedrock_messages(draw: Any):
    kind = draw(st.sampled_from(["messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockDelta",
                                 "contentBlockStart", "contentBlockStop", "messageStop", "metadata",
                                 "modelStreamErrorException", "internalServerException", "throttlingException"]))
    if kind == "contentBlockDelta" and draw(st.booleans()):
        body = json.dumps({"contentBlockIndex": draw(st.integers(0, 3)), "delta": {"text": draw(text)}, "p": "abc"},
                          ensure_ascii=draw(st.booleans())).encode()
    else:
        body = draw(json_objects(KEYS))
    if kind.endswith("Exception"):
        return {":message-type": "exception", ":exception-type": kind, **JSON}, body
    return {**EVENT, ":event-type": kind, **JSON}, body


# --- corruptions -------------------------------------------------------------------------


def _reseal(buf: bytearray, pos: int = 0) -> None:
    if len(buf) - pos < 12:
        return
    struct.pack_into("!I", buf, pos + 8, zlib.crc32(bytes(buf[pos : pos + 8])))
    total = struct.unpack_from("!I", buf, pos)[0]
    if 16 <= total <= len(buf) - pos:
        end = pos + total - 4
        struct.pack_into("!I", buf, end, zlib.crc32(bytes(buf[pos:end])))


@st.composite
def corrupted(draw: Any, wire: bytes) -> bytes:
    buf = bytearray(wire)
    kind = draw(st.sampled_from(["flip", "flip-resealed", "length", "truncate", "garbage", "headers"]))
    if kind.startswith("flip"):
        buf[draw(st.integers(0, len(buf) - 1))] ^= 1 << draw(st.integers(0, 7))
        if kind == "flip-resealed":
            _reseal(buf)
    elif kind == "length" and len(buf) >= 12:
        struct.pack_into("!I", buf, draw(st.sampled_from([0, 4])), draw(st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1))))
        _reseal(buf)
    elif kind == "truncate":
        del buf[draw(st.integers(0, len(buf) - 1)) :]
    elif kind == "headers":
        # One random header spliced into a message's block, behind valid CRCs.
        name = draw(st.binary(max_size=5))
        block = bytes([len(name)]) + name + bytes([draw(st.integers(0, 12))]) + draw(st.binary(max_size=30))
        prelude = struct.pack("!II", 16 + len(block), len(block))
        prelude += struct.pack("!I", zlib.crc32(prelude))
        body = prelude + block
        message = body + struct.pack("!I", zlib.crc32(body))
        at = draw(st.sampled_from([0, len(buf)]))
        buf[at:at] = message
    else:
        buf += draw(st.binary(max_size=40))
    return bytes(buf)


# --- the comparison ----------------------------------------------------------------------


def compare(model: Any, pieces: List[bytes]) -> None:
    codec, deserializer = model
    stock_events, stock_error = run(outcome(stock_receiver(codec, pieces, deserializer())))
    for backend in BACKENDS:
        with using(backend):
            events, error = run(outcome(fastsmr_receiver(codec, pieces, deserializer())))
        if error is None:
            assert stock_error is None, stock_error
            assert plain(events) == plain(stock_events)
        elif isinstance(error, fastsmr.DecodeError):
            # Bad bytes: smithy's class for them, or InvalidEventBytes where smithy has none.
            assert isinstance(error, smithy_exceptions.EventError)
            assert plain(events) == plain(stock_events[: len(events)])
            if isinstance(error, fastsmr.InvalidMessageLength):
                # Lengths no message can have send smithy down arbitrary paths (a
                # ChecksumMismatch of the wrong bytes, a read of everything left, ...).
                assert isinstance(error, smithy_exceptions.InvalidEventBytes)
            elif isinstance(stock_error, smithy_exceptions.EventError) and not isinstance(
                stock_error, smithy_exceptions.InvalidEventBytes
            ):
                assert isinstance(error, type(stock_error)), (error, stock_error)
                assert plain(events) == plain(stock_events)
            else:
                # A generic failure, a stream smithy ends short, or short data smithy reads on.
                assert isinstance(error, smithy_exceptions.InvalidEventBytes), (error, stock_error)
                if stock_error is None or isinstance(stock_error, OSError):
                    assert isinstance(error, (fastsmr.InvalidHeader, fastsmr.DuplicateHeader,
                                              fastsmr.InvalidMessageLength, fastsmr.TruncatedStreamError)), (
                        error, stock_error,
                    )
        else:
            # Everything else is smithy's own code's: the same error.
            assert type(error) is type(stock_error), (error, stock_error)
            assert str(error) == str(stock_error)
            assert plain(events) == plain(stock_events)


@given(data=st.data(), items=st.lists(sagemaker_messages(), min_size=1, max_size=6))
def test_sagemaker_events(data, items):
    wire = wire_of(items)
    compare(SAGEMAKER, data.draw(chunkings(wire)))


@given(data=st.data(), items=st.lists(bedrock_messages(), min_size=1, max_size=5))
def test_bedrock_events(data, items):
    wire = wire_of(items)
    compare(BEDROCK, data.draw(chunkings(wire)))


@given(data=st.data(), items=st.lists(sagemaker_messages(), min_size=1, max_size=4))
def test_corrupted_sagemaker_streams(data, items):
    wire = data.draw(corrupted(wire_of(items)))
    compare(SAGEMAKER, data.draw(chunkings(wire)))


@given(data=st.data(), items=st.lists(bedrock_messages(), min_size=1, max_size=3))
def test_corrupted_bedrock_streams(data, items):
    wire = data.draw(corrupted(wire_of(items)))
    compare(BEDROCK, data.draw(chunkings(wire)))


def _message(block: bytes, payload: bytes = b"") -> bytes:
    prelude = struct.pack("!II", 16 + len(block) + len(payload), len(block))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + block + payload
    return body + struct.pack("!I", zlib.crc32(body))


def _header(name: bytes, kind: int, value: bytes) -> bytes:
    return bytes([len(name)]) + name + bytes([kind]) + value


GOOD = _header(b":message-type", 7, b"\x00\x05event") + _header(b":event-type", 7, b"\x00\x0bPayloadPart")


@pytest.mark.parametrize(
    "block",
    [
        GOOD + _header(b"s", 7, struct.pack("!H", 40000) + b"short"),  # over smithy's 32,767, past the block
        GOOD + _header(b"b", 6, struct.pack("!H", 40000) + b"x" * 40000),  # over smithy's 32,767, in the block
        GOOD + _header(b"s", 7, struct.pack("!H", 32767) + "é".encode() * 16383 + b"x"),  # smithy's largest
        GOOD + _header(b"u", 9, bytes(16)) + _header(b"u", 9, bytes(5)),  # a repeated uuid, past the block
        GOOD + _header(b"s", 7, b"\x00\x01a") + _header(b"s", 7, b"\x00\x09abc"),  # a repeated string, past it
        GOOD + _header(b"t", 8, struct.pack("!q", 2**62)),  # a timestamp datetime cannot hold
        GOOD + _header(b"k", 12, b"x"),  # an unknown type
        GOOD + _header(b"n", 7, b"\x00\x02\xc3("),  # not UTF-8
        GOOD + b"\x05ab",  # a name past the block
    ],
)
def test_header_blocks_are_judged_as_smithy_judges_them(block):
    wire = _message(GOOD, b"first") + _message(block, b"second")
    for cut in (len(wire), 7, 40):
        compare(SAGEMAKER, [wire[:cut], wire[cut:]])


@pytest.mark.parametrize("size", [16 * 1024 * 1024, 16 * 1024 * 1024 + 1])
def test_smithys_16_mib_payload_limit_holds(size):
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    headers = {":message-type": "event", ":event-type": "PayloadPart", ":content-type": "application/octet-stream"}
    wire = fastsmr.encode(headers, payload)
    pieces = [wire[i : i + 65536] for i in range(0, len(wire), 65536)]
    codec, deserializer = SAGEMAKER
    stock_events, stock_error = run(outcome(stock_receiver(codec, pieces, deserializer())))
    for backend in BACKENDS:
        with using(backend):
            events, error = run(outcome(fastsmr_receiver(codec, pieces, deserializer())))
        if size > 16 * 1024 * 1024:
            assert isinstance(stock_error, smithy_exceptions.InvalidPayloadLength) and stock_events == []
            assert isinstance(error, smithy_exceptions.InvalidPayloadLength)
            assert isinstance(error, fastsmr.InvalidPayloadLength) and error.maximum == 16 * 1024 * 1024
        else:
            assert stock_error is None and error is None
            assert [e.value.bytes_ for e in events] == [e.value.bytes_ for e in stock_events] == [payload]

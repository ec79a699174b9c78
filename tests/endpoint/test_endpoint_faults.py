"""Every fault the local endpoint injects, seen by a real boto3 client:
stock botocore, and botocore with ``fastsmr.install()`` on each backend."""

from __future__ import annotations

import json
import socket

import botocore.eventstream
import botocore.exceptions
import pytest
import urllib3.exceptions
from botocore.config import Config

import fastsmr
from fastsmr.codec import _codec_py as _pure
from fastsmr.testing import ERROR_CODES, FORMATS, generate_tokens, render_stream

try:
    from fastsmr.codec import _codec_c as _speedups
except ImportError:
    _speedups = None


@pytest.fixture(params=["stock", "c", "python"])
def decoding(request, monkeypatch):
    """Which decoder botocore's EventStream uses: its own, or fastsmr's on a backend."""
    if request.param == "stock":
        yield "stock"
        return
    if not hasattr(fastsmr, "install"):
        pytest.skip("fastsmr.install() is not available yet")
    module = {"c": _speedups, "python": _pure}[request.param]
    if module is None:
        pytest.skip("the C extension is not installed")
    monkeypatch.setattr(fastsmr.codec.backend, "impl", module)
    fastsmr.install()
    try:
        yield "installed"
    finally:
        fastsmr.uninstall()


def _stream(client, attributes, name="raw"):
    response = client.invoke_endpoint_with_response_stream(EndpointName=name, Body=b"{}", CustomAttributes=attributes)
    return response["Body"]


def _drain(body, received):
    for event in body:
        received.append(event["PayloadPart"]["Bytes"])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("error_code", ERROR_CODES)
def test_model_stream_error(client, decoding, fmt, error_code):
    body = _stream(
        client, f"fastsmr-tokens=10; fastsmr-fault=model-stream-error; fastsmr-fail-after=4; fastsmr-error-code={error_code}", fmt
    )
    received = []
    with pytest.raises(botocore.exceptions.EventStreamError) as info:
        _drain(body, received)
    assert received == list(render_stream(fmt, generate_tokens(4), finish=False))
    assert info.value.response["Error"]["Code"] == "ModelStreamError"
    assert info.value.response["Error"]["Message"]
    assert "ModelStreamError" in str(info.value)


def test_internal_stream_failure(client, decoding):
    body = _stream(client, "fastsmr-tokens=10; fastsmr-fault=internal-stream-failure; fastsmr-fail-after=3")
    received = []
    with pytest.raises(botocore.exceptions.EventStreamError) as info:
        _drain(body, received)
    assert len(received) == 3
    assert info.value.response["Error"]["Code"] == "InternalStreamFailure"


def test_stream_error_at_the_first_token(client, decoding):
    body = _stream(client, "fastsmr-fault=model-stream-error")  # fail_after defaults to 0
    with pytest.raises(botocore.exceptions.EventStreamError):
        next(iter(body))


def test_stream_error_after_the_last_token(client, decoding):
    body = _stream(client, "fastsmr-tokens=5; fastsmr-fault=internal-stream-failure; fastsmr-fail-after=99")
    received = []
    with pytest.raises(botocore.exceptions.EventStreamError):
        _drain(body, received)
    assert len(received) == 5


def test_bad_crc(client, decoding):
    body = _stream(client, "fastsmr-tokens=10; fastsmr-fault=bad-crc; fastsmr-fail-after=6")
    received = []
    # botocore's own class, with or without fastsmr installed (DESIGN.md)
    with pytest.raises(botocore.eventstream.ChecksumMismatch):
        _drain(body, received)
    assert received == [t.encode() for t in generate_tokens(6)]


def test_reset_inside_a_message(client, decoding):
    body = _stream(client, "fastsmr-tokens=10; fastsmr-fault=reset; fastsmr-fail-after=5")
    received = []
    if decoding == "stock":
        # urllib3 reports the reset; botocore does not wrap it
        expected = urllib3.exceptions.ProtocolError
    else:
        expected = (urllib3.exceptions.ProtocolError, botocore.eventstream.ParserError)
    with pytest.raises(expected):
        _drain(body, received)
    assert len(received) == 5


def test_truncate_inside_a_message(client, decoding):
    body = _stream(client, "fastsmr-tokens=10; fastsmr-fault=truncate; fastsmr-fail-after=5")
    received = []
    if decoding == "stock":
        _drain(body, received)  # botocore drops the half message without a word
    else:
        # fastsmr does not lose data silently: a ParserError subclass
        with pytest.raises(botocore.eventstream.ParserError):
            _drain(body, received)
    assert received == [t.encode() for t in generate_tokens(5)]


def test_slow_start_within_timeout(client, decoding):
    body = _stream(client, "fastsmr-tokens=3; fastsmr-start-delay=0.2")
    received = []
    _drain(body, received)
    assert len(received) == 3


def test_slow_start_past_read_timeout(endpoint):
    client = endpoint.client(config=Config(read_timeout=0.2, retries={"total_max_attempts": 1}))
    # the headers arrive at once; the first token only after the delay
    response = client.invoke_endpoint_with_response_stream(
        EndpointName="raw", Body=b"{}", CustomAttributes="fastsmr-tokens=3; fastsmr-start-delay=5"
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises((urllib3.exceptions.ReadTimeoutError, botocore.exceptions.ReadTimeoutError)):
        next(iter(response["Body"]))
    response["Body"].close()


# --- the bytes on the wire for each fault --------------------------------------------


def _raw_body(endpoint, attributes: str) -> bytes:
    """The de-chunked response body as sent, up to the end or the reset."""
    request = (
        "POST /endpoints/raw/invocations-response-stream HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        f"X-Amzn-SageMaker-Custom-Attributes: {attributes}\r\nConnection: close\r\n\r\n{{}}"
    ).encode()
    data = bytearray()
    with socket.create_connection((endpoint.host, endpoint.port), timeout=10) as sock:
        sock.sendall(request)
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    _, _, chunked = bytes(data).partition(b"\r\n\r\n")
    body, pos = bytearray(), 0
    while pos < len(chunked):
        end = chunked.index(b"\r\n", pos)
        size = int(chunked[pos:end], 16)
        body += chunked[end + 2 : end + 2 + size]
        pos = end + 4 + size
    return bytes(body)


@pytest.mark.parametrize(
    "fault, exception_type, error_code",
    [
        ("model-stream-error", "ModelStreamError", "ModelInvocationTimeExceeded"),
        ("model-stream-error", "ModelStreamError", "StreamBroken"),
        ("internal-stream-failure", "InternalStreamFailure", None),
    ],
)
def test_wire_exception_message(endpoint, fault, exception_type, error_code):
    options = f"fastsmr-tokens=4; fastsmr-fault={fault}; fastsmr-fail-after=2"
    if error_code:
        options += f"; fastsmr-error-code={error_code}"
    messages = fastsmr.decode(_raw_body(endpoint, options))
    assert [m.message_type for m in messages] == ["event", "event", "exception"]
    last = messages[-1]
    assert last.headers == {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    payload = json.loads(last.payload)
    assert payload["Message"]
    assert payload.get("ErrorCode") == error_code


def test_wire_bad_crc_only_breaks_one_message(endpoint):
    body = _raw_body(endpoint, "fastsmr-tokens=4; fastsmr-fault=bad-crc; fastsmr-fail-after=1")
    decoder = fastsmr.Decoder()
    with pytest.raises(fastsmr.ChecksumMismatch) as info:
        decoder.feed(body)
        decoder.feed(b"")
    assert info.value.part == "message"
    first = fastsmr.decode(body[: info.value.offset])
    assert [m.payload for m in first] == [generate_tokens(1)[0].encode()]
    # the corrupted message is followed by the rest of the stream, intact
    size = int.from_bytes(body[info.value.offset : info.value.offset + 4], "big")
    rest = fastsmr.decode(body[info.value.offset + size :])
    assert [m.payload for m in rest] == [t.encode() for t in generate_tokens(4)[2:]]


@pytest.mark.parametrize("fault", ["reset", "truncate"])
def test_wire_cut_inside_a_message(endpoint, fault):
    body = _raw_body(endpoint, f"fastsmr-tokens=8; fastsmr-fault={fault}; fastsmr-fail-after=3")
    decoder = fastsmr.Decoder()
    messages = decoder.feed(body)
    assert [m.payload for m in messages] == [t.encode() for t in generate_tokens(3)]
    assert decoder.buffered > 0
    with pytest.raises(fastsmr.TruncatedStreamError):
        decoder.close()


# --- generation-error: the container's own in-band error ------------------------------


@pytest.mark.parametrize("fmt", ["tgi", "lmi", "openai"])
def test_generation_error_is_the_containers_error_after_the_tokens(client, decoding, fmt):
    from fastsmr.testing.model import render_error

    body = _stream(client, "fastsmr-tokens=10; fastsmr-fault=generation-error; fastsmr-fail-after=4", fmt)
    received = []
    _drain(body, received)  # a well-formed event stream: the error is in the payload
    assert received == [*render_stream(fmt, generate_tokens(4), finish=False), render_error(fmt)]


def test_generation_error_needs_a_format_with_in_band_errors(client):
    with pytest.raises(botocore.exceptions.ClientError, match="generation-error needs a format"):
        _stream(client, "fastsmr-fault=generation-error", "raw")

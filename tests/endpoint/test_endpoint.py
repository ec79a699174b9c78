"""The local SageMaker Runtime endpoint, exercised by a real boto3 client
(and raw HTTP where the wire itself is the point)."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time

import botocore.exceptions
import pytest

import fastsmr
from fastsmr.testing import (
    CONTENT_TYPES,
    FORMATS,
    EndpointConfig,
    StreamingEndpoint,
    generate_text,
    generate_tokens,
    render_response,
    render_stream,
)


def _stream(client, name="raw", body=b'{"inputs": "Hello"}', **kwargs):
    return client.invoke_endpoint_with_response_stream(EndpointName=name, Body=body, **kwargs)


def _parts(response):
    return [event["PayloadPart"]["Bytes"] for event in response["Body"]]


def _visible_text(fmt: str, parts: list) -> str:
    """What a reader would see, parsed independently of fastsmr's helpers
    (the endpoint sends one container event per part)."""
    out = []
    for part in parts:
        if fmt == "raw":
            out.append(part.decode("utf-8"))
        elif fmt == "lmi":
            assert part.endswith(b"\n")
            out.append(json.loads(part)["token"]["text"])
        elif fmt == "tgi":
            assert part.startswith(b"data:") and part.endswith(b"\n\n")
            event = json.loads(part[5:])
            if not event["token"]["special"]:
                out.append(event["token"]["text"])
        else:
            for block in part.split(b"\n\n"):
                if block and block != b"data: [DONE]":
                    choice = json.loads(block[len(b"data: "):])["choices"][0]
                    out.append(choice["delta"].get("content", ""))
    return "".join(out)


# --- streaming, one test per format -------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_stream_each_format(client, fmt):
    response = _stream(client, fmt, CustomAttributes="fastsmr-tokens=40; trace=abc")
    assert response["ContentType"] == CONTENT_TYPES[fmt]
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert response["CustomAttributes"] == "fastsmr-tokens=40; trace=abc"
    http_headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert http_headers["content-type"] == "application/vnd.amazon.eventstream"
    assert http_headers["transfer-encoding"] == "chunked"
    assert response["ResponseMetadata"]["RequestId"]
    parts = _parts(response)
    extra = {"raw": 0, "lmi": 0, "tgi": 1, "openai": 1}[fmt]  # end-of-stream events
    assert len(parts) == 40 + extra
    assert _visible_text(fmt, parts) == generate_text(40)


def test_text_has_multibyte_utf8(client):
    text = b"".join(_parts(_stream(client, CustomAttributes="fastsmr-tokens=200"))).decode("utf-8")
    assert len(text.encode("utf-8")) > len(text)
    assert any(len(ch.encode("utf-8")) == 4 for ch in text)


def test_seed_changes_text_deterministically(client):
    a = b"".join(_parts(_stream(client, CustomAttributes="fastsmr-tokens=30; fastsmr-seed=5")))
    b = b"".join(_parts(_stream(client, CustomAttributes="fastsmr-tokens=30; fastsmr-seed=5")))
    c = b"".join(_parts(_stream(client, CustomAttributes="fastsmr-tokens=30; fastsmr-seed=6")))
    assert a == b == generate_text(30, seed=5).encode()
    assert a != c


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("part_bytes", [1, 7, 1000])
def test_part_bytes_reslices_output(client, fmt, part_bytes):
    response = _stream(client, fmt, CustomAttributes=f"fastsmr-tokens=25; fastsmr-part-bytes={part_bytes}")
    parts = _parts(response)
    expected = b"".join(render_stream(fmt, generate_tokens(25)))
    assert b"".join(parts) == expected
    assert all(len(p) == part_bytes for p in parts[:-1])
    assert 0 < len(parts[-1]) <= part_bytes


def test_body_selects_options(client):
    body = json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 3}, "fastsmr": {"format": "lmi"}})
    parts = _parts(_stream(client, "raw", body.encode(), ContentType="application/json"))
    assert parts == list(render_stream("lmi", generate_tokens(3)))


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "stream": True},
        {"messages": [{"role": "user", "content": "Hi"}], "max_completion_tokens": 4},
    ],
)
def test_openai_token_limit(client, body):
    parts = _parts(_stream(client, "openai", json.dumps(body).encode(), ContentType="application/json"))
    assert _visible_text("openai", parts) == generate_text(4)


def test_custom_attributes_override_body(client):
    body = json.dumps({"inputs": "Hi", "fastsmr": {"tokens": 9}}).encode()
    parts = _parts(_stream(client, body=body, CustomAttributes="fastsmr-tokens=2"))
    assert len(parts) == 2


def test_plain_text_body_is_a_prompt(client):
    parts = _parts(_stream(client, "raw", b"not json at all", ContentType="text/plain"))
    assert b"".join(parts) == generate_text(32).encode()


def test_zero_tokens(client):
    assert _parts(_stream(client, "raw", CustomAttributes="fastsmr-tokens=0")) == []
    assert len(_parts(_stream(client, "tgi", CustomAttributes="fastsmr-tokens=0"))) == 1


def test_no_custom_attributes_no_echo(client):
    response = _stream(client)
    assert "CustomAttributes" not in response
    _parts(response)


def test_added_endpoint_with_own_config():
    with StreamingEndpoint({}) as ep:
        ep.add_endpoint("my-llm", EndpointConfig(format="lmi", tokens=5, variant="blue"))
        response = _stream(ep.client(), "my-llm")
        assert response["InvokedProductionVariant"] == "blue"
        assert len(_parts(response)) == 5
        with pytest.raises(ep.client().exceptions.ValidationError):
            _stream(ep.client(), "raw")


# --- invoke_endpoint --------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_invoke_endpoint(client, fmt):
    response = client.invoke_endpoint(
        EndpointName=fmt, Body=b'{"inputs": "Hi"}', ContentType="application/json", CustomAttributes="fastsmr-tokens=12"
    )
    assert response["ContentType"] == ("text/plain; charset=utf-8" if fmt == "raw" else "application/json")
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert response["CustomAttributes"] == "fastsmr-tokens=12"
    body = response["Body"].read()
    assert body == render_response(fmt, generate_tokens(12))
    text = {
        "raw": lambda: body.decode(),
        "lmi": lambda: json.loads(body)["generated_text"],
        "tgi": lambda: json.loads(body)[0]["generated_text"],
        "openai": lambda: json.loads(body)["choices"][0]["message"]["content"],
    }[fmt]()
    assert text == generate_text(12)


# --- the service's errors ---------------------------------------------------------

OPERATIONS = ["invoke_endpoint", "invoke_endpoint_with_response_stream"]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_unknown_endpoint_is_validation_error(client, operation):
    with pytest.raises(client.exceptions.ValidationError) as info:
        getattr(client, operation)(EndpointName="no-such-endpoint", Body=b"{}")
    error = info.value.response
    assert error["Error"]["Code"] == "ValidationError"
    assert error["Error"]["Message"] == "Endpoint no-such-endpoint of account 123456789012 not found."
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["ResponseMetadata"]["RequestId"]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_malformed_json_is_model_error(client, operation):
    with pytest.raises(client.exceptions.ModelError) as info:
        getattr(client, operation)(EndpointName="tgi", Body=b'{"inputs": ', ContentType="application/json")
    error = info.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400
    assert "Failed to deserialize the JSON body" in error["OriginalMessage"]
    assert error["LogStreamArn"].endswith("/aws/sagemaker/Endpoints/tgi")
    assert error["Error"]["Message"].startswith("Received client error (400) from primary")


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("status", [400, 500, 503])
def test_model_error_fault(client, operation, status):
    with pytest.raises(client.exceptions.ModelError) as info:
        getattr(client, operation)(
            EndpointName="raw", Body=b"x", CustomAttributes=f"fastsmr-fault=model-error; fastsmr-status={status}"
        )
    assert info.value.response["OriginalStatusCode"] == status
    side = "client" if status < 500 else "server"
    assert info.value.response["Error"]["Message"].startswith(f"Received {side} error ({status})")


def test_model_error_names_the_signing_region(endpoint):
    client = endpoint.client(region_name="eu-west-3")
    with pytest.raises(client.exceptions.ModelError) as info:
        client.invoke_endpoint(EndpointName="raw", Body=b"x", CustomAttributes="fastsmr-fault=model-error")
    assert info.value.response["LogStreamArn"].startswith("arn:aws:logs:eu-west-3:")


@pytest.mark.parametrize(
    "attributes, fragment",
    [
        ("fastsmr-format=xml", "format must be one of"),
        ("fastsmr-tokens=many", "option 'tokens' has a bad value"),
        ("fastsmr-colour=red", "unknown option 'colour'"),
        ("fastsmr-fault=meteor", "fault must be one of"),
        ("fastsmr-error-code=Oops", "error_code must be one of"),
        ("fastsmr-rate=-1", "rate must be"),
        ("fastsmr-pace-origin=-1", "pace_origin must be"),
        ("fastsmr-pace-origin=inf", "pace_origin must be"),
        ("fastsmr-tokens", "needs a value"),
        ("x" * 1025, "customAttributes"),
    ],
)
def test_bad_options_are_validation_errors(client, attributes, fragment):
    with pytest.raises(client.exceptions.ValidationError) as info:
        _stream(client, CustomAttributes=attributes)
    assert fragment in info.value.response["Error"]["Message"]


def test_bad_body_options_are_validation_errors(client):
    with pytest.raises(client.exceptions.ValidationError, match="must be a JSON object"):
        _stream(client, body=b'{"fastsmr": 3}')


def test_oversized_body_is_validation_error(client):
    with pytest.raises(client.exceptions.ValidationError, match="exceeds the limit"):
        client.invoke_endpoint(EndpointName="raw", Body=b"x" * (6 * 1024 * 1024 + 1))


def test_client_error_classes_are_the_modeled_ones(client):
    # boto3's generated classes, so `except client.exceptions.X` and
    # `except ClientError` both work as against AWS.
    assert issubclass(client.exceptions.ValidationError, botocore.exceptions.ClientError)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        _stream(client, "missing")
    assert type(info.value).__name__ == "ValidationError"


# --- the wire: raw HTTP ------------------------------------------------------------


def _raw_exchange(endpoint, request: bytes) -> bytes:
    with socket.create_connection((endpoint.host, endpoint.port), timeout=10) as sock:
        sock.sendall(request)
        data = bytearray()
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return bytes(data)
            data += chunk


def _dechunk(body: bytes) -> list:
    chunks, pos = [], 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end], 16)
        if size == 0:
            assert body[end:] == b"\r\n\r\n"
            return chunks
        chunks.append(body[end + 2 : end + 2 + size])
        assert body[end + 2 + size : end + 4 + size] == b"\r\n"
        pos = end + 4 + size


def test_wire_one_message_per_http_chunk(endpoint):
    request = (
        b"POST /endpoints/raw/invocations-response-stream HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"X-Amzn-SageMaker-Custom-Attributes: fastsmr-tokens=6\r\nConnection: close\r\n\r\n{}"
    )
    head, _, body = _raw_exchange(endpoint, request).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    names = {line.split(":", 1)[0] for line in lines[1:]}
    # the header names exactly as botocore's service model spells them
    assert {
        "x-amzn-RequestId",
        "X-Amzn-SageMaker-Content-Type",
        "x-Amzn-Invoked-Production-Variant",
        "X-Amzn-SageMaker-Custom-Attributes",
        "Content-Type",
        "Transfer-Encoding",
    } <= names
    chunks = _dechunk(body)
    assert len(chunks) == 6
    for chunk, token in zip(chunks, generate_tokens(6)):
        (message,) = fastsmr.decode(chunk)
        assert message.headers == {
            ":event-type": "PayloadPart",
            ":content-type": "application/octet-stream",
            ":message-type": "event",
        }
        assert message.payload == token.encode()


def test_keep_alive_serves_several_requests(endpoint):
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=10)
    try:
        for tokens in (3, 4):
            conn.request(
                "POST",
                "/endpoints/raw/invocations-response-stream",
                body=b"{}",
                headers={"X-Amzn-SageMaker-Custom-Attributes": f"fastsmr-tokens={tokens}"},
            )
            response = conn.getresponse()
            assert response.status == 200
            messages = fastsmr.decode(response.read())
            assert [m.payload for m in messages] == [t.encode() for t in generate_tokens(tokens)]
    finally:
        conn.close()


def test_chunked_request_body_and_expect_continue(endpoint):
    request = (
        b"POST /endpoints/raw/invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        b"5\r\n{\"fas\r\n1a\r\ntsmr\": {\"tokens\": 2}}     \r\n0\r\n\r\n"
    )
    reply = _raw_exchange(endpoint, request)
    assert reply.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert reply.endswith(b"\r\n\r\n" + generate_text(2).encode())


def test_ping_and_unknown_paths(endpoint):
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=10)
    try:
        conn.request("GET", "/ping")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        conn.request("GET", "/endpoints/raw/invocations")
        response = conn.getresponse()
        assert response.status == 404
        assert response.getheader("x-amzn-ErrorType") == "UnknownOperationException"
        assert "GET /endpoints/raw/invocations" in json.loads(response.read())["message"]
    finally:
        conn.close()


def test_garbage_request_gets_400_and_close(endpoint):
    reply = _raw_exchange(endpoint, b"NONSENSE\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 ")


def test_oversized_request_head_gets_431(endpoint):
    reply = _raw_exchange(endpoint, b"POST / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ")


def test_client_disconnect_mid_stream_frees_the_stream(endpoint):
    before = endpoint.stats.streams_open
    response = _stream(endpoint.client(), CustomAttributes="fastsmr-tokens=1000; fastsmr-rate=20")
    events = iter(response["Body"])
    next(events)
    response["Body"].close()
    for _ in range(500):  # bounded wait for the server to notice
        if endpoint.stats.streams_open == before:
            break
        time.sleep(0.01)
    assert endpoint.stats.streams_open == before


def test_aiobotocore_client(aio_client):
    async def main():
        async with aio_client() as client:
            response = await client.invoke_endpoint_with_response_stream(
                EndpointName="raw", Body=b"{}", CustomAttributes="fastsmr-tokens=20"
            )
            return [event["PayloadPart"]["Bytes"] async for event in response["Body"]]

    assert b"".join(asyncio.run(main())) == generate_text(20).encode()


def test_paced_tokens_never_leave_before_their_pace_origin_schedule(endpoint):
    # Token 0 goes at once; token k (k >= 1) at pace_origin + (k - 1) / rate,
    # never earlier (the server's timers may only be late), the same on a
    # shared origin for every stream: what the bench's batched arrival uses.
    rate, origin = 40.0, time.monotonic() + 0.25
    for seed in (1, 2):
        response = _stream(endpoint.client(), CustomAttributes=f"fastsmr-tokens=6; fastsmr-rate={rate:g}; "
                                                               f"fastsmr-pace-origin={origin!r}; fastsmr-seed={seed}")
        arrivals = [(time.monotonic(), event["PayloadPart"]["Bytes"]) for event in response["Body"]]
        assert b"".join(part for _, part in arrivals) == generate_text(6, seed=seed).encode()
        for k, (arrived, _) in enumerate(arrivals[1:], start=1):
            assert arrived >= origin + (k - 1) / rate

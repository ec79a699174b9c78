"""The local endpoint's Bedrock routes (InvokeModelWithResponseStream and
ConverseStream), read by a real boto3 ``bedrock-runtime`` client: stock
botocore, and botocore with ``fastsmr.install()`` on each backend."""

from __future__ import annotations

import base64
import json
import socket

import botocore.eventstream
import botocore.exceptions
import pytest
import urllib3.exceptions

import fastsmr
from fastsmr.codec import _codec_py as _pure
from fastsmr.testing import ERROR_CODES, generate_text, generate_tokens
from fastsmr.testing.bedrock import INVOKE_PROVIDERS, invoke_steps, provider_of

try:
    from fastsmr.codec import _codec_c as _speedups
except ImportError:
    _speedups = None

MODELS = {
    "anthropic": "anthropic.claude-3-haiku-20240307-v1:0",
    "amazon": "amazon.titan-text-express-v1",
    "meta": "us.meta.llama3-2-1b-instruct-v1:0",
    "mistral": "mistral.mistral-7b-instruct-v0:2",
}
MESSAGES = [{"role": "user", "content": [{"text": "Hello"}]}]


@pytest.fixture(scope="module")
def bedrock(endpoint):
    return endpoint.client("bedrock-runtime")


@pytest.fixture(params=["stock", "c", "python"])
def decoding(request, monkeypatch):
    """Which decoder botocore's EventStream uses: its own, or fastsmr's on a backend."""
    if request.param == "stock":
        yield "stock"
        return
    module = {"c": _speedups, "python": _pure}[request.param]
    if module is None:
        pytest.skip("the C extension is not installed")
    monkeypatch.setattr(fastsmr.codec.backend, "impl", module)
    fastsmr.install()
    try:
        yield "installed"
    finally:
        fastsmr.uninstall()


def _invoke(bedrock, provider, fastsmr_options=None, **body):
    body.setdefault("max_tokens", 6)
    if fastsmr_options:
        body["fastsmr"] = fastsmr_options
    response = bedrock.invoke_model_with_response_stream(modelId=MODELS[provider], body=json.dumps(body))
    return response


def _chunks(stream, received):
    for event in stream:
        received.append(json.loads(event["chunk"]["bytes"]))
    return received


def _text(provider, chunks):
    """The generated text, read from the provider's events independently of the endpoint's code."""
    out = []
    for chunk in chunks:
        if provider == "anthropic":
            if chunk["type"] == "content_block_delta":
                out.append(chunk["delta"]["text"])
        elif provider == "amazon":
            out.append(chunk["outputText"])
        elif provider == "meta":
            out.append(chunk["generation"])
        else:
            out.append(chunk["outputs"][0]["text"])
    return "".join(out)


def _converse(bedrock, tokens=6, model="meta.llama3-8b-instruct-v1:0", **fastsmr_options):
    extra = {"additionalModelRequestFields": {"fastsmr": fastsmr_options}} if fastsmr_options else {}
    return bedrock.converse_stream(modelId=model, messages=MESSAGES, inferenceConfig={"maxTokens": tokens}, **extra)


# --- InvokeModelWithResponseStream -----------------------------------------------


@pytest.mark.parametrize("provider", INVOKE_PROVIDERS)
def test_invoke_each_provider(bedrock, decoding, provider):
    response = _invoke(bedrock, provider)
    assert response["contentType"] == "application/json"
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    chunks = _chunks(response["body"], [])
    assert _text(provider, chunks) == generate_text(6)
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 6
    if provider == "anthropic":
        assert [c["type"] for c in chunks[:2]] == ["message_start", "content_block_start"]
        assert [c["type"] for c in chunks[-3:]] == ["content_block_stop", "message_delta", "message_stop"]
        assert chunks[-2]["delta"]["stop_reason"] == "max_tokens"


@pytest.mark.parametrize(
    "body, tokens",
    [
        ({"max_tokens": 3}, 3),
        ({"max_gen_len": 4}, 4),
        ({"textGenerationConfig": {"maxTokenCount": 5}}, 5),
        ({"max_tokens": 9, "fastsmr": {"seed": 3}}, 9),
    ],
)
def test_invoke_body_sets_the_options(bedrock, body, tokens):
    response = bedrock.invoke_model_with_response_stream(modelId=MODELS["meta"], body=json.dumps(body))
    chunks = _chunks(response["body"], [])
    seed = body.get("fastsmr", {}).get("seed", 0)
    assert _text("meta", chunks) == generate_text(tokens, seed)


def test_invoke_model_config_from_the_endpoints(endpoint, bedrock):
    endpoint.add_endpoint("mistral.configured-v1", tokens=2, seed=5)
    response = bedrock.invoke_model_with_response_stream(modelId="mistral.configured-v1", body=b"{}")
    assert _text("mistral", _chunks(response["body"], [])) == generate_text(2, 5)


def test_invoke_unknown_provider_is_a_validation_exception(bedrock):
    with pytest.raises(bedrock.exceptions.ValidationException, match="model identifier is invalid"):
        bedrock.invoke_model_with_response_stream(modelId="acme.model-v1", body=b"{}")


def test_invoke_malformed_body_is_a_validation_exception(bedrock):
    with pytest.raises(bedrock.exceptions.ValidationException, match="Malformed input request"):
        bedrock.invoke_model_with_response_stream(modelId=MODELS["meta"], body=b"{not json")


def test_bad_option_is_a_validation_exception(bedrock):
    with pytest.raises(bedrock.exceptions.ValidationException, match="fault must be one of"):
        _invoke(bedrock, "meta", {"fault": "gremlins"})


@pytest.mark.parametrize("operation", ["invoke", "converse"])
def test_model_error(bedrock, operation):
    with pytest.raises(bedrock.exceptions.ModelErrorException) as info:
        if operation == "invoke":
            _invoke(bedrock, "meta", {"fault": "model-error", "status": 503})
        else:
            _converse(bedrock, fault="model-error", status=503)
    error = info.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["originalStatusCode"] == 503
    assert error["resourceName"].startswith("arn:aws:bedrock:us-east-1::foundation-model/")


@pytest.mark.parametrize("error_code", ERROR_CODES)
def test_invoke_model_stream_error(bedrock, decoding, error_code):
    stream = _invoke(bedrock, "meta", {"fault": "model-stream-error", "fail_after": 2, "error_code": error_code})["body"]
    received = []
    with pytest.raises(botocore.exceptions.EventStreamError) as info:
        _chunks(stream, received)
    assert _text("meta", received) == generate_text(2)
    assert info.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert info.value.response["Error"]["Message"].startswith("The ")


def test_invoke_internal_server_exception(bedrock, decoding):
    stream = _invoke(bedrock, "anthropic", {"fault": "internal-stream-failure", "fail_after": 1})["body"]
    received = []
    with pytest.raises(botocore.exceptions.EventStreamError) as info:
        _chunks(stream, received)
    # the message and block starts come first: the fault counts tokens
    assert [c["type"] for c in received] == ["message_start", "content_block_start", "content_block_delta"]
    assert info.value.response["Error"]["Code"] == "internalServerException"


def test_invoke_bad_crc(bedrock, decoding):
    stream = _invoke(bedrock, "amazon", {"fault": "bad-crc", "fail_after": 1})["body"]
    received = []
    with pytest.raises(botocore.eventstream.ChecksumMismatch):
        _chunks(stream, received)
    assert _text("amazon", received) == generate_text(1)


@pytest.mark.parametrize("fault", ["reset", "truncate"])
def test_invoke_cut_inside_a_message(bedrock, decoding, fault):
    stream = _invoke(bedrock, "meta", {"fault": fault, "fail_after": 3})["body"]
    received = []
    if fault == "reset":
        with pytest.raises((urllib3.exceptions.ProtocolError, botocore.exceptions.HTTPClientError)):
            _chunks(stream, received)
    elif decoding == "stock":
        _chunks(stream, received)  # botocore drops the cut-off message quietly
    else:
        with pytest.raises(fastsmr.TruncatedStreamError):
            _chunks(stream, received)
    assert _text("meta", received) == generate_text(3)


# --- ConverseStream ----------------------------------------------------------------


def test_converse_events(bedrock, decoding):
    events = list(_converse(bedrock, tokens=5)["stream"])
    assert [next(iter(e)) for e in events] == (
        ["messageStart"] + ["contentBlockDelta"] * 5 + ["contentBlockStop", "messageStop", "metadata"]
    )
    assert events[0]["messageStart"] == {"role": "assistant"}
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == generate_text(5)
    assert events[-2]["messageStop"] == {"stopReason": "max_tokens"}
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 5
    assert set(events[-1]["metadata"]) == {"usage", "metrics"}  # the padding member "p" is not modelled


@pytest.mark.parametrize("model", [
    MODELS["anthropic"], "cohere.command-r-v1:0",
    "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.amazon.nova-lite-v1:0",
])
def test_converse_any_model(bedrock, model):
    events = list(_converse(bedrock, tokens=2, model=model, seed=4)["stream"])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == generate_text(2, 4)


@pytest.mark.parametrize(
    "fault, code", [("model-stream-error", "modelStreamErrorException"), ("internal-stream-failure", "internalServerException")]
)
def test_converse_stream_exceptions(bedrock, decoding, fault, code):
    events = []
    with pytest.raises(botocore.exceptions.EventStreamError) as info:
        for event in _converse(bedrock, tokens=6, fault=fault, fail_after=3)["stream"]:
            events.append(event)
    assert [next(iter(e)) for e in events] == ["messageStart"] + ["contentBlockDelta"] * 3
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["Error"]["Message"]


def test_converse_fault_after_the_last_token(bedrock, decoding):
    events = []
    with pytest.raises(botocore.exceptions.EventStreamError):
        for event in _converse(bedrock, tokens=2, fault="model-stream-error", fail_after=5)["stream"]:
            events.append(event)
    assert [next(iter(e)) for e in events][-3:] == ["contentBlockStop", "messageStop", "metadata"]


def test_converse_paced(bedrock, decoding):
    events = list(_converse(bedrock, tokens=4, rate=200.0)["stream"])
    assert sum("contentBlockDelta" in e for e in events) == 4


# --- the bytes on the wire ------------------------------------------------------------


def _raw_body(endpoint, path, body) -> bytes:
    """The de-chunked response body as sent."""
    payload = json.dumps(body).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode() + payload
    data = bytearray()
    with socket.create_connection((endpoint.host, endpoint.port), timeout=10) as sock:
        sock.sendall(request)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, chunked = bytes(data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    out, pos = bytearray(), 0
    while pos < len(chunked):
        end = chunked.index(b"\r\n", pos)
        size = int(chunked[pos:end], 16)
        out += chunked[end + 2 : end + 2 + size]
        pos = end + 4 + size
    return bytes(out)


def test_wire_invoke_chunks(endpoint):
    body = _raw_body(endpoint, "/model/meta.llama3-8b-instruct-v1%3A0/invoke-with-response-stream", {"max_gen_len": 3})
    messages = fastsmr.decode(body)
    assert all(
        m.headers == {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
        for m in messages
    )
    payloads = [json.loads(m.payload) for m in messages]
    assert all(set(p) == {"bytes", "p"} and p["p"] for p in payloads)
    assert len({len(p["p"]) for p in payloads}) > 1  # the padding varies
    inner = [base64.b64decode(p["bytes"]) for p in payloads]
    assert inner == list(invoke_steps("meta", generate_tokens(3)))


def test_wire_converse_events(endpoint):
    body = _raw_body(endpoint, "/model/mistral.mistral-large/converse-stream", {"inferenceConfig": {"maxTokens": 2}})
    messages = fastsmr.decode(body)
    assert [m.event_type for m in messages] == [
        "messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"
    ]
    assert all(m.message_type == "event" and m.headers[":content-type"] == "application/json" for m in messages)
    assert all(json.loads(m.payload)["p"] for m in messages)


def test_wire_exception_event(endpoint):
    path = "/model/anthropic.claude-v2/invoke-with-response-stream"
    fault = {"fault": "model-stream-error", "fail_after": 2, "error_code": "StreamBroken"}
    body = _raw_body(endpoint, path, {"max_tokens": 4, "fastsmr": fault})
    messages = fastsmr.decode(body)
    last = messages[-1]
    assert last.headers == {
        ":exception-type": "modelStreamErrorException",
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    assert json.loads(last.payload) == {
        "message": "The connection between SageMaker and the model was reset or closed.",
        "originalStatusCode": 500,
        "originalMessage": "The connection between SageMaker and the model was reset or closed.",
    }
    assert len(messages) == 2 + 2 + 1  # starts, two tokens, the exception


def test_provider_of():
    assert provider_of("anthropic.claude-3-haiku-20240307-v1:0") == "anthropic"
    assert provider_of("eu.meta.llama3-2-1b-instruct-v1:0") == "meta"
    assert provider_of("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-lite-v1") == "amazon"
    assert provider_of("mistral") == "mistral"


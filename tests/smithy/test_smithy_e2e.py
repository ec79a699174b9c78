"""The real new-SDK clients against the local endpoints, stock and with fastsmr, side by side.

SageMaker Runtime HTTP/2's ``invoke_endpoint_with_bidirectional_stream`` over
awscrt (HTTP/2, TLS, ALPN h2) against :class:`fastsmr.testing.BidirectionalEndpoint`;
Bedrock Runtime's ``converse_stream`` over aiohttp against the HTTP/1.1
endpoint's ConverseStream route. fastsmr comes in through the plugin or through
``install()``, on both backends; what the client sees is compared with what the
same client sees stock.
"""

from __future__ import annotations

import gc
import os
import tracemalloc
from typing import Any, List, Sequence, Tuple

import pytest
from smithy_aws_event_stream import exceptions as smithy_exceptions
from smithy_core.documents import Document

import fastsmr
import fastsmr.smithy
from fastsmr.testing import EndpointConfig, generate_text, generate_tokens, render_stream
from support.smithy_env import run
from support.smithy_wire import plain

from aws_sdk_bedrock_runtime import models as bedrock  # noqa: E402
from aws_sdk_sagemaker_runtime_http2 import models as sagemaker  # noqa: E402

MODES = ["plugin", "install"]


def _plugins(mode: str) -> Any:
    return [fastsmr.smithy.plugin] if mode == "plugin" else None


@pytest.fixture(params=MODES)
def mode(request):
    """How fastsmr comes in: the per-client plugin, or install()."""
    if request.param == "install":
        assert fastsmr.install()
        yield request.param
        fastsmr.uninstall()
    else:
        yield request.param


def _part(data: bytes, data_type: str = "UTF8", state: str | None = None) -> Any:
    return sagemaker.RequestStreamEventPayloadPart(
        sagemaker.RequestPayloadPart(bytes_=data, data_type=data_type, completion_state=state)
    )


async def _exchange(endpoint: Any, name: str, requests: Sequence[Any], plugins: Any) -> Tuple[List[Any], Any]:
    """Send ``requests`` on one bidirectional stream; the events received, then the error (or None)."""
    async with await endpoint.client(plugins=plugins) as client:
        events: List[Any] = []
        try:
            stream = await client.invoke_endpoint_with_bidirectional_stream(
                sagemaker.InvokeEndpointWithBidirectionalStreamInput(endpoint_name=name)
            )
            for request in requests:
                await stream.input_stream.send(request)
            await stream.input_stream.close()
            _, receiver = await stream.await_output()
            async for event in receiver:
                events.append(event)
        except Exception as error:  # the outcome under test
            return events, error
        return events, None


def _bytes(events: Sequence[Any]) -> bytes:
    return b"".join(event.value.bytes_ or b"" for event in events)


@pytest.mark.parametrize("fmt", ["tgi", "lmi", "openai", "raw"])
def test_bidirectional_answers_are_stocks(bidirectional, backend, mode, fmt):
    request = [_part(b'{"inputs": "Hi", "parameters": {"max_new_tokens": 40}}')]
    stock, stock_error = run(_exchange(bidirectional, fmt, request, None)) if mode == "plugin" else (None, None)
    events, error = run(_exchange(bidirectional, fmt, request, _plugins(mode)))
    assert error is None and stock_error is None
    assert _bytes(events) == b"".join(render_stream(fmt, generate_tokens(40), finish=True))
    assert [e.value.completion_state for e in events] == ["PARTIAL"] * (len(events) - 1) + ["COMPLETE"]
    assert all(e.value.data_type == "UTF8" for e in events)
    if stock is not None:
        assert plain(events) == plain(stock)


def test_bidirectional_requests_are_answered_in_order(bidirectional, backend, mode):
    binary = bytes(range(256)) * 3
    requests = [
        _part(b"first"),
        _part(b"sec", state="PARTIAL"), _part(b"ond", state="COMPLETE"),
        _part(binary, data_type="BINARY"),
    ]
    events, error = run(_exchange(bidirectional, "echo", requests, _plugins(mode)))
    assert error is None
    answers, current = [], []
    for event in events:
        current.append(event)
        if event.value.completion_state == "COMPLETE":
            answers.append(current)
            current = []
    assert current == []
    assert [_bytes(answer) for answer in answers] == [b"first", b"second", binary]
    assert {e.value.data_type for e in answers[2]} == {"BINARY"}


@pytest.mark.parametrize("fault", ["model-stream-error", "internal-stream-failure", "bad-crc", "truncate", "reset"])
def test_bidirectional_faults_raise_what_stock_raises(bidirectional, backend, mode, fault):
    name = f"fault-{fault}"
    bidirectional.add_endpoint(name, EndpointConfig(format="raw", tokens=6, fault=fault, fail_after=3))
    request = [_part(b"Hi")]
    stock, stock_error = run(_exchange(bidirectional, name, request, None)) if mode == "plugin" else (None, None)
    events, error = run(_exchange(bidirectional, name, request, _plugins(mode)))
    assert _bytes(events) == generate_text(3).encode()
    if fault == "model-stream-error":
        assert isinstance(error, sagemaker.ModelStreamError)
        assert error.error_code == "ModelInvocationTimeExceeded" and "did not finish" in error.message
    elif fault == "internal-stream-failure":
        assert isinstance(error, sagemaker.InternalStreamFailure)
    elif fault == "bad-crc":
        assert isinstance(error, smithy_exceptions.ChecksumMismatch) and isinstance(error, fastsmr.ChecksumMismatch)
        assert error.offset > 0 and error.part == "message"
    else:  # the stream ended (or was reset) inside a message
        assert isinstance(error, smithy_exceptions.InvalidEventBytes)
        assert isinstance(error, fastsmr.TruncatedStreamError) and error.remaining > 0
    if stock is not None:
        assert plain(events) == plain(stock)
        assert isinstance(error, type(stock_error))
        if isinstance(stock_error, sagemaker.ServiceError):
            assert error == stock_error


def test_bidirectional_errors_before_the_stream_are_the_sdks(bidirectional, mode):
    bidirectional.add_endpoint("broken", EndpointConfig(fault="model-error", status=503))
    _, error = run(_exchange(bidirectional, "broken", [_part(b"Hi")], _plugins(mode)))
    assert isinstance(error, sagemaker.ModelError) and error.original_status_code == 503
    _, error = run(_exchange(bidirectional, "no-such-endpoint", [_part(b"Hi")], _plugins(mode)))
    assert isinstance(error, sagemaker.InputValidationError) and "no-such-endpoint" in error.message


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def test_one_client_for_many_streams_keeps_memory_and_descriptors_flat(bidirectional, mode):
    async def many(count: int, client: Any) -> None:
        for index in range(count):
            stream = await client.invoke_endpoint_with_bidirectional_stream(
                sagemaker.InvokeEndpointWithBidirectionalStreamInput(endpoint_name="raw")
            )
            await stream.input_stream.send(_part(b'{"inputs": "Hi", "parameters": {"max_new_tokens": 20}}'))
            await stream.input_stream.close()
            _, receiver = await stream.await_output()
            if index % 3 == 0:  # a consumer that leaves early
                await receiver.receive()
                await receiver.close()
            else:
                assert len([event async for event in receiver]) == 21

    async def main() -> Tuple[int, int, int]:
        async with await bidirectional.client(plugins=_plugins(mode)) as client:
            await many(60, client)
            gc.collect()
            descriptors = _open_descriptors()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            await many(300, client)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
            tracemalloc.stop()
            return grown, descriptors, _open_descriptors()

    grown, descriptors_before, descriptors_after = run(main(), timeout=300)
    assert grown < 2_000_000, grown
    assert descriptors_after <= descriptors_before + 2


# --- Bedrock Runtime converse_stream (HTTP/1.1) ------------------------------------------


async def _converse(endpoint: Any, fields: dict, plugins: Any) -> Tuple[List[Any], Any]:
    client = await endpoint.bedrock_client(plugins=plugins)
    events: List[Any] = []
    try:
        async with client:
            stream = await client.converse_stream(bedrock.ConverseStreamInput(
                model_id="fastsmr.pseudo-model",
                messages=[bedrock.Message(role="user", content=[bedrock.ContentBlockText("Hi")])],
                additional_model_request_fields=Document({"fastsmr": Document({k: Document(v) for k, v in fields.items()})}),
            ))
            async for event in stream.output_stream:
                events.append(event)
    except Exception as error:  # the outcome under test
        return events, error
    return events, None


def _text(events: Sequence[Any]) -> str:
    return "".join(
        e.value.delta.value for e in events if isinstance(e, bedrock.ConverseStreamOutputContentBlockDelta)
    )


def test_converse_stream_events_are_stocks(endpoint, backend, mode):
    stock, stock_error = run(_converse(endpoint, {"tokens": 50}, None)) if mode == "plugin" else (None, None)
    events, error = run(_converse(endpoint, {"tokens": 50}, _plugins(mode)))
    assert error is None and stock_error is None
    assert _text(events) == generate_text(50)
    assert isinstance(events[0], bedrock.ConverseStreamOutputMessageStart)
    assert isinstance(events[-1], bedrock.ConverseStreamOutputMetadata) and events[-1].value.usage.output_tokens == 50
    if stock is not None:
        assert plain(events) == plain(stock)


@pytest.mark.parametrize("fault", ["model-stream-error", "internal-stream-failure", "bad-crc", "truncate"])
def test_converse_stream_faults_raise_what_stock_raises(endpoint, backend, mode, fault):
    fields = {"tokens": 8, "fault": fault, "fail_after": 4}
    stock, stock_error = run(_converse(endpoint, fields, None)) if mode == "plugin" else (None, None)
    events, error = run(_converse(endpoint, fields, _plugins(mode)))
    assert _text(events) == generate_text(4)
    expected = {
        "model-stream-error": bedrock.ModelStreamErrorException,
        "internal-stream-failure": bedrock.InternalServerException,
        "bad-crc": smithy_exceptions.ChecksumMismatch,
        "truncate": smithy_exceptions.InvalidEventBytes,
    }[fault]
    assert isinstance(error, expected)
    if stock is not None:
        assert plain(events) == plain(stock)
        assert isinstance(error, type(stock_error))

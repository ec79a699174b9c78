"""LiteLLM's SageMaker and Bedrock streaming, which decode with botocore's EventStreamBuffer
over httpx: with ``fastsmr.install()`` the chunks (and errors) equal those without."""

from __future__ import annotations

import asyncio
from typing import Any, List

import botocore.eventstream as bes
import pytest

import fastsmr
from fastsmr.testing import generate_text

from support.consumers import decoders, outcome, require, stock_botocore, stock_then_installed  # noqa: F401 (fixtures)

litellm = require("litellm")

TOKENS = 6
CREDENTIALS = {"aws_access_key_id": "fastsmr-local", "aws_secret_access_key": "fastsmr-local", "aws_region_name": "us-east-1"}
MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module", autouse=True)
def faulty_endpoints(endpoint):
    endpoint.add_endpoint("tgi-sliced", format="tgi", part_bytes=7)
    endpoint.add_endpoint("tgi-stream-error", format="tgi", fault="model-stream-error", fail_after=2)
    endpoint.add_endpoint("lmi-internal-failure", format="lmi", fault="internal-stream-failure", fail_after=3)
    endpoint.add_endpoint("tgi-bad-crc", format="tgi", fault="bad-crc", fail_after=2)
    endpoint.add_endpoint("tgi-cut", format="tgi", fault="truncate", fail_after=2)
    endpoint.add_endpoint("meta.llama3-stream-error-v1:0", fault="model-stream-error", fail_after=2)
    endpoint.add_endpoint("anthropic.claude-bad-crc-v1:0", fault="bad-crc", fail_after=1)


def chunk_view(chunk: Any) -> tuple:
    """What a consumer reads of a streamed chunk (not its random id or timestamp)."""
    choice = chunk.choices[0]
    usage = getattr(chunk, "usage", None)
    return (
        choice.delta.model_dump(),
        choice.finish_reason,
        usage.model_dump() if usage is not None else None,
    )


def error_view(error: Any) -> Any:
    if error is None:
        return None
    return type(error), str(error)


def text_of(seen: List[tuple]) -> str:
    return "".join(delta.get("content") or "" for delta, _, _ in seen)


def sagemaker(endpoint: Any, model: str, name: str) -> Any:
    return litellm.completion(
        model=model, messages=MESSAGES, stream=True, max_tokens=TOKENS,
        sagemaker_base_url=f"{endpoint.url}/endpoints/{name}/invocations-response-stream", **CREDENTIALS,
    )


@pytest.mark.parametrize(
    "model, name, tail",
    [
        ("sagemaker/tgi", "tgi", "</s>"),  # LiteLLM passes TGI's end-of-sequence token on
        ("sagemaker/lmi", "lmi", ""),
        ("sagemaker/tgi", "tgi-sliced", "</s>"),  # records split across PayloadParts
        ("sagemaker_chat/openai", "openai", ""),
    ],
)
def test_sagemaker_streaming_completion(endpoint, decoders, model, name, tail):
    stock, installed = stock_then_installed(lambda: outcome(sagemaker(endpoint, model, name), chunk_view), decoders)
    assert installed[1] is None and stock[1] is None
    assert installed[0] == stock[0]
    assert text_of(installed[0]) == generate_text(TOKENS) + tail


def test_sagemaker_async_streaming_completion(endpoint, decoders):
    async def run() -> Any:
        stream = await litellm.acompletion(
            model="sagemaker/lmi", messages=MESSAGES, stream=True, max_tokens=TOKENS,
            sagemaker_base_url=f"{endpoint.url}/endpoints/lmi/invocations-response-stream", **CREDENTIALS,
        )
        return [chunk_view(chunk) async for chunk in stream]

    stock, installed = stock_then_installed(lambda: asyncio.run(run()), decoders)
    assert installed == stock
    assert text_of(installed) == generate_text(TOKENS)


@pytest.mark.parametrize("name", ["tgi-stream-error", "lmi-internal-failure", "tgi-cut"])
def test_sagemaker_stream_faults(endpoint, decoders, name):
    model = "sagemaker/" + name.split("-")[0]
    stock, installed = stock_then_installed(lambda: outcome(sagemaker(endpoint, model, name), chunk_view), decoders)
    assert installed[0] == stock[0]
    assert error_view(installed[1]) == error_view(stock[1])
    if name == "tgi-cut":
        assert installed[1] is None  # botocore's buffer ends quietly at a cut-off message, and so does fastsmr's
    else:
        assert "SageMaker stream failed with" in str(installed[1])


def test_sagemaker_bad_crc(endpoint, decoders):
    stock, installed = stock_then_installed(
        lambda: outcome(sagemaker(endpoint, "sagemaker/tgi", "tgi-bad-crc"), chunk_view), decoders
    )
    assert installed[0] == stock[0] and len(installed[0]) == 2
    assert type(installed[1]) is type(stock[1])
    # LiteLLM relays the decoder's message: fastsmr's names the offset
    assert "Checksum mismatch" in str(stock[1]) and "message CRC mismatch in the message at offset" in str(installed[1])


def bedrock(endpoint: Any, model: str) -> Any:
    return litellm.completion(
        model=model, messages=MESSAGES, stream=True, max_tokens=TOKENS,
        aws_bedrock_runtime_endpoint=endpoint.url, **CREDENTIALS,
    )


@pytest.mark.parametrize(
    "model",
    [
        "bedrock/anthropic.claude-3-haiku-20240307-v1:0",  # LiteLLM's default route: ConverseStream
        "bedrock/converse/meta.llama3-8b-instruct-v1:0",
        "bedrock/invoke/anthropic.claude-3-haiku-20240307-v1:0",
        "bedrock/invoke/meta.llama3-8b-instruct-v1:0",
        "bedrock/invoke/mistral.mistral-7b-instruct-v0:2",
        "bedrock/invoke/amazon.titan-text-express-v1",
    ],
)
def test_bedrock_streaming_completion(endpoint, decoders, model):
    before = endpoint.stats.streams_total
    stock, installed = stock_then_installed(lambda: outcome(bedrock(endpoint, model), chunk_view), decoders)
    assert endpoint.stats.streams_total == before + 2  # both streamed from the local endpoint
    assert installed[1] is None and stock[1] is None
    assert installed[0] == stock[0]
    assert text_of(installed[0]) == generate_text(TOKENS)


@pytest.mark.parametrize("model", ["bedrock/converse/meta.llama3-stream-error-v1:0", "bedrock/invoke/meta.llama3-stream-error-v1:0"])
def test_bedrock_stream_error(endpoint, decoders, model):
    stock, installed = stock_then_installed(lambda: outcome(bedrock(endpoint, model), chunk_view), decoders)
    assert installed[0] == stock[0]
    assert error_view(installed[1]) == error_view(stock[1])
    assert installed[1] is not None and "modelStreamErrorException" in str(installed[1])


def test_bedrock_bad_crc(endpoint, decoders):
    stock, installed = stock_then_installed(
        lambda: outcome(bedrock(endpoint, "bedrock/invoke/anthropic.claude-bad-crc-v1:0"), chunk_view), decoders
    )
    assert installed[0] == stock[0]
    assert type(installed[1]) is type(stock[1])
    assert "offset" in str(installed[1]) and "offset" not in str(stock[1])


def test_litellm_decodes_with_botocores_buffer():
    # What this file relies on: LiteLLM builds botocore's EventStreamBuffer itself.
    import inspect

    from litellm.llms.sagemaker import common_utils

    assert "EventStreamBuffer" in inspect.getsource(common_utils.AWSEventStreamDecoder.iter_bytes)
    assert fastsmr.install()
    assert isinstance(bes.EventStreamBuffer(), fastsmr.boto.buffer.EventStreamBuffer)


def test_bench_case_measures_every_competitor():
    from fastsmr.cli.bench import _clients, _litellm, _report

    server = _clients.Server()
    try:
        tables = _litellm.litellm_tables(server, quick=True, rounds=1, e2e_rounds=1, tokens=300)
    finally:
        server.close()
    doc = _report.document(tables, argv=[], quick=True, elapsed=1.0, start_info=_report.machine_info())
    assert [t["case"] for t in doc["tables"]] == ["litellm"] * 3
    for table in doc["tables"]:
        for competitor in table["competitors"]:
            if competitor["name"].endswith(" c") and fastsmr.BACKEND != "c":
                assert competitor["status"] == "skipped"
                continue
            assert competitor["status"] == "ok", competitor
            for summary in competitor["metrics"].values():
                assert summary["min"] > 0
        assert all(r["status"] == "ok" for r in table["ratios"] if " c" not in r["fast"] or fastsmr.BACKEND == "c")

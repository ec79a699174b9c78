"""langchain-aws's SageMaker streaming (its LineIterator over boto3's EventStream) and its
Bedrock ConverseStream chat model: with ``fastsmr.install()`` the chunks equal those without."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fastsmr.testing import generate_text, generate_tokens
from support.consumers import decoders, outcome, require, stock_botocore, stock_then_installed  # noqa: F401 (fixtures)

langchain_aws = require("langchain_aws")
sagemaker_endpoint = require("langchain_aws.llms.sagemaker_endpoint")

TOKENS = 7


class LMILines(sagemaker_endpoint.LLMContentHandler):
    """LMI's JSON lines: one ``{"token": {"text": ...}}`` per line."""

    content_type = "application/json"
    accepts = "application/json"

    def transform_input(self, prompt: str, model_kwargs: dict) -> bytes:
        return json.dumps({"inputs": prompt, "parameters": model_kwargs}).encode()

    def transform_output(self, output: bytes) -> str:
        return json.loads(output)["token"]["text"]


@pytest.fixture(scope="module", autouse=True)
def sliced_endpoints(endpoint):
    endpoint.add_endpoint("lmi-sliced", format="lmi", part_bytes=5)  # lines split across PayloadParts
    endpoint.add_endpoint("lmi-stream-error", format="lmi", fault="model-stream-error", fail_after=3)


def sagemaker_llm(endpoint: Any, name: str) -> Any:
    return langchain_aws.SagemakerEndpoint(
        endpoint_name=name, client=endpoint.client(), content_handler=LMILines(), streaming=True,
        model_kwargs={"max_new_tokens": TOKENS},
    )


@pytest.mark.parametrize("name", ["lmi", "lmi-sliced"])
def test_sagemaker_streaming(endpoint, decoders, name):
    llm = sagemaker_llm(endpoint, name)
    stock, installed = stock_then_installed(lambda: outcome(llm.stream("Hello"), str), decoders)
    assert installed == stock
    assert installed[1] is None and "".join(installed[0]) == generate_text(TOKENS)


def test_sagemaker_stream_error(endpoint, decoders):
    llm = sagemaker_llm(endpoint, "lmi-stream-error")
    stock, installed = stock_then_installed(lambda: outcome(llm.stream("Hello"), str), decoders)
    assert installed[0] == stock[0] == generate_tokens(3)
    assert type(installed[1]) is type(stock[1]) and str(installed[1]) == str(stock[1])
    assert "ModelStreamError" in str(installed[1])


def chat_view(chunk: Any) -> tuple:
    # the HTTP response's metadata (request id, date) differs between any two calls
    metadata = {key: value for key, value in chunk.response_metadata.items() if key != "ResponseMetadata"}
    return chunk.content, metadata, chunk.usage_metadata


def test_bedrock_converse_streaming(endpoint, decoders):
    chat = langchain_aws.ChatBedrockConverse(
        model="meta.llama3-8b-instruct-v1:0", client=endpoint.client("bedrock-runtime"),
        max_tokens=TOKENS, region_name="us-east-1",
    )
    stock, installed = stock_then_installed(lambda: outcome(chat.stream("Hello"), chat_view), decoders)
    assert installed == stock
    text = "".join(part["text"] for content, _, _ in installed[0] for part in content if isinstance(part, dict) and "text" in part)
    assert text == generate_text(TOKENS)

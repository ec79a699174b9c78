"""text_stream over real boto3 and aiobotocore responses from the local
endpoint on 127.0.0.1: every container format, with PayloadParts cut at
arbitrary byte counts."""

from __future__ import annotations

import asyncio

import pytest

import fastsmr
from fastsmr.testing import generate_text


@pytest.mark.parametrize("format", ["tgi", "lmi", "openai", "raw"])
@pytest.mark.parametrize("part_bytes", [0, 1, 3, 7, 64])  # 0: one part per token
def test_text_stream_of_payload_parts(backend, client, format, part_bytes):
    response = client.invoke_endpoint_with_response_stream(
        EndpointName=format,
        Body=b'{"inputs": "Hi"}',
        CustomAttributes=f"fastsmr-tokens=40; fastsmr-seed=5; fastsmr-part-bytes={part_bytes}",
    )
    texts = list(fastsmr.text_stream(fastsmr.payload_parts(response["Body"])))
    assert "".join(texts) == generate_text(40, seed=5)
    if part_bytes == 0 and format != "raw":
        assert len(texts) == 40  # one text per token


def test_sagemaker_stream_error_after_some_tokens(backend, client):
    # The tokens before a ModelStreamError exception event are delivered, then
    # botocore's own exception surfaces through text_stream unchanged.
    from botocore.exceptions import EventStreamError

    response = client.invoke_endpoint_with_response_stream(
        EndpointName="openai",
        Body=b"{}",
        CustomAttributes="fastsmr-tokens=20; fastsmr-seed=2; fastsmr-fault=model-stream-error; fastsmr-fail-after=10",
    )
    got = []
    with pytest.raises(EventStreamError, match="ModelStreamError"):
        for text in fastsmr.text_stream(fastsmr.payload_parts(response["Body"])):
            got.append(text)
    assert "".join(got) == generate_text(10, seed=2)


@pytest.mark.parametrize("format", ["tgi", "lmi", "openai", "raw"])
def test_async_text_stream_of_aiobotocore_payload_parts(backend, aio_client, format):
    import fastsmr.aio

    async def main():
        async with aio_client() as client:
            response = await client.invoke_endpoint_with_response_stream(
                EndpointName=format, Body=b"{}", CustomAttributes="fastsmr-tokens=30; fastsmr-seed=9; fastsmr-part-bytes=5"
            )
            return [text async for text in fastsmr.aio.text_stream(fastsmr.aio.payload_parts(response["Body"]))]

    assert "".join(asyncio.run(main())) == generate_text(30, seed=9)

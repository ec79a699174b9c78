"""pytest plugin (registered through the ``pytest11`` entry point): the
``streaming_endpoint`` fixture.

.. code-block:: python

    def test_tokens(streaming_endpoint):
        client = streaming_endpoint.client()
        response = client.invoke_endpoint_with_response_stream(
            EndpointName="tgi", Body=b'{"inputs": "Hi"}')
        assert sum(1 for _ in response["Body"]) > 0
"""

from __future__ import annotations

from typing import Iterator

import pytest

from .endpoint import StreamingEndpoint


@pytest.fixture
def streaming_endpoint() -> Iterator[StreamingEndpoint]:
    """A started :class:`~fastsmr.testing.StreamingEndpoint` serving the
    default endpoints (``tgi``, ``lmi``, ``openai``, ``raw``), closed after
    the test."""
    with StreamingEndpoint() as endpoint:
        yield endpoint

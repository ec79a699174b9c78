"""A local SageMaker Runtime endpoint that streams, for tests, demos and benchmarks.

No AWS account, no network: a real HTTP/1.1 server on 127.0.0.1 answers
``invoke_endpoint`` and ``invoke_endpoint_with_response_stream`` the way
SageMaker Runtime does, streaming deterministic pseudo-text in the formats of
real LLM containers, and injects the faults real endpoints produce.

>>> from fastsmr.testing import StreamingEndpoint, generate_text
>>> with StreamingEndpoint() as endpoint:
...     response = endpoint.client().invoke_endpoint_with_response_stream(
...         EndpointName="raw", Body=b"Hello", CustomAttributes="fastsmr-tokens=5")
...     text = b"".join(e["PayloadPart"]["Bytes"] for e in response["Body"]).decode()
>>> text == generate_text(5)
True

Under pytest the ``streaming_endpoint`` fixture gives a started endpoint.
"""

from .config import ERROR_CODES, FAULTS, EndpointConfig, OptionError
from .endpoint import BidirectionalEndpoint, StreamingEndpoint, bidirectional_endpoints, default_endpoints
from .model import CONTENT_TYPES, FORMATS, generate_text, generate_tokens, iter_tokens, render_response, render_stream
from .server import EndpointServer, ServerStats

__all__ = [
    "BidirectionalEndpoint",
    "CONTENT_TYPES",
    "ERROR_CODES",
    "FAULTS",
    "FORMATS",
    "EndpointConfig",
    "EndpointServer",
    "OptionError",
    "ServerStats",
    "StreamingEndpoint",
    "bidirectional_endpoints",
    "default_endpoints",
    "generate_text",
    "generate_tokens",
    "iter_tokens",
    "render_response",
    "render_stream",
]

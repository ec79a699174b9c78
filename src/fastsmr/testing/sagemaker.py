"""SageMaker Runtime's two HTTP/1.1 invocation operations, as the local endpoint serves them.

``POST /endpoints/{EndpointName}/invocations`` answers ``invoke_endpoint``
with the whole output; ``.../invocations-response-stream`` answers
``invoke_endpoint_with_response_stream`` with the output in ``PayloadPart``
events. Errors are SageMaker's: ``ValidationError`` for an unknown endpoint,
a bad option or a body over 6 MB, ``ModelError`` (HTTP 424) for what the
container refused; the stream's faults are ``ModelStreamError`` and
``InternalStreamFailure`` exception events.

>>> import fastsmr
>>> (message,) = fastsmr.decode(SageMakerRoute("raw").message(b"Hi"))
>>> message.event_type, message.payload
('PayloadPart', b'Hi')
"""

from __future__ import annotations

import asyncio
import json
from itertools import islice
from typing import Any, Dict, Iterable, Iterator, Mapping, Optional

from ..codec.encoder import encode
from .config import STREAM_ERROR_MESSAGES, EndpointConfig, OptionError, overrides_from_attributes, overrides_from_body
from .http1 import Request, error, region_of, respond
from .model import generate_tokens, render_error, render_response, render_stream, response_content_type
from .stream_writer import Route, ServerStats, stream_response

__all__ = [
    "OPERATIONS", "ACCOUNT_ID", "MAX_BODY", "PAYLOAD_PART", "SageMakerRoute", "EchoRoute", "model_error_body", "serve",
]

#: The last path segment of each operation.
OPERATIONS = ("invocations", "invocations-response-stream")
#: The account SageMaker's messages name (a documentation placeholder).
ACCOUNT_ID = "123456789012"
#: SageMaker's documented request payload limit (6 MB).
MAX_BODY = 6 * 1024 * 1024
#: The headers of SageMaker Runtime's ``PayloadPart`` event.
PAYLOAD_PART = {":event-type": "PayloadPart", ":content-type": "application/octet-stream", ":message-type": "event"}
_MAX_ATTRIBUTES = 1024


class SageMakerRoute(Route):
    """InvokeEndpointWithResponseStream: the container's output in ``PayloadPart`` events."""

    reslices = True

    def __init__(self, fmt: str) -> None:
        self.format = fmt

    def steps(self, tokens: Iterable[str], *, start: bool, finish: bool) -> Iterator[bytes]:
        return render_stream(self.format, tokens, finish=finish)

    def message(self, step: bytes) -> bytes:
        return encode(PAYLOAD_PART, step)

    def error_step(self) -> bytes:
        return render_error(self.format)

    def exception(self, fault: str, config: EndpointConfig) -> bytes:
        if fault == "model-stream-error":
            exception_type = "ModelStreamError"
            body = {"Message": STREAM_ERROR_MESSAGES[config.error_code], "ErrorCode": config.error_code}
        else:
            exception_type = "InternalStreamFailure"
            body = {"Message": "An internal failure occurred while streaming; try your request again."}
        headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
        return encode(headers, json.dumps(body).encode())


class EchoRoute(SageMakerRoute):
    """The request's own bytes as the output (``echo``): one step, carrying them."""

    def __init__(self, body: bytes) -> None:
        super().__init__("raw")
        self.body = body

    def steps(self, tokens: Iterable[str], *, start: bool, finish: bool) -> Iterator[bytes]:
        for _ in islice(tokens, 1):
            yield self.body


def model_error_body(name: str, region: str, status: int, original: str) -> Dict[str, Any]:
    """The JSON body of SageMaker's ``ModelError`` (HTTP 424) for a container that answered ``status``."""
    side = "client" if status < 500 else "server"
    return {
        "ErrorCode": f"{side.upper()}_ERROR_FROM_MODEL",
        "LogStreamArn": f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/{name}",
        "Message": (
            f'Received {side} error ({status}) from primary with message "{original}". '
            f"See the endpoint's CloudWatch log group in account {ACCOUNT_ID} for more information."
        ),
        "OriginalMessage": original,
        "OriginalStatusCode": status,
    }


async def serve(
    request: Request,
    name: str,
    operation: str,
    writer: asyncio.StreamWriter,
    endpoints: Mapping[str, EndpointConfig],
    stats: ServerStats,
    request_id: str,
) -> None:
    """Answer ``operation`` (one of :data:`OPERATIONS`) of endpoint ``name``."""
    region = region_of(request.headers)
    config = endpoints.get(name)
    if config is None:
        _validation_error(writer, f"Endpoint {name} of account {ACCOUNT_ID} not found.", request_id)
        return
    try:
        config = _per_call(config, request)
    except _ModelRejected as rejected:
        _model_error(writer, name, region, 400, rejected.message, request_id)
        return
    except OptionError as exc:
        _validation_error(writer, str(exc), request_id)
        return
    if config.fault == "model-error":
        original = json.dumps({"error": "fault injected by fastsmr", "error_type": "generation"})
        _model_error(writer, name, region, config.status, original, request_id)
        return
    attributes = request.headers.get("x-amzn-sagemaker-custom-attributes")
    if operation == "invocations":
        await _invoke(writer, config, attributes, request_id)
        return
    head = [
        f"X-Amzn-SageMaker-Content-Type: {response_content_type(config.format, streaming=True)}",
        f"x-Amzn-Invoked-Production-Variant: {config.variant}",
    ]
    if attributes is not None:
        head.append(f"X-Amzn-SageMaker-Custom-Attributes: {attributes}")
    route = EchoRoute(request.body) if config.echo else SageMakerRoute(config.format)
    await stream_response(writer, stats, config, route, head, request_id)


class _ModelRejected(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _per_call(config: EndpointConfig, request: Request) -> EndpointConfig:
    if len(request.body) > MAX_BODY:
        raise OptionError(f"Request payload of {len(request.body)} bytes exceeds the limit of {MAX_BODY} bytes.")
    attributes = request.headers.get("x-amzn-sagemaker-custom-attributes", "")
    if len(attributes) > _MAX_ATTRIBUTES:
        raise OptionError(
            "1 validation error detected: Value at 'customAttributes' failed to satisfy "
            f"constraint: Member must have length less than or equal to {_MAX_ATTRIBUTES}"
        )
    changes = overrides_from_attributes(attributes)
    content_type = request.headers.get("content-type", "")
    looks_json = "json" in content_type or request.body.lstrip()[:1] in (b"{", b"[")
    if looks_json and request.body.strip():
        try:
            body = json.loads(request.body)
        except ValueError as exc:
            # The container, not SageMaker, rejects a body it cannot parse:
            # SageMaker relays that as a ModelError.
            raise _ModelRejected(
                json.dumps({"error": f"Failed to deserialize the JSON body: {exc}", "error_type": "validation"})
            ) from None
        changes = {**overrides_from_body(body), **changes}
    return config.replace(**changes) if changes else config


async def _invoke(
    writer: asyncio.StreamWriter, config: EndpointConfig, attributes: Optional[str], request_id: str
) -> None:
    if config.start_delay:
        await asyncio.sleep(config.start_delay)
    body = render_response(config.format, generate_tokens(config.tokens, config.seed))
    extra = [("x-Amzn-Invoked-Production-Variant", config.variant)]
    if attributes is not None:
        extra.append(("X-Amzn-SageMaker-Custom-Attributes", attributes))
    respond(writer, 200, body, response_content_type(config.format, streaming=False), request_id, extra)
    await writer.drain()


def _validation_error(writer: asyncio.StreamWriter, message: str, request_id: str) -> None:
    error(writer, 400, "ValidationError", {"message": message}, request_id)


def _model_error(
    writer: asyncio.StreamWriter, name: str, region: str, status: int, original: str, request_id: str
) -> None:
    error(writer, 424, "ModelError", model_error_body(name, region, status, original), request_id)

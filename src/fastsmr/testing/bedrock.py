"""Amazon Bedrock Runtime's two streaming operations, as the local endpoint serves them.

``InvokeModelWithResponseStream`` (``POST /model/{modelId}/invoke-with-response-stream``)
streams the model provider's own JSON events, one per ``chunk`` event whose
JSON payload carries them base64-encoded (``{"bytes": "..."}``); the provider
is the first part of the model ID, as on the service: ``anthropic``
(Claude's Messages API events), ``amazon`` (Titan Text), ``meta`` (Llama) or
``mistral``. ``ConverseStream`` (``POST /model/{modelId}/converse-stream``)
streams the same events for every model: ``messageStart``, a
``contentBlockDelta`` per token, ``contentBlockStop``, ``messageStop`` and
``metadata``. Like the service, every event's JSON carries a padding member
``p`` that clients ignore. The shapes follow botocore's ``bedrock-runtime``
model and the Bedrock user guide's "Inference request parameters and
response fields for foundation models".

>>> import json
>>> from fastsmr.testing.bedrock import invoke_steps, provider_of
>>> provider_of("us.anthropic.claude-3-5-haiku-20241022-v1:0")
'anthropic'
>>> [json.loads(s)["outputText"] for s in invoke_steps("amazon", ["Hi", "!"], finish=False)]
['Hi', '!']

:func:`serve` answers both operations on the HTTP/1.1 endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, Dict, Iterable, Iterator, Mapping, Optional, Tuple

from ..codec.encoder import encode
from .config import STREAM_ERROR_MESSAGES, EndpointConfig, OptionError, overrides_from_body
from .http1 import Request, error, region_of
from .stream_writer import Route, ServerStats, stream_response

__all__ = [
    "OPERATIONS",
    "INVOKE_PROVIDERS",
    "STREAM_EXCEPTIONS",
    "converse_steps",
    "invoke_steps",
    "lead_steps",
    "provider_of",
    "converse_message",
    "chunk_message",
    "exception_message",
    "serve",
]

#: The last path segment of each operation (``POST /model/{modelId}/<operation>``).
OPERATIONS = ("invoke-with-response-stream", "converse-stream")

#: Model providers whose ``InvokeModelWithResponseStream`` body format the endpoint speaks.
INVOKE_PROVIDERS = ("anthropic", "amazon", "meta", "mistral")

#: The endpoint's stream faults and the Bedrock exception event each becomes
#: (both operations' event streams model these members).
STREAM_EXCEPTIONS = {
    "model-stream-error": "modelStreamErrorException",
    "internal-stream-failure": "internalServerException",
}

# Cross-region inference profiles put a geography before the provider.
_GEOGRAPHIES = ("us", "eu", "apac", "us-gov", "global", "jp", "au", "ca")
# A pretend prompt length, reported in the usage figures.
_PROMPT_TOKENS = 8
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_EVENT = {":content-type": "application/json", ":message-type": "event"}


def provider_of(model_id: str) -> str:
    """The provider part of a model ID, inference profile ID or model ARN.

    >>> provider_of("arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b-instruct-v1:0")
    'meta'
    """
    name = model_id.rsplit("/", 1)[-1]
    first, _, rest = name.partition(".")
    if first in _GEOGRAPHIES and rest:
        first = rest.partition(".")[0]
    return first


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _metrics(output_tokens: int) -> Dict[str, int]:
    # Deterministic, so that two runs of one stream are byte for byte equal.
    return {
        "inputTokenCount": _PROMPT_TOKENS,
        "outputTokenCount": output_tokens,
        "invocationLatency": 10 + output_tokens,
        "firstByteLatency": 10,
    }


def lead_steps(operation: str, provider: str) -> int:
    """How many steps come before the first token's (the message and block starts).

    >>> lead_steps("converse-stream", "meta"), lead_steps("invoke-with-response-stream", "anthropic")
    (1, 2)
    """
    if operation == "converse-stream":
        return 1
    return 2 if provider == "anthropic" else 0


def invoke_steps(provider: str, tokens: Iterable[str], *, start: bool = True, finish: bool = True) -> Iterator[bytes]:
    """The provider's JSON events for ``tokens``: what each ``chunk`` event carries.

    ``start`` adds what comes before the first token (Claude's
    ``message_start`` and ``content_block_start``); ``finish`` what comes
    after the last (the stop reason and ``amazon-bedrock-invocationMetrics``).

    >>> [json.loads(s)["type"] for s in invoke_steps("anthropic", ["Hi"])]
    ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']
    """
    if provider not in INVOKE_PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(INVOKE_PROVIDERS)}")
    if provider == "anthropic" and start:
        yield _dumps({
            "type": "message_start",
            "message": {
                "id": "msg_bdrk_fastsmr", "type": "message", "role": "assistant", "model": "claude-fastsmr",
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": _PROMPT_TOKENS, "output_tokens": 1},
            },
        })
        yield _dumps({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    count = 0
    for token in tokens:
        first = start and count == 0
        count += 1
        if provider == "anthropic":
            yield _dumps({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": token}})
        elif provider == "amazon":
            yield _dumps({
                "outputText": token, "index": 0, "totalOutputTextTokenCount": count,
                "completionReason": None, "inputTextTokenCount": _PROMPT_TOKENS if first else None,
            })
        elif provider == "meta":
            yield _dumps({
                "generation": token, "prompt_token_count": _PROMPT_TOKENS if first else None,
                "generation_token_count": count, "stop_reason": None,
            })
        else:
            yield _dumps({"outputs": [{"text": token, "stop_reason": None}]})
    if not finish:
        return
    metrics = {"amazon-bedrock-invocationMetrics": _metrics(count)}
    if provider == "anthropic":
        yield _dumps({"type": "content_block_stop", "index": 0})
        yield _dumps({
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
            "usage": {"output_tokens": count},
        })
        yield _dumps({"type": "message_stop", **metrics})
    elif provider == "amazon":
        yield _dumps({
            "outputText": "", "index": 0, "totalOutputTextTokenCount": count,
            "completionReason": "LENGTH", "inputTextTokenCount": None, **metrics,
        })
    elif provider == "meta":
        yield _dumps({
            "generation": "", "prompt_token_count": None, "generation_token_count": count,
            "stop_reason": "length", **metrics,
        })
    else:
        yield _dumps({"outputs": [{"text": "", "stop_reason": "length"}], **metrics})


def converse_steps(
    tokens: Iterable[str], *, start: bool = True, finish: bool = True
) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """``ConverseStream``'s events for ``tokens``, as (event type, members) pairs.

    >>> [event for event, _ in converse_steps(["Hi"])]
    ['messageStart', 'contentBlockDelta', 'contentBlockStop', 'messageStop', 'metadata']
    """
    if start:
        yield "messageStart", {"role": "assistant"}
    count = 0
    for token in tokens:
        count += 1
        yield "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": token}}
    if not finish:
        return
    yield "contentBlockStop", {"contentBlockIndex": 0}
    yield "messageStop", {"stopReason": "max_tokens"}
    yield "metadata", {
        "usage": {"inputTokens": _PROMPT_TOKENS, "outputTokens": count, "totalTokens": _PROMPT_TOKENS + count},
        "metrics": {"latencyMs": 10 + count},
    }


def _padded(members: Dict[str, Any]) -> bytes:
    # The service pads every event so that its length does not give the
    # content away; the padding's length varies with the content.
    size = len(_dumps(members))
    return _dumps({**members, "p": _PADDING[: 1 + size % len(_PADDING)]})


def chunk_message(body: bytes) -> bytes:
    """One ``chunk`` event of ``InvokeModelWithResponseStream`` carrying ``body``.

    >>> import fastsmr
    >>> (message,) = fastsmr.decode(chunk_message(b'{"generation":"Hi"}'))
    >>> message.event_type, json.loads(message.payload)["bytes"]
    ('chunk', 'eyJnZW5lcmF0aW9uIjoiSGkifQ==')
    """
    members = {"bytes": base64.b64encode(body).decode("ascii")}
    return encode({":event-type": "chunk", **_EVENT}, _padded(members))


def converse_message(step: Tuple[str, Dict[str, Any]]) -> bytes:
    """One ``ConverseStream`` event message for a (event type, members) pair."""
    event_type, members = step
    return encode({":event-type": event_type, **_EVENT}, _padded(members))


def exception_message(fault: str, message: str, original_status: Optional[int] = None) -> bytes:
    """The exception event a stream ``fault`` becomes (see :data:`STREAM_EXCEPTIONS`)."""
    body: Dict[str, Any] = {"message": message}
    if fault == "model-stream-error" and original_status is not None:
        body["originalStatusCode"] = original_status
        body["originalMessage"] = message
    headers = {
        ":exception-type": STREAM_EXCEPTIONS[fault],
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode(headers, _dumps(body))


# A model ID the endpoint has no config for streams with the defaults.
_DEFAULT = EndpointConfig()


async def serve(
    request: Request,
    model_id: str,
    operation: str,
    writer: asyncio.StreamWriter,
    endpoints: Mapping[str, EndpointConfig],
    stats: ServerStats,
    request_id: str,
) -> None:
    """Answer ``operation`` (one of :data:`OPERATIONS`) for ``model_id``, with its
    config in ``endpoints`` or the defaults."""
    provider = provider_of(model_id)
    if operation == "invoke-with-response-stream" and provider not in INVOKE_PROVIDERS:
        error(writer, 400, "ValidationException", {"message": "The provided model identifier is invalid."}, request_id)
        return
    config = endpoints.get(model_id, _DEFAULT)
    try:
        body = json.loads(request.body)
        changes = overrides_from_body(body)
        config = config.replace(**changes) if changes else config
    except ValueError as exc:  # OptionError included
        if isinstance(exc, OptionError):
            message = str(exc)
        else:
            message = f"Malformed input request: {exc}, please reformat your input and try again."
        error(writer, 400, "ValidationException", {"message": message}, request_id)
        return
    if config.fault == "generation-error":
        message = "fault generation-error is for SageMaker containers (tgi, lmi, openai)"
        error(writer, 400, "ValidationException", {"message": message}, request_id)
        return
    if config.fault == "model-error":
        region = region_of(request.headers)
        members = {
            "message": f"Received server error ({config.status}) from model. fault injected by fastsmr",
            "originalStatusCode": config.status,
            "resourceName": f"arn:aws:bedrock:{region}::foundation-model/{model_id}",
        }
        error(writer, 424, "ModelErrorException", members, request_id)
        return
    if operation == "converse-stream":
        await stream_response(writer, stats, config, _ConverseRoute(), [], request_id)
    else:
        head = ["X-Amzn-Bedrock-Content-Type: application/json"]
        await stream_response(writer, stats, config, _InvokeRoute(provider), head, request_id)


class _InvokeRoute(Route):
    """InvokeModelWithResponseStream: the provider's JSON events in ``chunk`` events."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.lead = lead_steps("invoke-with-response-stream", provider)

    def steps(self, tokens: Iterable[str], *, start: bool, finish: bool) -> Iterator[bytes]:
        return invoke_steps(self.provider, tokens, start=start, finish=finish)

    def message(self, step: bytes) -> bytes:
        return chunk_message(step)

    def exception(self, fault: str, config: EndpointConfig) -> bytes:
        return exception_message(fault, _stream_error(fault, config), config.status)


class _ConverseRoute(Route):
    """ConverseStream: its own events, the same for every model."""

    lead = lead_steps("converse-stream", "")

    def steps(self, tokens: Iterable[str], *, start: bool, finish: bool) -> Iterator[Tuple[str, Dict[str, Any]]]:
        return converse_steps(tokens, start=start, finish=finish)

    def message(self, step: Tuple[str, Dict[str, Any]]) -> bytes:
        return converse_message(step)

    def exception(self, fault: str, config: EndpointConfig) -> bytes:
        return exception_message(fault, _stream_error(fault, config), config.status)


def _stream_error(fault: str, config: EndpointConfig) -> str:
    if fault == "model-stream-error":
        return STREAM_ERROR_MESSAGES[config.error_code]
    return "The server encountered an internal error while streaming; try your request again."

"""How a local endpoint behaves, and how one request can change that.

An :class:`EndpointConfig` is fixed when the endpoint is created; each call
may override any field, either in the ``CustomAttributes`` parameter (sent as
the ``X-Amzn-SageMaker-Custom-Attributes`` header) as ``fastsmr-<field>=<value>``
pairs separated by ``;``, or in a JSON request body under a ``"fastsmr"`` key.
So one server can serve a whole test suite:

>>> from fastsmr.testing.config import EndpointConfig, overrides_from_attributes
>>> base = EndpointConfig(format="tgi", tokens=8)
>>> base.replace(**overrides_from_attributes("trace=7; fastsmr-fault=bad-crc; fastsmr-fail-after=3"))
EndpointConfig(format='tgi', tokens=8, rate=0.0, seed=0, fault='bad-crc', fail_after=3, error_code='ModelInvocationTimeExceeded', start_delay=0.0, part_bytes=0, status=500, variant='AllTraffic', pace_origin=0.0, echo=False)

The request body's usual token limits (TGI/LMI ``parameters.max_new_tokens``,
OpenAI and Claude ``max_tokens``/``max_completion_tokens``, Llama's
``max_gen_len``, Titan's ``textGenerationConfig.maxTokenCount``, Converse's
``inferenceConfig.maxTokens``) set ``tokens`` too. Bedrock's Converse request
has no free-form body: its options go in ``additionalModelRequestFields``
(``{"fastsmr": {...}}``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Mapping, Optional

from .model import FORMATS

__all__ = ["EndpointConfig", "FAULTS", "ERROR_CODES", "STREAM_ERROR_MESSAGES", "OptionError", "overrides_from_attributes", "overrides_from_body"]

#: Faults an endpoint can inject (``fault=`` values):
#:
#: ``model-stream-error``
#:     after ``fail_after`` tokens, a ``ModelStreamError`` exception message
#:     with ``error_code`` (``ModelInvocationTimeExceeded`` or ``StreamBroken``);
#:     botocore raises ``EventStreamError``.
#: ``internal-stream-failure``
#:     after ``fail_after`` tokens, an ``InternalStreamFailure`` exception message.
#: ``reset``
#:     after ``fail_after`` tokens, the first half of the next message, then a
#:     TCP reset (RST) of the connection.
#: ``truncate``
#:     after ``fail_after`` tokens, the first half of the next message, then a
#:     well-formed end of the HTTP response: the event stream stops mid-message.
#: ``bad-crc``
#:     the message after ``fail_after`` tokens has a corrupted message CRC;
#:     the stream then carries on.
#: ``model-error``
#:     the container answers with HTTP ``status``: SageMaker returns a
#:     ``ModelError`` (HTTP 424) before any streaming starts.
#: ``generation-error``
#:     after ``fail_after`` tokens, the container's own in-band error in its
#:     format (see :func:`fastsmr.testing.model.render_error`), then the end
#:     of a well-formed stream; ``tgi``, ``lmi`` and ``openai`` only.
#:
#: On the Bedrock routes the two exception faults become the
#: ``modelStreamErrorException`` and ``internalServerException`` events, and
#: ``model-error`` a ``ModelErrorException`` (HTTP 424); ``generation-error``
#: is refused there.
FAULTS = ("model-stream-error", "internal-stream-failure", "reset", "truncate", "bad-crc", "model-error", "generation-error")

#: ``ErrorCode`` values SageMaker documents for ``ModelStreamError``.
ERROR_CODES = ("ModelInvocationTimeExceeded", "StreamBroken")
#: The message of the ``ModelStreamError`` each error code comes with.
STREAM_ERROR_MESSAGES = {
    "ModelInvocationTimeExceeded": "The model did not finish sending its response within the allowed time.",
    "StreamBroken": "The connection between SageMaker and the model was reset or closed.",
}


class OptionError(ValueError):
    """A per-call or per-endpoint option is unknown or has a bad value."""


@dataclasses.dataclass(frozen=True)
class EndpointConfig:
    """What one local endpoint streams and how it misbehaves.

    >>> EndpointConfig(format="openai", tokens=4, rate=20.0).format
    'openai'
    """

    #: Container output format: ``tgi``, ``lmi`` (JSON lines), ``openai`` or ``raw``.
    format: str = "tgi"
    #: Generated tokens per response.
    tokens: int = 32
    #: Tokens per second; 0 streams as fast as the socket takes them.
    rate: float = 0.0
    #: Seed of the pseudo-text (see :func:`fastsmr.testing.generate_text`).
    seed: int = 0
    #: One of :data:`FAULTS`, or ``None``.
    fault: Optional[str] = None
    #: Tokens streamed before the fault.
    fail_after: int = 0
    #: ``ErrorCode`` of an injected ``ModelStreamError``.
    error_code: str = "ModelInvocationTimeExceeded"
    #: Slow start: seconds between the response headers and the first token
    #: (for ``invoke_endpoint``, before the response).
    start_delay: float = 0.0
    #: When > 0, re-slice the container output into parts of this many bytes
    #: (ignoring token and UTF-8 boundaries, as SageMaker may); 0 sends one
    #: ``PayloadPart`` per token.
    part_bytes: int = 0
    #: HTTP status the container returns for ``fault="model-error"``.
    status: int = 500
    #: Reported in ``x-Amzn-Invoked-Production-Variant``.
    variant: str = "AllTraffic"
    #: Paced streams only: when > 0, a time on this machine's monotonic clock
    #: (``time.monotonic()``, in seconds) that the pacing counts from. The
    #: first token goes at once; token ``k`` (``k >= 1``) goes at
    #: ``pace_origin + (k - 1) / rate``, so that a client can give every
    #: stream its own phase (tokens spread evenly in time) or the same one
    #: (every stream's token at once, as a batching engine emits them).
    #: 0 paces from the stream's own start.
    pace_origin: float = 0.0
    #: Answer with the request's own bytes (the request body, or each request
    #: of a bidirectional stream) instead of generated text; pacing,
    #: re-slicing and faults apply to them as to the text. SageMaker routes only.
    echo: bool = False

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise OptionError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.fault is not None and self.fault not in FAULTS:
            raise OptionError(f"fault must be one of {', '.join(FAULTS)}, got {self.fault!r}")
        if self.fault == "generation-error" and (self.format == "raw" or self.echo):
            raise OptionError("fault generation-error needs a format with in-band errors (tgi, lmi, openai), not raw or echo")
        if self.error_code not in ERROR_CODES:
            raise OptionError(f"error_code must be one of {', '.join(ERROR_CODES)}, got {self.error_code!r}")
        if not 0 <= self.tokens <= 10_000_000:
            raise OptionError(f"tokens must be between 0 and 10000000, got {self.tokens}")
        if not 0 <= self.fail_after:
            raise OptionError(f"fail_after must be >= 0, got {self.fail_after}")
        if not (math.isfinite(self.rate) and self.rate >= 0):
            raise OptionError(f"rate must be a finite number >= 0, got {self.rate}")
        if not (math.isfinite(self.start_delay) and 0 <= self.start_delay <= 3600):
            raise OptionError(f"start_delay must be between 0 and 3600 seconds, got {self.start_delay}")
        if not 0 <= self.part_bytes <= 1 << 24:
            raise OptionError(f"part_bytes must be between 0 and 16777216, got {self.part_bytes}")
        if not (math.isfinite(self.pace_origin) and self.pace_origin >= 0):
            raise OptionError(f"pace_origin must be a finite number >= 0, got {self.pace_origin}")
        if not 400 <= self.status <= 599:
            raise OptionError(f"status must be an HTTP error status (400-599), got {self.status}")

    def replace(self, **changes: Any) -> EndpointConfig:
        """A copy with ``changes`` applied (validated like the constructor).

        >>> EndpointConfig().replace(tokens=3).tokens
        3
        """
        return dataclasses.replace(self, **changes)


_FIELDS = {f.name: f for f in dataclasses.fields(EndpointConfig)}


def _coerce(name: str, value: Any) -> Any:
    """Turn an option given as text or JSON into the field's type."""
    key = name.replace("-", "_")
    if key not in _FIELDS:
        raise OptionError(f"unknown option {name!r}; known: {', '.join(sorted(_FIELDS))}")
    default = _FIELDS[key].default
    try:
        if key == "fault":
            return None if value in (None, "", "none") else str(value)
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[str(value).lower()]
        if value is None:
            raise TypeError
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise TypeError
            return int(value)
        if isinstance(default, float):
            return float(value)
        return str(value)
    except (TypeError, ValueError, KeyError):
        raise OptionError(f"option {name!r} has a bad value: {value!r}") from None


def overrides_from_attributes(custom_attributes: str) -> Dict[str, Any]:
    """The ``fastsmr-*`` options in a ``CustomAttributes`` string.

    Pairs are separated by ``;`` (or ``,``); anything without the ``fastsmr-``
    prefix belongs to the caller and is ignored.

    >>> overrides_from_attributes("fastsmr-tokens=5, fastsmr-rate=2.5; user=x")
    {'tokens': 5, 'rate': 2.5}
    """
    out: Dict[str, Any] = {}
    for item in custom_attributes.replace(",", ";").split(";"):
        name, sep, value = item.strip().partition("=")
        if not name.startswith("fastsmr-"):
            continue
        if not sep:
            raise OptionError(f"custom attribute {name!r} needs a value (name=value)")
        option = name[len("fastsmr-"):]
        out[option.replace("-", "_")] = _coerce(option, value.strip())
    return out


def overrides_from_body(body: Any) -> Dict[str, Any]:
    """Options a decoded JSON request body asks for.

    >>> overrides_from_body({"inputs": "Hi", "parameters": {"max_new_tokens": 3}, "fastsmr": {"format": "raw"}})
    {'tokens': 3, 'format': 'raw'}
    >>> overrides_from_body({"inferenceConfig": {"maxTokens": 4}, "additionalModelRequestFields": {"fastsmr": {"seed": 2}}})
    {'tokens': 4, 'seed': 2}
    """
    out: Dict[str, Any] = {}
    if not isinstance(body, Mapping):
        return out
    limits = [
        _member(body, "parameters", "max_new_tokens"),
        body.get("max_tokens"),
        body.get("max_completion_tokens"),
        body.get("max_gen_len"),
        _member(body, "textGenerationConfig", "maxTokenCount"),
        _member(body, "inferenceConfig", "maxTokens"),
    ]
    for limit in limits:
        if limit is not None:
            out["tokens"] = _coerce("tokens", limit)
            break
    options = body.get("fastsmr")
    if options is None:
        options = _member(body, "additionalModelRequestFields", "fastsmr")
    if options is not None:
        if not isinstance(options, Mapping):
            raise OptionError('"fastsmr" in the request body must be a JSON object')
        for name, value in options.items():
            out[str(name).replace("-", "_")] = _coerce(str(name), value)
    return out


def _member(body: Mapping[str, Any], outer: str, name: str) -> Any:
    inner = body.get(outer)
    return inner.get(name) if isinstance(inner, Mapping) else None

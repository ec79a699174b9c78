"""What both backends share about a decoded message: its limits and its repr."""

from __future__ import annotations

from typing import Any

DEFAULT_MAX_PAYLOAD_LENGTH = 24 * 1024 * 1024
DEFAULT_MAX_HEADERS_LENGTH = 128 * 1024

# A limit is compared with 32-bit prelude fields, so anything above this is
# the same as no limit at all; refusing it catches unit mistakes early.
_LIMIT_CEILING = 0xFFFFFFFF

_REPR_PAYLOAD = 60


def check_limit(name: str, value: Any) -> int:
    """Validate a ``max_*_length`` argument and return it as an ``int``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= _LIMIT_CEILING:
        raise ValueError(f"{name} must be between 0 and {_LIMIT_CEILING}, got {value}")
    return value


def message_repr(message: Any) -> str:
    payload = message.payload
    shown = repr(payload[:_REPR_PAYLOAD])
    if len(payload) > _REPR_PAYLOAD:
        shown += f"... ({len(payload)} bytes)"
    return f"Message(headers={message.headers!r}, payload={shown})"

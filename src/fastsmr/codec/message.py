"""What both backends share about a decoded message: its limits and its repr."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Tuple

from .errors import InvalidHeader

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


#: The wire's header value types by code (DESIGN.md, "The wire format").
TYPE_NAMES = ("true", "false", "byte", "short", "integer", "long", "byte array", "string", "timestamp", "uuid")


def check_converters(converters: Optional[Mapping[int, Callable[[Any], Any]]]) -> Optional[Tuple[Any, ...]]:
    """Validate a ``header_converters`` argument: a tuple indexed by type code, or None."""
    if converters is None:
        return None
    table: list = [None] * len(TYPE_NAMES)
    for code, convert in dict(converters).items():
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code < len(TYPE_NAMES):
            raise ValueError(f"header_converters keys are header type codes 0-9, got {code!r}")
        if not callable(convert):
            raise TypeError(f"header_converters[{code}] must be callable, not {type(convert).__name__}")
        table[code] = convert
    return tuple(table) if any(table) else None


def convert_header(convert: Callable[[Any], Any], value: Any, name: str, kind: int, offset: int) -> Any:
    """``convert(value)``; what it raises becomes an ``InvalidHeader`` caused by it."""
    try:
        return convert(value)
    except Exception as error:
        raise InvalidHeader(
            f"{TYPE_NAMES[kind]} header {name!r} was refused: {error!r}", offset
        ) from error


def message_repr(message: Any) -> str:
    payload = message.payload
    shown = repr(payload[:_REPR_PAYLOAD])
    if len(payload) > _REPR_PAYLOAD:
        shown += f"... ({len(payload)} bytes)"
    return f"Message(headers={message.headers!r}, payload={shown})"

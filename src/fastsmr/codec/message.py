"""What both backends share about a decoded message: its limits, header conversion, the
rule that makes it an event, and its repr."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Tuple

from .errors import TYPE_NAMES, header_error

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
        raise header_error("refused", offset, name=name, kind=kind, detail=repr(error)) from error


def event_member(
    headers: Mapping[str, Any], events: Mapping[Any, Optional[str]]
) -> Optional[Tuple[Any, Optional[str]]]:
    """Whether ``Decoder.feed(chunk, events)`` hands a message with ``headers`` back as
    an event: ``(event_type, member)`` if so, None for a ``Message``.

    A message is an event when its ``:event-type`` is a key of ``events`` and its
    ``:message-type`` is not ``error`` or ``exception`` (botocore raises those;
    DESIGN.md, "The wire format"); ``member`` is the value the key maps to.
    :func:`shape_event` builds the event. The C backend asks once per header
    block and ``events`` mapping, so ``events`` must not change while a decoder
    is fed with it.

    >>> event_member({":event-type": "PayloadPart"}, {"PayloadPart": "Bytes"})
    ('PayloadPart', 'Bytes')
    >>> event_member({":event-type": "PayloadPart", ":message-type": "exception"}, {"PayloadPart": "Bytes"}) is None
    True
    """
    kind = headers.get(":message-type")
    if kind is None or (kind != "error" and kind != "exception"):
        event_type = headers.get(":event-type")
        if event_type is not None and event_type in events:
            return event_type, events[event_type]
    return None


def shape_event(decision: Tuple[Any, Optional[str]], payload: bytes) -> Any:
    """The event for ``decision`` (from :func:`event_member`): botocore's
    ``{event_type: {member: payload}}``, or the payload alone for a None member.

    >>> shape_event(("PayloadPart", "Bytes"), b"Hi"), shape_event(("Chunk", None), b"Hi")
    ({'PayloadPart': {'Bytes': b'Hi'}}, b'Hi')
    """
    event_type, member = decision
    return payload if member is None else {event_type: {member: payload}}


def message_repr(message: Any) -> str:
    payload = message.payload
    shown = repr(payload[:_REPR_PAYLOAD])
    if len(payload) > _REPR_PAYLOAD:
        shown += f"... ({len(payload)} bytes)"
    return f"Message(headers={message.headers!r}, payload={shown})"

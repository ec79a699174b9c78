"""Whether this smithy-python is the one the drop-in was written against.

smithy-python is 0.x and changes between releases, so before it touches
anything the drop-in checks the internals it relies on — the signatures of the
protocol methods it replaces, the private deserializers it reuses, the
attributes of the publisher it takes over — and watches smithy's decoder and
its own decode one probe message with a header of every type to the same
values. If anything differs it warns once
(:class:`fastsmr.SmithyCompatibilityWarning`) and leaves smithy stock: the
program keeps working at smithy's speed.
"""

from __future__ import annotations

import inspect
import io
import sys
import threading
import warnings
from typing import Any, Dict, List, Optional

from .._warnings import SmithyCompatibilityWarning

__all__ = ["recognised", "problems"]

_RECEIVER_PARAMETERS = ["self", "operation", "request", "response", "event_type", "event_deserializer", "context"]
_PUBLISHER_PARAMETERS = ["self", "operation", "request", "event_type", "context", "auth_scheme"]

_lock = threading.Lock()
_result: Optional[List[str]] = None


def _parameters(function: Any) -> Optional[List[str]]:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return None


def _check(owner: Any, expected: Dict[str, List[str]]) -> List[str]:
    found = []
    for name, parameters in expected.items():
        function = getattr(owner, name, None)
        actual = _parameters(function) if callable(function) else None
        if actual != parameters:
            found.append(f"{getattr(owner, '__name__', owner)}.{name}{tuple(actual) if actual else ' missing'}")
    return found


class _Writer:
    async def write(self, data: bytes) -> None:  # pragma: no cover - never called
        pass


def _probe_wire() -> bytes:
    import datetime
    import uuid

    from smithy_aws_event_stream.events import Byte, EventMessage, Long, Short

    headers = {
        ":message-type": "event",
        ":event-type": "Probe",
        "true": True,
        "false": False,
        "byte": Byte(-3),
        "short": Short(300),
        "integer": 70000,
        "long": Long(2**40),
        "blob": b"\x00\xff",
        "timestamp": datetime.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=datetime.timezone.utc),
        "uuid": uuid.UUID(int=0x0123456789ABCDEF0123456789ABCDEF),
    }
    return EventMessage(headers=headers, payload=b"probe").encode()


def problems() -> List[str]:
    """What differs from the smithy-python fastsmr knows (empty when nothing does)."""
    try:
        from smithy_aws_core.aio import protocols
        from smithy_aws_event_stream import _private, aio, events, exceptions
        from smithy_aws_event_stream._private import deserializers
        from smithy_core.aio.interfaces import eventstream
    except Exception as error:  # an incomplete or broken install: leave it alone
        return [f"importing it raised {error!r}"]
    missing = [
        f"{module.__name__}.{name}"
        for module, names in (
            (events, ("Event", "EventPrelude", "EventMessage", "Byte", "Short", "Long", "MAX_HEADERS_LENGTH",
                      "MAX_PAYLOAD_LENGTH", "MAX_HEADER_VALUE_BYTE_LENGTH")),
            (exceptions, ("EventError", "ChecksumMismatch", "InvalidHeadersLength", "InvalidPayloadLength",
                          "DuplicateHeader", "InvalidHeaderValueLength", "InvalidEventBytes", "InvalidHeaderValue",
                          "InvalidIntegerValue")),
            (_private, ("get_payload_member", "INITIAL_REQUEST_EVENT_TYPE", "INITIAL_RESPONSE_EVENT_TYPE")),
            (deserializers, ("EventDeserializer", "EventHeaderDeserializer", "RawPayloadDeserializer")),
            (aio, ("AWSEventPublisher", "AWSEventReceiver")),
            (eventstream, ("EventPublisher", "EventReceiver")),
            (protocols, ("_AWSHttpBindingClientProtocol",)),
        )
        for name in names
        if not hasattr(module, name)
    ]
    if missing:
        return [f"{', '.join(missing)} missing"]
    found = _check(protocols._AWSHttpBindingClientProtocol, {
        "create_event_receiver": _RECEIVER_PARAMETERS,
        "create_event_publisher": _PUBLISHER_PARAMETERS,
    })
    found += _check(deserializers.EventDeserializer, {"__init__": ["self", "event", "payload_codec", "is_client_mode"]})
    found += _check(deserializers.EventHeaderDeserializer, {"__init__": ["self", "headers"]})
    found += _check(deserializers.RawPayloadDeserializer, {"__init__": ["self", "payload"]})
    found += _check(events.EventPrelude, {"__init__": ["self", "total_length", "headers_length", "crc"]})
    found += _check(events.EventMessage, {"__init__": ["self", "headers", "payload"]})
    found += _check(aio.AWSEventPublisher, {
        "__init__": ["self", "payload_codec", "async_writer", "signing_config", "is_client_mode"],
    })
    if found:
        return found
    try:
        publisher = aio.AWSEventPublisher(payload_codec=None, async_writer=_Writer())
        absent = [name for name in ("_writer", "_signing_config", "_serializer") if not hasattr(publisher, name)]
        if absent:
            return [f"AWSEventPublisher instances lack {', '.join(absent)}"]
        # The same wire through smithy's decoder and fastsmr's must give the same values, types included.
        from ..codec import backend
        from .headers import CONVERTERS

        wire = _probe_wire()
        stock = events.Event.decode(io.BytesIO(wire))
        ours = backend.impl.Decoder(header_converters=CONVERTERS).feed(wire)
        if len(ours) != 1 or stock is None:
            return ["the probe message did not decode"]
        mine = ours[0].headers
        theirs = dict(stock.message.headers)
        if mine != theirs or [type(v) for v in mine.values()] != [type(v) for v in theirs.values()]:
            return ["smithy types header values differently"]
        if ours[0].payload != stock.message.payload or ours[0].crc != stock.crc:
            return ["smithy decodes the probe message differently"]
    except Exception as error:  # any surprise means: not the smithy we know
        return [f"probing smithy raised {error!r}"]
    return []


def recognised() -> bool:
    """Whether smithy-python is the one fastsmr knows (checked once; warns once if not)."""
    global _result
    with _lock:
        if _result is None:
            _result = problems()
            if _result:
                version = getattr(sys.modules.get("smithy_aws_event_stream"), "__version__", "?")
                warnings.warn(
                    f"fastsmr does not recognise the internals of smithy-python "
                    f"(smithy-aws-event-stream {version}: {'; '.join(_result)}); it leaves smithy stock. "
                    f"Please report this to fastsmr.",
                    SmithyCompatibilityWarning,
                    stacklevel=4,
                )
        return not _result

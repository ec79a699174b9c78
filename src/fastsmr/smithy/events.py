"""A decoded message read as the event-stream union, as smithy-python reads it.

smithy's receiver wraps every message in an ``Event`` (a prelude and a message
object) and hands the generated model code an ``EventDeserializer``, which
finds the union member from ``:event-type`` (or ``:exception-type``), feeds the
member's ``@eventHeader`` members from the headers in their wire order and its
``@eventPayload`` member (or the whole structure) from the payload. These
classes do the same with what each member schema needs worked out once (kept
per schema, bounded), and read JSON payloads with
:class:`~fastsmr.smithy.json_payload.JSONPayload`.

They handle the messages a service sends in the normal course: an ``event`` of
a modeled member and an ``exception`` of a modeled error. For any other
message (``error``, ``initial-response``, an unknown member, missing or
mistyped type headers) and any payload JSONPayload leaves alone they raise
:exc:`~fastsmr.smithy.json_payload.Unsupported` before a value is produced;
:func:`stock_reader` then gives smithy's own ``EventDeserializer`` for the
message, so the result or the error is smithy's.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from smithy_aws_event_stream._private import INITIAL_REQUEST_EVENT_TYPE, INITIAL_RESPONSE_EVENT_TYPE, get_payload_member
from smithy_aws_event_stream._private.deserializers import (
    EventDeserializer,
    EventHeaderDeserializer,
    RawPayloadDeserializer,
)
from smithy_aws_event_stream.events import Event, EventMessage, EventPrelude
from smithy_core.deserializers import ShapeDeserializer, SpecificShapeDeserializer
from smithy_core.schemas import Schema
from smithy_core.shapes import ShapeType
from smithy_core.traits import EventHeaderTrait

from .json_payload import JSONPayload, Unsupported, parse, settings_of

__all__ = ["EventReader", "PayloadCodec", "stock_reader"]

_INITIAL = (INITIAL_REQUEST_EVENT_TYPE, INITIAL_RESPONSE_EVENT_TYPE)
_RAW = (ShapeType.BLOB, ShapeType.STRING)


class PayloadCodec:
    """The protocol's payload codec, with what reading through it needs decided once per stream."""

    __slots__ = ("codec", "json_settings")

    def __init__(self, codec: Any) -> None:
        self.codec = codec
        self.json_settings = settings_of(codec)

    def reader(self, payload: bytes) -> ShapeDeserializer:
        settings = self.json_settings
        if settings is None:
            return self.codec.create_deserializer(payload)
        return JSONPayload(parse(payload), settings)


# Member schema -> (schema, its @eventPayload member or None, whether that
# member is read raw, {header name: @eventHeader member}).
_Plan = Tuple[Schema, Optional[Schema], bool, Dict[str, Schema]]
_PLANS: Dict[int, _Plan] = {}
_PLANS_MAX = 4096


def _plan(schema: Schema) -> _Plan:
    plan = _PLANS.get(id(schema))
    if plan is not None and plan[0] is schema:
        return plan
    payload_member = get_payload_member(schema)
    raw = payload_member is not None and payload_member.shape_type in _RAW
    headers = {name: member for name, member in schema.members.items() if EventHeaderTrait in member}
    plan = (schema, payload_member, raw, headers)
    if len(_PLANS) >= _PLANS_MAX:
        _PLANS.clear()
    _PLANS[id(schema)] = plan
    return plan


class EventReader(SpecificShapeDeserializer):
    """One decoded message, read as the operation's event-stream union.

    ``message`` is a codec ``Message`` whose headers were typed by
    :data:`fastsmr.smithy.headers.CONVERTERS`.
    """

    __slots__ = ("_message", "_codec")

    def __init__(self, message: Any, codec: PayloadCodec) -> None:
        self._message = message
        self._codec = codec

    def read_struct(self, schema: Schema, consumer: Callable[[Schema, ShapeDeserializer], None]) -> None:
        headers = self._message.headers
        kind = headers.get(":message-type")
        if kind == "event":
            name = headers.get(":event-type")
            if name in _INITIAL:
                raise Unsupported("an initial message")
        elif kind == "exception":
            name = headers.get(":exception-type")
        else:
            raise Unsupported("neither an event nor an exception")
        member = schema.members.get(name) if name.__class__ is str else None
        if member is None:
            raise Unsupported("not a member of the union")
        consumer(member, _MemberReader(member, headers, self._message.payload, self._codec))


class _MemberReader(SpecificShapeDeserializer):
    """The union member's structure: header members, then the payload."""

    __slots__ = ("_member", "_headers", "_payload", "_codec")

    def __init__(self, member: Schema, headers: Dict[str, Any], payload: bytes, codec: PayloadCodec) -> None:
        self._member = member
        self._headers = headers
        self._payload = payload
        self._codec = codec

    def read_struct(self, schema: Schema, consumer: Callable[[Schema, ShapeDeserializer], None]) -> None:
        header_members = _plan(schema)[3]
        headers = self._headers
        header_reader = None
        for name in headers:
            member = header_members.get(name)
            if member is not None:
                if header_reader is None:
                    header_reader = EventHeaderDeserializer(headers)
                consumer(member, header_reader)
        payload = self._payload
        if not payload:
            return
        _, payload_member, raw, _ = _plan(self._member)
        if payload_member is None:
            self._codec.reader(payload).read_struct(schema, consumer)
        elif raw:
            consumer(payload_member, RawPayloadDeserializer(payload))
        else:
            consumer(payload_member, self._codec.reader(payload))


def stock_reader(message: Any, codec: PayloadCodec, is_client_mode: bool) -> ShapeDeserializer:
    """smithy's own ``EventDeserializer`` for the message, over the ``Event`` smithy would build."""
    payload = message.payload
    total = message.total_length
    prelude = EventPrelude(total_length=total, headers_length=total - 16 - len(payload), crc=message.prelude_crc)
    event = Event(prelude, EventMessage(headers=message.headers, payload=payload), message.crc)
    return EventDeserializer(event=event, payload_codec=codec.codec, is_client_mode=is_client_mode)

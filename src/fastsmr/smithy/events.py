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

import datetime
from typing import Any, Callable, Dict, Optional, Tuple

from smithy_aws_event_stream._private import INITIAL_REQUEST_EVENT_TYPE, INITIAL_RESPONSE_EVENT_TYPE, get_payload_member
from smithy_aws_event_stream._private.deserializers import EventDeserializer
from smithy_aws_event_stream.events import Event, EventMessage, EventPrelude
from smithy_core.deserializers import ShapeDeserializer, SpecificShapeDeserializer
from smithy_core.schemas import Schema
from smithy_core.shapes import ShapeType
from smithy_core.traits import EventHeaderTrait
from smithy_core.utils import expect_type

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
    :data:`fastsmr.smithy.headers.CONVERTERS`. The one object serves the
    three readers smithy builds per event: the union (which member), the
    member's structure (header members in wire order, then the payload), and
    the header and raw payload values — with smithy's checks
    (``expect_type``) on every header value.
    """

    __slots__ = ("_message", "_codec", "_headers", "_member", "_payload_name")

    def __init__(self, message: Any, codec: PayloadCodec) -> None:
        self._message = message
        self._codec = codec
        self._member: Optional[Schema] = None
        self._payload_name: Optional[str] = None

    def read_struct(self, schema: Schema, consumer: Callable[[Schema, ShapeDeserializer], None]) -> None:
        member = self._member
        if member is None:
            self._read_union(schema, consumer)
            return
        headers = self._headers
        header_members = _plan(schema)[3]
        for name in headers:
            header_member = header_members.get(name)
            if header_member is not None:
                consumer(header_member, self)
        payload = self._message.payload
        if not payload:
            return
        _, payload_member, raw, _ = _plan(member)
        if payload_member is None:
            self._codec.reader(payload).read_struct(schema, consumer)
        elif raw:
            self._payload_name = payload_member.member_name
            consumer(payload_member, self)
        else:
            consumer(payload_member, self._codec.reader(payload))

    def _read_union(self, schema: Schema, consumer: Callable[[Schema, ShapeDeserializer], None]) -> None:
        message = self._message
        kind = message.message_type
        if kind == "event":
            name = message.event_type
            if name in _INITIAL:
                raise Unsupported("an initial message")
        elif kind == "exception":
            name = message.headers.get(":exception-type")
        else:
            raise Unsupported("neither an event nor an exception")
        member = schema.members.get(name) if name.__class__ is str else None
        if member is None:
            raise Unsupported("not a member of the union")
        self._member = member
        self._headers = message.headers
        consumer(member, self)

    # Header values, as smithy's EventHeaderDeserializer reads them; the raw
    # payload, as its RawPayloadDeserializer does.

    def _header(self, schema: Schema, kind: type) -> Any:
        value = self._headers[schema.expect_member_name()]
        return value if value.__class__ is kind else expect_type(kind, value)

    def read_boolean(self, schema: Schema) -> bool:
        return self._header(schema, bool)

    def read_blob(self, schema: Schema) -> bytes:
        if schema.member_name == self._payload_name:
            return self._message.payload
        return self._header(schema, bytes)

    def read_byte(self, schema: Schema) -> int:
        return self._header(schema, int)

    def read_short(self, schema: Schema) -> int:
        return self._header(schema, int)

    def read_integer(self, schema: Schema) -> int:
        return self._header(schema, int)

    def read_long(self, schema: Schema) -> int:
        return self._header(schema, int)

    def read_string(self, schema: Schema) -> str:
        if schema.member_name == self._payload_name:
            return self._message.payload.decode("utf-8")
        return self._header(schema, str)

    def read_timestamp(self, schema: Schema) -> datetime.datetime:
        return self._header(schema, datetime.datetime)


def stock_reader(message: Any, codec: PayloadCodec, is_client_mode: bool) -> ShapeDeserializer:
    """smithy's own ``EventDeserializer`` for the message, over the ``Event`` smithy would build."""
    payload = message.payload
    total = message.total_length
    prelude = EventPrelude(total_length=total, headers_length=total - 16 - len(payload), crc=message.prelude_crc)
    event = Event(prelude, EventMessage(headers=message.headers, payload=payload), message.crc)
    return EventDeserializer(event=event, payload_codec=codec.codec, is_client_mode=is_client_mode)

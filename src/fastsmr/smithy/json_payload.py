"""Event payloads in JSON, read as smithy-json reads them, from one ``json.loads``.

smithy-json (``JSONCodec.create_deserializer``) reads a payload with ijson, a
parse event at a time, through three layers of Python per token; a Bedrock
``contentBlockDelta`` costs it tens of microseconds. :class:`JSONPayload`
parses the payload once with the standard library and hands the generated
model code the same values in the same order: object members in the order
they were written (a repeated key read twice, as ijson reads it), numbers with
a fraction or exponent as ``Decimal`` until a shape asks for a float, blobs
base64-decoded, timestamps in the codec's formats, documents built by the
codec's document class.

Where the two could differ, it does not guess: :exc:`Unsupported` is raised
before the generated code sees a value — for a payload that is not UTF-8, that
``json.loads`` rejects, that holds ``NaN`` or ``Infinity`` or a ``\\u`` escape
of a UTF-16 surrogate (ijson turns a lone one into ``?``), and for any value
whose JSON type is not the one its shape reads — and the caller reads the
message again with smithy-json itself, which then gives smithy's own result
or error.
"""

from __future__ import annotations

import datetime
import json
from base64 import b64decode
from decimal import Decimal
from typing import Any, Callable, Dict, Optional

from smithy_core.deserializers import ShapeDeserializer
from smithy_core.schemas import Schema
from smithy_core.shapes import ShapeType
from smithy_core.traits import JSONNameTrait, TimestampFormatTrait
from smithy_core.types import TimestampFormat

__all__ = ["JSONPayload", "Unsupported", "parse", "settings_of"]


_NON_NUMERICAL = ("Infinity", "-Infinity", "NaN")


class Unsupported(Exception):
    """This payload or value is left to smithy-json (see the module docstring)."""


class _Object(list):
    """A JSON object: its (key, value) pairs in the order they were written."""

    __slots__ = ()


def _no_constant(name: str) -> Any:
    raise Unsupported(f"JSON constant {name}")


_decoder = json.JSONDecoder(object_pairs_hook=_Object, parse_float=Decimal, parse_constant=_no_constant)
_decode = _decoder.decode


def parse(payload: bytes) -> Any:
    """The payload's JSON value: objects as ordered pairs, fractions as ``Decimal``.

    Raises :exc:`Unsupported` for anything smithy-json might read otherwise.
    """
    if b"\\u" in payload and (b"\\ud" in payload or b"\\uD" in payload):
        raise Unsupported("a \\u escape of a surrogate")
    try:
        return _decode(payload.decode("utf-8"))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise Unsupported(str(error)) from None


def settings_of(codec: Any) -> Optional[Any]:
    """The ``JSONSettings`` of smithy-json's own ``JSONCodec``, else None."""
    try:
        from smithy_json import JSONCodec
        from smithy_json.settings import JSONSettings
    except ImportError:
        return None
    if type(codec) is not JSONCodec:
        return None
    settings = getattr(codec, "_settings", None)
    return settings if type(settings) is JSONSettings else None


# Schema -> {JSON key: member schema}; keyed by the schema object's identity
# (schemas are module constants of the generated clients) and bounded.
_MEMBERS: Dict[int, Any] = {}
_MEMBERS_MAX = 4096


def _members(schema: Schema, use_json_name: bool) -> Dict[str, Schema]:
    entry = _MEMBERS.get(id(schema))
    if entry is not None and entry[0] is schema and entry[1] is use_json_name:
        return entry[2]
    by_key: Dict[str, Schema] = {}
    for name, member in schema.members.items():
        key = name
        json_name = member.get_trait(JSONNameTrait) if use_json_name else None
        if json_name:
            key = json_name.value
        by_key[key] = member
    if len(_MEMBERS) >= _MEMBERS_MAX:
        _MEMBERS.clear()
    _MEMBERS[id(schema)] = (schema, use_json_name, by_key)
    return by_key


def _plain(value: Any) -> Any:
    """A parsed value as ijson's ObjectBuilder builds it (a repeated key: the last value)."""
    if value.__class__ is _Object:
        return {key: _plain(item) for key, item in value}
    if value.__class__ is list:
        return [_plain(item) for item in value]
    return value


class JSONPayload(ShapeDeserializer):
    """One parsed JSON value, read as ``smithy_json``'s ``JSONShapeDeserializer`` reads it.

    ``value`` comes from :func:`parse`; ``settings`` is the codec's
    ``JSONSettings``. Methods the protocol leaves to ``ShapeDeserializer``
    (``read_byte`` and the other integer widths, ``read_double``) do there what
    they do for smithy-json.
    """

    __slots__ = ("_value", "_settings")

    def __init__(self, value: Any, settings: Any) -> None:
        self._value = value
        self._settings = settings

    def _child(self, value: Any) -> JSONPayload:
        child = JSONPayload.__new__(JSONPayload)
        child._value = value
        child._settings = self._settings
        return child

    def is_null(self) -> bool:
        return self._value is None

    def read_null(self) -> None:
        if self._value is not None:
            raise Unsupported("null expected")
        return None

    def read_boolean(self, schema: Schema) -> bool:
        value = self._value
        if value.__class__ is not bool:
            raise Unsupported("boolean expected")
        return value

    def read_blob(self, schema: Schema) -> bytes:
        value = self._value
        if value.__class__ is not str:
            raise Unsupported("string expected")
        return b64decode(value)

    def read_integer(self, schema: Schema) -> int:
        value = self._value
        if not isinstance(value, int):  # bool is an int to ijson's reader too
            raise Unsupported("number expected")
        return value

    # smithy-json matches a number's value in this order (its read_float and
    # read_big_decimal use ``match``; this module keeps Python 3.9 syntax).
    def read_float(self, schema: Schema) -> float:
        value = self._value
        if isinstance(value, Decimal) or (isinstance(value, str) and value in _NON_NUMERICAL):
            return float(value)
        if isinstance(value, (int, float)):
            return value
        raise Unsupported("number expected")

    def read_big_decimal(self, schema: Schema) -> Decimal:
        value = self._value
        if isinstance(value, Decimal):
            return value
        if isinstance(value, (int, float)) or (isinstance(value, str) and value in _NON_NUMERICAL):
            return Decimal(value)
        raise Unsupported("number expected")

    def read_string(self, schema: Schema) -> str:
        value = self._value
        if value.__class__ is not str:
            raise Unsupported("string expected")
        return value

    def read_document(self, schema: Schema) -> Any:
        settings = self._settings
        return settings.document_class(value=_plain(self._value), schema=schema, settings=settings)

    def read_timestamp(self, schema: Schema) -> datetime.datetime:
        settings = self._settings
        format = settings.default_timestamp_format
        if settings.use_timestamp_format:
            format_trait = schema.get_trait(TimestampFormatTrait)
            if format_trait:
                format = format_trait.format
        if format is TimestampFormat.EPOCH_SECONDS:
            return format.deserialize(self.read_float(schema))
        return format.deserialize(self.read_string(schema))

    def read_struct(self, schema: Schema, consumer: Callable[[Schema, ShapeDeserializer], None]) -> None:
        value = self._value
        if value.__class__ is not _Object:
            raise Unsupported("object expected")
        members = _members(schema, self._settings.use_json_name)
        for key, item in value:
            member = members.get(key)
            if member is None:
                continue
            if item is None and member.shape_type is not ShapeType.DOCUMENT:
                continue
            consumer(member, self._child(item))

    def read_list(self, schema: Schema, consumer: Callable[[ShapeDeserializer], None]) -> None:
        value = self._value
        if value.__class__ is not list:
            raise Unsupported("array expected")
        for item in value:
            consumer(self._child(item))

    def read_map(self, schema: Schema, consumer: Callable[[str, ShapeDeserializer], None]) -> None:
        value = self._value
        if value.__class__ is not _Object:
            raise Unsupported("object expected")
        for key, item in value:
            consumer(key, self._child(item))

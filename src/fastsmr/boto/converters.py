"""Converters: botocore's event for one event shape, built without walking the model per message.

botocore turns every message into an event by walking the service model
(``BaseEventStreamParser._do_parse``): it looks the ``:event-type`` up among
the stream shape's members, copies the members marked ``eventheader`` from the
message headers (timestamps converted from milliseconds), and parses the
payload — raw bytes for a ``blob`` payload member, UTF-8 text for a ``string``
one, otherwise the protocol's body parser followed by a generic walk of the
shape. Doing that walk for every message is most of botocore's cost per event.

:func:`build_table` does the walk once per stream shape: a dict from event type
to a converter ``(headers, payload) -> dict`` that builds the same inner event
dict directly, or — for the commonest event, a blob payload and nothing else
(SageMaker's ``PayloadPart``, Lambda's ``PayloadChunk``, S3's ``Records``) —
just the name of the member that holds the payload, so that the loop builds
``{name: payload}`` without a call. A converter returns None when the message
needs botocore's own parser (a body in a protocol reproduced here only for
blob/string payloads, such as S3's XML ``Stats``); an event type missing from
the table is one botocore skips.

The converters reproduce botocore's behaviour step by step — same key order,
same value types, same exceptions for malformed bodies — and only for parser
classes whose methods are the ones read here (:func:`parser_protocol`);
anything else (a subclass, a future botocore that changed them) gets no table
and every message goes through botocore's parser, with the framing still
decoded by fastsmr. Which table a stream uses, and for how long it is kept,
is :mod:`fastsmr.boto.shapes`'s business.
"""

from __future__ import annotations

import json
import json.scanner
import threading
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple, Union

import botocore.parsers as bp

__all__ = ["Converter", "parser_protocol", "build_table"]

#: ``(headers, payload) -> inner event dict``, or None to use botocore's parser;
#: a str is the payload member's name: the inner dict is ``{name: payload}``.
Converter = Union[str, Callable[[Dict[str, Any], bytes], Optional[Dict[str, Any]]]]

_BUILDING = threading.Lock()


class _ParserParts(Protocol):
    """What converters read of a botocore parser (botocore-stubs leave these out)."""

    DEFAULT_ENCODING: str
    _timestamp_parser: Callable[[Any], Any]
    _blob_parser: Callable[[Any], Any]

    def _has_unknown_tagged_union_member(self, shape: Any, value: Any) -> bool: ...
    def _handle_unknown_tagged_union_member(self, tag: str) -> Any: ...
    def _get_first_key(self, value: Any) -> str: ...


def _use_parser(headers: Dict[str, Any], payload: bytes) -> None:
    """The converter of event types whose body only botocore's parser handles."""
    return None


def _method(cls: type, name: str) -> Any:
    return getattr(cls, name, None)


def _same(cls: type, name: str, owner: Any) -> bool:
    """Whether ``cls.name`` is still the function ``owner.name`` defines."""
    expected = getattr(owner, name, None) if owner is not None else None
    return expected is not None and _method(cls, name) is expected


def parser_protocol(parser: Any, stock_parse: Any) -> Optional[str]:
    """The body protocol ("json", "xml" or "other") of a parser whose event handling is botocore's.

    None for any other parser: a subclass that changes how events are built.
    """
    cls = type(parser)
    base = getattr(bp, "BaseEventStreamParser", None)
    if not all(_same(cls, name, base) for name in ("_do_parse", "_parse_payload", "_parse_non_payload_attrs")):
        return None
    if stock_parse is None or _method(cls, "parse") is not stock_parse:
        return None
    if not (hasattr(parser, "_timestamp_parser") and hasattr(parser, "_blob_parser")):
        return None
    if not isinstance(getattr(parser, "DEFAULT_ENCODING", None), str):
        return None
    generic = _same(cls, "_parse_shape", bp.ResponseParser) and _same(
        cls, "_default_handle", bp.ResponseParser
    )
    if (
        generic
        and _same(cls, "_initial_body_parse", getattr(bp, "EventStreamJSONParser", None))
        and _same(cls, "_parse_body_as_json", getattr(bp, "BaseJSONParser", None))
    ):
        return "json"
    if (
        generic
        and _same(cls, "_initial_body_parse", getattr(bp, "EventStreamXMLParser", None))
        and _same(cls, "_handle_structure", getattr(bp, "BaseXMLResponseParser", None))
    ):
        return "xml"
    return "other"


def build_table(shape: Any, parser: Any, kind: str) -> Dict[Any, Converter]:
    """The converters of every event type of ``shape``, each built when its type first arrives."""
    json_values = _JSONValues(parser) if kind == "json" else None
    table: Dict[Any, Converter] = {}
    for event_type, member in shape.members.items():
        table[event_type] = _on_first_use(table, event_type, member, parser, kind, json_values)
    return table


def _on_first_use(
    table: Dict[Any, Converter], event_type: str, shape: Any, parser: Any, kind: str,
    json_values: Optional[_JSONValues],
) -> Converter:
    """A converter that builds the real one when its event type first arrives, and steps aside.

    Some streams model dozens of events with deep shapes (Bedrock agents'
    traces) of which a response uses a few; botocore resolves shapes lazily
    too, so a client made per request pays only for what it sees.
    """

    def first_use(headers: Dict[str, Any], payload: bytes) -> Optional[Dict[str, Any]]:
        # One build at a time: a recursive shape's half-built converter must
        # not be seen by another thread (streams of one client run in many).
        with _BUILDING:
            convert = _event_converter(shape, parser, kind, json_values)
        table[event_type] = convert
        if isinstance(convert, str):  # a member name (a plain str, from the model)
            return {convert: payload}
        return convert(headers, payload)

    return first_use


def _event_converter(
    shape: Any, parser: Any, kind: str, json_values: Optional[_JSONValues]
) -> Converter:
    """Mirror of ``_parse_non_payload_attrs`` then ``_parse_payload`` for one event shape."""
    if shape.type_name != "structure":
        return _use_parser
    members = shape.members
    headers = tuple(
        (name, member.type_name == "timestamp")
        for name, member in members.items()
        if member.serialization.get("eventheader")
    )
    body = _body_step(shape, parser, kind, json_values)
    if body is None:
        return _use_parser
    return _assemble(headers, body, parser)


# A body step says what the payload contributes: ("none",); ("member", name,
# value_from_payload), value_from_payload None for a blob member (the payload
# itself); ("merge", parse, value, fresh): the mapping value(parse(payload)),
# value None for a document-type event, fresh when it is a new dict that needs
# no copy; ("empty",): an event without members, whose empty payload adds nothing.
_Step = Tuple[Any, ...]


def _body_step(shape: Any, parser: Any, kind: str, json_values: Optional[_JSONValues]) -> Optional[_Step]:
    if not shape.serialization.get("event"):
        return ("none",)
    encoding = parser.DEFAULT_ENCODING
    for name, member in shape.members.items():
        if member.serialization.get("eventpayload"):
            if member.type_name == "blob":
                return ("member", name, None)
            if member.type_name == "string":
                return ("member", name, lambda payload: payload.decode(encoding))
            if json_values is None:
                return None
            value = json_values.converter(member)
            parse = json_values.parse_body
            if value is None:
                return ("member", name, parse)
            return ("member", name, lambda payload, value=value, parse=parse: value(parse(payload)))
    if json_values is not None:
        value = json_values.converter(shape)
        # the body walk of an event is _handle_structure: a new dict each time
        fresh = _method(type(parser), "_handle_structure") is _method(bp.BaseJSONParser, "_handle_structure")
        return ("merge", json_values.parse_body, value, fresh)
    if (
        kind == "xml"
        and not shape.members
        and not shape.is_tagged_union
        and not shape.metadata.get("exception")
    ):
        return ("empty",)
    return None


def _assemble(headers: Tuple[Tuple[str, bool], ...], body: _Step, parser: Any) -> Converter:
    """Build the converter; the common shapes get a closure with no loop."""
    step = body[0]
    if not headers:
        if step == "member":
            name: str = body[1]
            value = body[2]
            if value is None:
                return name
            return lambda h, payload: {name: value(payload)}
        if step == "merge":
            return _merged(*body[1:])
        if step == "empty":
            return lambda h, payload: None if payload else {}
        return lambda h, payload: {}

    to_datetime = parser._timestamp_parser
    merge = _merged(*body[1:]) if step == "merge" else None

    def converter(message_headers: Dict[str, Any], payload: bytes) -> Optional[Dict[str, Any]]:
        out: Dict[str, Any] = {}
        for name, is_timestamp in headers:
            if name in message_headers:
                value = message_headers[name]
                if is_timestamp:
                    # Event-stream timestamps count milliseconds; botocore's
                    # timestamp parser takes seconds.
                    value = to_datetime(value / 1000.0)
                out[name] = value
        if step == "member":
            value_from = body[2]
            out[body[1]] = payload if value_from is None else value_from(payload)
        elif merge is not None:
            out.update(merge(None, payload))
        return out

    return converter


def _merged(
    parse: Callable[[bytes], Any], value: Any, fresh: bool
) -> Callable[[Optional[Dict[str, Any]], bytes], Dict[str, Any]]:
    """``final_parsed.update(value(parse(payload)))`` into an empty ``final_parsed``."""

    def merged(h: Optional[Dict[str, Any]], payload: bytes) -> Dict[str, Any]:
        result = parse(payload) if value is None else value(parse(payload))
        if fresh and result.__class__ is dict:
            return result  # equal to the copy botocore makes, and nobody else holds it
        return dict(result)  # which fails like dict.update() for anything but a mapping

    return merged


class _JSONValues:
    """Converters for JSON values of a shape, as ``ResponseParser._parse_shape`` walks them.

    ``converter(shape)`` returns a function of the ``json.loads`` output, or None
    when botocore returns the value unchanged. Handlers are resolved on the
    parser class like ``_parse_shape`` does; the ones read here are compiled,
    any other one is called as is.
    """

    def __init__(self, parser: Any) -> None:
        self._parser: _ParserParts = parser
        self._cls = type(parser)
        self._done: Dict[str, Optional[Callable[[Any], Any]]] = {}
        loads = bp.json.loads  # type: ignore[attr-defined]  # the json module botocore.parsers uses; not in its stubs
        encoding = parser.DEFAULT_ENCODING
        # json.loads() is a scan of the whole text after two Python calls and
        # a whitespace regex; scanning directly gives the same value whenever
        # the scan covers the whole text, and anything else goes to loads().
        # typeshed types make_scanner's argument as a scanner; CPython's takes the decoder (json/decoder.py)
        scan = json.scanner.make_scanner(json.JSONDecoder()) if loads is json.loads else None  # type: ignore[arg-type]

        def parse_body(body: bytes) -> Any:
            # BaseJSONParser._parse_body_as_json
            if not body:
                return {}
            text = body.decode(encoding)
            if scan is not None:
                try:
                    value, end = scan(text, 0)
                except (StopIteration, ValueError):
                    pass
                else:
                    if end == len(text):
                        return value
            try:
                return loads(text)
            except ValueError:
                return {"message": text}

        self.parse_body = parse_body

    def converter(self, shape: Any) -> Optional[Callable[[Any], Any]]:
        # Shapes are keyed by name: the traits a JSON walk reads belong to the
        # shape, not to the member that refers to it. A recursive shape finds
        # its own entry through the forward reference below.
        key = f"{shape.type_name}:{shape.name}"
        if key in self._done:
            return self._done[key]
        cell: List[Callable[[Any], Any]] = []
        self._done[key] = lambda value: cell[0](value)
        built = self._build(shape)
        self._done[key] = built
        if built is not None:
            cell.append(built)
        else:
            cell.append(lambda value: value)
        return built

    def _build(self, shape: Any) -> Optional[Callable[[Any], Any]]:
        handler = _method(self._cls, f"_handle_{shape.type_name}")
        if handler is None:
            return None  # _default_handle
        if handler is _method(bp.BaseJSONParser, "_handle_structure"):
            return self._structure(shape)
        if handler is _method(bp.ResponseParser, "_handle_list"):
            return self._list(shape)
        if handler is _method(bp.BaseJSONParser, "_handle_map"):
            return self._map(shape)
        if handler is _method(bp.BaseJSONParser, "_handle_blob"):
            return self._parser._blob_parser
        if handler is _method(bp.BaseJSONParser, "_handle_timestamp"):
            return self._parser._timestamp_parser
        bound = getattr(self._parser, f"_handle_{shape.type_name}")
        return lambda value: bound(shape, value)

    def _structure(self, shape: Any) -> Optional[Callable[[Any], Any]]:
        if shape.is_document_type:
            return None
        fields = tuple(
            (name, member.serialization.get("name", name), self.converter(member))
            for name, member in shape.members.items()
        )

        def structure(value: Any) -> Any:
            if value is None:
                return None
            out = {}
            for name, key, convert in fields:
                raw = value.get(key)
                if raw is not None:
                    out[name] = raw if convert is None else convert(raw)
            return out

        if not shape.is_tagged_union:
            return structure

        parser = self._parser
        by_tag = {key: (name, convert) for name, key, convert in fields}
        stock_check = _same(self._cls, "_has_unknown_tagged_union_member", bp.ResponseParser)

        def union(value: Any) -> Any:
            if value is None:
                return None
            # botocore's check copies the dict and lists the member names for
            # every value. A dict with exactly one known member set passes it,
            # and then the walk below keeps just that member: build it directly.
            if stock_check and type(value) is dict:
                tag = _single_tag(value)
                if tag in by_tag:
                    name, convert = by_tag[tag]
                    raw = value[tag]
                    return {name: raw if convert is None else convert(raw)}
            if parser._has_unknown_tagged_union_member(shape, value):
                return parser._handle_unknown_tagged_union_member(parser._get_first_key(value))
            return structure(value)

        return union

    def _list(self, shape: Any) -> Callable[[Any], Any]:
        convert = self.converter(shape.member)
        if convert is None:
            return lambda node: [item for item in node]
        return lambda node: [None if item is None else convert(item) for item in node]

    def _map(self, shape: Any) -> Callable[[Any], Any]:
        key_of = self.converter(shape.key)
        value_of = self.converter(shape.value)

        def mapping(value: Any) -> Dict[Any, Any]:
            parsed = {}
            for key, item in value.items():
                parsed[key if key_of is None else key_of(key)] = (
                    item if value_of is None else value_of(item)
                )
            return parsed

        return mapping


def _single_tag(value: Dict[Any, Any]) -> Any:
    """The one key of ``value`` set to something other than None (``__type`` aside), else None."""
    tag = None
    for key, item in value.items():
        if item is not None and key != "__type":
            if tag is not None:
                return None
            tag = key
    return tag

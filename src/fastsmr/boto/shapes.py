"""Which converters a stream uses, worked out once per stream shape and kept as long as the shape.

:func:`table_for` gives a stream's converter table (see
:mod:`fastsmr.boto.converters`); :func:`blob_events` the event types the codec
can shape itself, and :func:`payload_member` SageMaker's ``PayloadPart``
member.

botocore makes a new parser for every request, while a client keeps its
service model (and so its stream shapes) for life. The tables therefore live
with the shape and are keyed on what a parser's events depend on — its class
and its configuration (the factory's timestamp and blob parsers) — never on
the parser itself; they are built on a detached copy of the first parser seen
and hold nothing of any request. A shape keeps at most
:data:`MAX_PARSER_KINDS` tables, and they die with it.
"""

from __future__ import annotations

import logging
import threading
import types
import weakref
from typing import Any, Dict, Hashable, Optional

import botocore.parsers as bp

from .converters import Converter, build_table, parser_protocol

__all__ = ["MAX_PARSER_KINDS", "BOTOCORE_PARSE", "table_for", "blob_events", "payload_member"]

#: Tables one stream shape keeps (one per kind of parser; a client has one kind).
MAX_PARSER_KINDS = 4

_LOG = getattr(bp, "LOG", logging.getLogger("botocore.parsers"))

# shape -> {parser kind: table}. The shape lives as long as its client's
# service model; nothing in a table refers to the shape (only to its members)
# nor to a request, so an entry dies with the model.
_TABLES: "weakref.WeakKeyDictionary[Any, Dict[Hashable, Optional[Dict[Any, Converter]]]]" = weakref.WeakKeyDictionary()
_BLOBS: "weakref.WeakKeyDictionary[Any, Dict[str, Optional[str]]]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_DEFAULT_BLOB_PARSER = getattr(bp.ResponseParser, "_default_blob_parser", None)
# A table of no parser kind, told apart by identity: ``tables.get(kind, _UNSEEN)``
# returns it for a kind not seen yet (None is a kind that has no table).
_UNSEEN: Dict[Any, Converter] = {}

#: botocore's ``ResponseParser.parse``, which adds nothing to ``_do_parse`` for a 200 event.
BOTOCORE_PARSE = getattr(bp.ResponseParser, "parse", None)


def table_for(shape: Any, parser: Any, stock_parse: Any = BOTOCORE_PARSE) -> Optional[Dict[Any, Converter]]:
    """The converters for one stream shape and a parser like ``parser``, or None
    if the parser is not botocore's.

    ``stock_parse`` is the ``parse`` method the parser's SDK defines
    (botocore's, or aiobotocore's async one): a parser class with another one
    gets no table. None is also returned while botocore's parser logs at DEBUG
    level, so that its per-event log lines still appear.
    """
    if _LOG.isEnabledFor(logging.DEBUG):
        return None
    kind = _parser_key(parser, stock_parse)
    if kind is None:
        return None
    try:
        tables = _TABLES.get(shape)
    except TypeError:  # not weakly referenceable: not botocore's shape
        return None
    table = tables.get(kind, _UNSEEN) if tables is not None else _UNSEEN
    if table is _UNSEEN:
        protocol = parser_protocol(parser, stock_parse)
        if protocol is None or getattr(shape, "type_name", None) != "structure":
            table = None
        else:
            table = build_table(shape, _detached(parser), protocol)
        with _LOCK:
            tables = _TABLES.setdefault(shape, {})
            if len(tables) >= MAX_PARSER_KINDS:
                del tables[next(iter(tables))]  # the oldest
            tables[kind] = table
    return table


def _parser_key(parser: Any, stock_parse: Any) -> Optional[Hashable]:
    """What the events a parser builds depend on besides its class's code: its
    class and its attributes (the factory's timestamp and blob parsers), with
    a method of a parser standing for its function. None when that cannot
    be told (an attribute that is neither hashable nor such a method)."""
    items = []
    try:
        state = sorted(vars(parser).items())
    except TypeError:
        return None
    for name, value in state:
        owner = getattr(value, "__self__", None)
        if isinstance(owner, bp.ResponseParser):
            if owner is not parser and value.__func__ is not _DEFAULT_BLOB_PARSER:
                return None  # a method of another parser that _detached() cannot copy
            value = ("method", value.__func__)
        items.append((name, value))
    key = (type(parser), stock_parse, tuple(items))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _detached(parser: Any) -> Any:
    """A parser that builds the same events as ``parser`` and refers to no request.

    The copy's methods are bound to the copy; the one method of another parser
    that botocore passes in (the response parser's default blob parser, which
    needs no state) is bound to the copy too.
    """
    twin = object.__new__(type(parser))
    for name, value in vars(parser).items():
        if isinstance(getattr(value, "__self__", None), bp.ResponseParser):
            value = types.MethodType(value.__func__, twin)
        twin.__dict__[name] = value
    return twin


def blob_events(shape: Any) -> Dict[str, Optional[str]]:
    """The event types of a stream that are their payload as one blob member.

    For these the codec builds botocore's event itself (``Decoder.feed``'s
    ``events``): ``{event_type: {member: payload}}``, as botocore's parser
    would, since such an event has no header members to add.
    """
    try:
        found = _BLOBS.get(shape)
    except TypeError:
        return {}
    if found is None:
        found = {}  # feed()'s events mapping: every value here is a member name
        for event_type, member in getattr(shape, "members", {}).items():
            if member.type_name != "structure" or not member.serialization.get("event"):
                continue
            fields = member.members
            if any(field.serialization.get("eventheader") for field in fields.values()):
                continue
            for name, field in fields.items():
                if field.serialization.get("eventpayload"):
                    if field.type_name == "blob":
                        found[event_type] = name
                    break
        _BLOBS[shape] = found
    return found


def payload_member(shape: Any) -> Optional[str]:
    """The blob payload member of a stream's ``PayloadPart`` event, if it has one.

    SageMaker Runtime's response stream has ``PayloadPart`` with ``Bytes``.
    """
    if getattr(shape, "type_name", None) != "structure":
        return None
    event = shape.members.get("PayloadPart")
    if event is None or event.type_name != "structure" or not event.serialization.get("event"):
        return None
    for name, member in event.members.items():
        if member.serialization.get("eventpayload"):
            return name if member.type_name == "blob" else None
    return None

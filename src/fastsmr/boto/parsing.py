"""botocore's event-stream parsers, turning a message into an event through fastsmr's converters.

Code that decodes with ``EventStreamBuffer`` (LiteLLM, for one) turns each
message into an event as botocore's ``EventStream`` does:
``parser.parse(message.to_response_dict(), stream_shape)`` with an
``EventStreamJSONParser`` (or XML, CBOR). botocore's ``_do_parse`` then walks
the service model for every message, which costs more than decoding it.

While :func:`fastsmr.install` is in effect, ``BaseEventStreamParser._do_parse``
first looks the event type up in the converters :mod:`fastsmr.boto.shapes`
works out once per stream shape and kind of parser (the ones the drop-in's
``EventStream`` uses), and builds the same event dict directly: same keys,
values and types. A parser that is not botocore's own (a subclass that changes
how events are built), a body only botocore parses (XML other than an empty
event) and DEBUG logging of ``botocore.parsers`` go through botocore's code.
aiobotocore's event-stream parsers inherit this method too; their ``parse``
takes its result as it takes botocore's.

>>> import fastsmr, botocore.parsers, botocore.session
>>> model = botocore.session.get_session().get_service_model("sagemaker-runtime")
>>> shape = model.operation_model("InvokeEndpointWithResponseStream").output_shape.members["Body"]
>>> event = {"status_code": 200, "body": b"Hi",
...          "headers": {":event-type": "PayloadPart", ":message-type": "event"}}
>>> fastsmr.install()
True
>>> botocore.parsers.EventStreamJSONParser().parse(event, shape)
{'PayloadPart': {'Bytes': b'Hi'}}
>>> fastsmr.uninstall()
"""

from __future__ import annotations

import logging
import sys
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple, cast

import botocore.parsers as bp

from .converters import Converter
from .shapes import BOTOCORE_PARSE, table_for

__all__ = ["patches", "problems"]

_BASE: Optional[type] = getattr(bp, "BaseEventStreamParser", None)
_DoParse = Callable[[Any, Dict[str, Any], Any], Dict[str, Any]]
_STOCK_DO_PARSE: Optional[_DoParse] = _BASE.__dict__.get("_do_parse") if _BASE is not None else None
_LOG = getattr(bp, "LOG", logging.getLogger("botocore.parsers"))

# parser -> {stream shape: its converter table, or None}. table_for() works out
# which kind of parser it is given, which costs more than converting one event
# saves, and LiteLLM makes a parser per stream and calls it for every message:
# so each parser remembers its tables while it lives. An entry holds the shape
# (it lives with the service model) and the table (it refers to no parser or
# request), nothing that keeps the parser alive: it goes with its parser. A
# parser that outlives its shapes (one kept for life, given the shapes of new
# clients' models) keeps the last few.
_SHAPES_PER_PARSER = 4
_BY_PARSER: "weakref.WeakKeyDictionary[Any, Dict[Any, Optional[Dict[Any, Converter]]]]"
_BY_PARSER = weakref.WeakKeyDictionary()


def _stock_parse(cls: type) -> Any:
    """``cls.parse`` if it is botocore's or aiobotocore's own (which add nothing to
    ``_do_parse`` for an event), else None."""
    parse = getattr(cls, "parse", None)
    if parse is BOTOCORE_PARSE:
        return parse
    aio = sys.modules.get("aiobotocore.parsers")  # loaded if cls is one of its parsers
    if aio is not None and parse is getattr(getattr(aio, "AioResponseParser", None), "parse", None):
        return parse
    return None


def _table(parser: Any, shape: Any) -> Optional[Dict[Any, Converter]]:
    if _LOG.isEnabledFor(logging.DEBUG):
        return None  # botocore's parser logs every event at DEBUG level
    try:
        tables = _BY_PARSER.get(parser)
    except TypeError:  # not weakly referenceable: not botocore's parser
        return None
    if tables is None:
        tables = _BY_PARSER.setdefault(parser, {})
    try:
        return tables[shape]
    except KeyError:
        if len(tables) >= _SHAPES_PER_PARSER:
            del tables[next(iter(tables))]  # the oldest
        table = tables[shape] = table_for(shape, parser, _stock_parse(type(parser)))
        return table


def _do_parse(self: Any, response: Dict[str, Any], shape: Any) -> Dict[str, Any]:
    """``BaseEventStreamParser._do_parse``, with the stream shape's event built by its converter."""
    if shape.serialization.get("eventstream"):
        table = _table(self, shape)
        if table is not None:
            headers = response["headers"]
            event_type = headers.get(":event-type")
            convert = table.get(event_type)
            if convert is None:
                return {}  # not an event of this stream: botocore parses it to nothing
            if isinstance(convert, str):  # a member name (a plain str, from the model)
                return {event_type: {convert: response["body"]}}
            inner = convert(headers, response["body"])
            if inner is not None:
                return {event_type: inner}
    # Not None while installed: install() checks problems() first.
    return cast(_DoParse, _STOCK_DO_PARSE)(self, response, shape)


def patches() -> List[Tuple[type, Dict[str, Any]]]:
    """What install() sets on botocore's parser classes (install() checks :func:`problems` first)."""
    return [(cast(type, _BASE), {"_do_parse": _do_parse})]


def problems() -> List[str]:
    """Why botocore's event-stream parser is not the one this module speeds up, if it is not."""
    if _BASE is None or _STOCK_DO_PARSE is None:
        return ["botocore.parsers lacks BaseEventStreamParser._do_parse"]
    code = getattr(_STOCK_DO_PARSE, "__code__", None)
    if code is None or list(code.co_varnames[: code.co_argcount]) != ["self", "response", "shape"]:
        return ["BaseEventStreamParser._do_parse is not the method fastsmr knows"]
    return []

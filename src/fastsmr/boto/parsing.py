"""botocore's event-stream parsers, turning a message into an event through fastsmr's converters.

Code that decodes with ``EventStreamBuffer`` (LiteLLM, for one) turns each
message into an event as botocore's ``EventStream`` does:
``parser.parse(message.to_response_dict(), stream_shape)`` with an
``EventStreamJSONParser`` (or XML, CBOR). botocore's ``_do_parse`` then walks
the service model for every message, which costs more than decoding it.

While :func:`fastsmr.install` is in effect, ``BaseEventStreamParser._do_parse``
first looks the event type up in the converters :mod:`fastsmr.boto.shapes`
works out once per stream shape and parser (the ones the drop-in's
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

from typing import Any, Dict, List, Tuple

import botocore.parsers as bp

from .shapes import table_for

__all__ = ["patches", "problems"]

_BASE = getattr(bp, "BaseEventStreamParser", None)
_STOCK_DO_PARSE = _BASE.__dict__.get("_do_parse") if _BASE is not None else None


def _do_parse(self: Any, response: Dict[str, Any], shape: Any) -> Dict[str, Any]:
    """``BaseEventStreamParser._do_parse``, with the stream shape's event built by its converter."""
    if shape.serialization.get("eventstream"):
        table = table_for(shape, self)
        if table is not None:
            headers = response["headers"]
            event_type = headers.get(":event-type")
            convert = table.get(event_type)
            if convert is None:
                return {}  # not an event of this stream: botocore parses it to nothing
            if convert.__class__ is str:
                return {event_type: {convert: response["body"]}}
            inner = convert(headers, response["body"])
            if inner is not None:
                return {event_type: inner}
    return _STOCK_DO_PARSE(self, response, shape)


def patches() -> List[Tuple[type, Dict[str, Any]]]:
    """What install() sets on botocore's parser classes."""
    return [(_BASE, {"_do_parse": _do_parse})]


def problems() -> List[str]:
    """Why botocore's event-stream parser is not the one this module speeds up, if it is not."""
    if _BASE is None or _STOCK_DO_PARSE is None:
        return ["botocore.parsers lacks BaseEventStreamParser._do_parse"]
    code = getattr(_STOCK_DO_PARSE, "__code__", None)
    if code is None or list(code.co_varnames[: code.co_argcount]) != ["self", "response", "shape"]:
        return ["BaseEventStreamParser._do_parse is not the method fastsmr knows"]
    return []

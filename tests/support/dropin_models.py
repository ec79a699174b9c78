"""botocore's event-stream operations, and hypothesis strategies for their messages.

``operations()`` walks every service model the installed botocore ships and
returns each operation whose output has an event stream, plus a synthetic
service per protocol with what no real model has yet (``eventheader``
members of every type, string and structure payloads, non-event members).

``messages(operation)`` draws whole streams: events of every member with
values generated from the shapes, modeled exceptions, unmodeled ``error``
messages, unknown event types, ``initial-response`` messages, and a few bodies
that do not match the model (botocore's own reaction to them must be
reproduced too).
"""

from __future__ import annotations

import base64
import datetime
import gzip
import json
import os
from typing import Any, AsyncIterable, Dict, Iterable, List, NamedTuple, Tuple
from xml.sax.saxutils import escape

import botocore.model
import botocore.parsers
import botocore.session
from hypothesis import strategies as st

import fastsmr

Message = Tuple[Dict[str, Any], bytes]


class Operation(NamedTuple):
    service: str
    protocol: str
    name: str
    shape: Any  # the event-stream structure

    @property
    def id(self) -> str:
        return f"{self.service}.{self.name}"


def _model_files(loader: Any) -> List[Tuple[str, str]]:
    """(service, path of its newest service-2 model) for every service found on disk."""
    found = []
    for service in loader.list_available_services("service-2"):
        version = loader.determine_latest_version(service, "service-2")
        for base in loader.search_paths:
            for suffix in (".json", ".json.gz"):
                path = os.path.join(base, service, version, "service-2" + suffix)
                if os.path.isfile(path):
                    found.append((service, path))
                    break
            else:
                continue
            break
    return found


def _may_have_event_streams(path: str) -> bool:
    with open(path, "rb") as file:
        raw = file.read()
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    return b'"eventstream"' in raw


def operations() -> List[Operation]:
    """Every event-stream operation of botocore's models, then the synthetic ones."""
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    services = loader.list_available_services("service-2")
    files = _model_files(loader)
    if len(files) == len(services):
        # Reading every model as JSON takes seconds; a text search first is exact
        # enough (a false positive is only parsed for nothing).
        services = [service for service, path in files if _may_have_event_streams(path)]
    found = []
    for service in services:
        model = session.get_service_model(service)
        for name in model.operation_names:
            shape = model.operation_model(name).get_event_stream_output()
            if shape is not None:
                found.append(Operation(service, model.protocol, name, shape))
    return found + synthetic_operations()


def _synthetic_model(protocol: str) -> Dict[str, Any]:
    header_types = {
        "Flag": "boolean", "Tiny": "byte", "Small": "short", "Count": "integer",
        "Big": "long", "Raw": "blob", "Label": "string", "When": "timestamp",
    }
    shapes: Dict[str, Any] = {f"T{name}": {"type": kind} for name, kind in header_types.items()}
    shapes.update({
        "Blob": {"type": "blob"},
        "Text": {"type": "string"},
        "Number": {"type": "integer"},
        "Stamp": {"type": "timestamp"},
        "Inner": {"type": "structure", "members": {
            "Name": {"shape": "Text"}, "Size": {"shape": "Number"}, "At": {"shape": "Stamp"},
        }},
        "Output": {"type": "structure", "members": {"Events": {"shape": "Stream"}}, "payload": "Events"},
        "AllHeaders": {"type": "structure", "event": True, "members": {
            name: {"shape": f"T{name}", "eventheader": True} for name in header_types
        }},
        "HeaderAndBlob": {"type": "structure", "event": True, "members": {
            "When": {"shape": "TWhen", "eventheader": True}, "Data": {"shape": "Blob", "eventpayload": True},
        }},
        "HeaderAndText": {"type": "structure", "event": True, "members": {
            "Label": {"shape": "TLabel", "eventheader": True}, "Body": {"shape": "Text", "eventpayload": True},
        }},
        "TextOnly": {"type": "structure", "event": True, "members": {
            "Body": {"shape": "Text", "eventpayload": True},
        }},
        "HeaderAndStructure": {"type": "structure", "event": True, "members": {
            "Count": {"shape": "TCount", "eventheader": True}, "Detail": {"shape": "Inner", "eventpayload": True},
        }},
        "HeaderAndBody": {"type": "structure", "event": True, "members": {
            "Big": {"shape": "TBig", "eventheader": True},
            "Name": {"shape": "Text"}, "At": {"shape": "Stamp", "locationName": "at"},
        }},
        "NotAnEvent": {"type": "structure", "members": {
            "Flag": {"shape": "TFlag", "eventheader": True}, "Name": {"shape": "Text"},
        }},
        "Empty": {"type": "structure", "event": True, "members": {}},
        "Failure": {"type": "structure", "exception": True, "members": {"Message": {"shape": "Text"}}},
        "Stream": {"type": "structure", "eventstream": True, "members": {
            name: {"shape": name} for name in (
                "AllHeaders", "HeaderAndBlob", "HeaderAndText", "TextOnly", "HeaderAndStructure",
                "HeaderAndBody", "NotAnEvent", "Empty", "Failure",
            )
        }},
    })
    return {
        "metadata": {
            "apiVersion": "2024-01-01", "endpointPrefix": "synthetic", "protocol": protocol,
            "serviceId": "Synthetic", "signatureVersion": "v4", "jsonVersion": "1.1", "targetPrefix": "S",
        },
        "operations": {"Subscribe": {
            "name": "Subscribe", "http": {"method": "POST", "requestUri": "/"}, "output": {"shape": "Output"},
        }},
        "shapes": shapes,
    }


def synthetic_operations() -> List[Operation]:
    found = []
    for protocol in ("rest-json", "json", "rest-xml"):
        model = botocore.model.ServiceModel(_synthetic_model(protocol), f"synthetic-{protocol}")
        shape = model.operation_model("Subscribe").get_event_stream_output()
        found.append(Operation(f"synthetic-{protocol}", protocol, "Subscribe", shape))
    return found


def sagemaker_operation() -> Operation:
    """SageMaker Runtime's InvokeEndpointWithResponseStream, or a replica for a botocore without it."""
    for operation in operations():
        if operation.name == "InvokeEndpointWithResponseStream":
            return operation
    text = {"type": "string"}
    model = {
        "metadata": {"apiVersion": "2017-05-13", "endpointPrefix": "runtime.sagemaker", "protocol": "rest-json",
                     "serviceId": "SageMaker Runtime", "signatureVersion": "v4"},
        "operations": {"InvokeEndpointWithResponseStream": {
            "name": "InvokeEndpointWithResponseStream", "http": {"method": "POST", "requestUri": "/"},
            "output": {"shape": "Output"},
        }},
        "shapes": {
            "Text": text,
            "Blob": {"type": "blob"},
            "Output": {"type": "structure", "members": {"Body": {"shape": "ResponseStream"}}, "payload": "Body"},
            "ResponseStream": {"type": "structure", "eventstream": True, "members": {
                "PayloadPart": {"shape": "PayloadPart"},
                "ModelStreamError": {"shape": "ModelStreamError"},
                "InternalStreamFailure": {"shape": "InternalStreamFailure"},
            }},
            "PayloadPart": {"type": "structure", "event": True, "members": {
                "Bytes": {"shape": "Blob", "eventpayload": True},
            }},
            "ModelStreamError": {"type": "structure", "exception": True, "members": {
                "Message": {"shape": "Text"}, "ErrorCode": {"shape": "Text"},
            }},
            "InternalStreamFailure": {"type": "structure", "exception": True, "members": {
                "Message": {"shape": "Text"},
            }},
        },
    }
    service = botocore.model.ServiceModel(model, "sagemaker-runtime")
    shape = service.operation_model("InvokeEndpointWithResponseStream").get_event_stream_output()
    return Operation("sagemaker-runtime", "rest-json", "InvokeEndpointWithResponseStream", shape)


# --- values ---------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_KEYS = st.text("abcdefgh", min_size=1, max_size=4)
_JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), _TEXT)
_DOCUMENTS = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=6,
)
# epoch seconds (int and float) and ISO 8601 strings, as services send them
_TIMESTAMPS = st.one_of(
    st.integers(0, 2**31 - 1),
    st.floats(0, 2**31, allow_nan=False).map(lambda value: round(value, 3)),
    st.datetimes(
        min_value=datetime.datetime(1971, 1, 1), max_value=datetime.datetime(2100, 1, 1)
    ).map(lambda value: value.isoformat() + "Z"),
)


def json_value(shape: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """JSON values for ``shape`` as a service would send them (with the odd surprise)."""
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return _DOCUMENTS
        members = {
            member.serialization.get("name", name): member for name, member in shape.members.items()
        }
        if depth > 3:
            return st.just({})
        if shape.is_tagged_union and members:
            choices = [
                st.builds(lambda key, value: {key: value}, st.just(key), json_value(member, depth + 1))
                for key, member in members.items()
            ]
            return st.one_of(
                *choices,
                st.dictionaries(_KEYS, st.integers(), min_size=1, max_size=2),  # unknown or several members
                st.just({}),
            )
        return st.fixed_dictionaries(
            {}, optional={key: json_value(member, depth + 1) for key, member in members.items()}
        )
    if depth > 4:
        return st.none()
    if kind == "list":
        return st.lists(st.one_of(json_value(shape.member, depth + 1), st.none()), max_size=3)
    if kind == "map":
        return st.dictionaries(_KEYS, json_value(shape.value, depth + 1), max_size=3)
    if kind == "string":
        enum = shape.enum
        return st.sampled_from(enum) if enum else _TEXT
    if kind in ("integer", "long", "byte", "short"):
        return st.integers(-(2**31), 2**31 - 1)
    if kind == "boolean":
        return st.booleans()
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if kind == "blob":
        return st.binary(max_size=12).map(lambda raw: base64.b64encode(raw).decode("ascii"))
    if kind == "timestamp":
        return _TIMESTAMPS
    return _JSON_SCALARS


def xml_text(shape: Any, depth: int = 0) -> st.SearchStrategy[str]:
    """The XML children of an element of ``shape`` (botocore reads them by tag)."""
    kind = shape.type_name
    if kind == "structure":
        if depth > 3:
            return st.just("")
        parts = []
        for name, member in shape.members.items():
            tag = member.serialization.get("name", name)
            parts.append(
                st.one_of(st.just(""), xml_text(member, depth + 1).map(lambda text, tag=tag: f"<{tag}>{text}</{tag}>"))
            )
        return st.tuples(*parts).map("".join) if parts else st.just("")
    if kind == "list":
        tag = shape.member.serialization.get("name", "member")
        return st.lists(xml_text(shape.member, depth + 1), max_size=2).map(
            lambda items: "".join(f"<{tag}>{item}</{tag}>" for item in items)
        )
    if kind in ("integer", "long", "byte", "short"):
        return st.integers(-(2**31), 2**31 - 1).map(str)
    if kind == "boolean":
        return st.sampled_from(["true", "false"])
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr)
    if kind == "timestamp":
        return st.just("2024-05-01T12:00:00Z")
    if kind == "blob":
        return st.binary(max_size=8).map(lambda raw: base64.b64encode(raw).decode("ascii"))
    return _TEXT.map(escape)


def body(shape: Any, protocol: str) -> st.SearchStrategy[bytes]:
    """A serialized body for ``shape``, now and then one that does not fit the model."""
    if protocol in ("json", "rest-json"):
        fitting = json_value(shape).map(lambda value: json.dumps(value).encode())
        odd = st.sampled_from([b"", b"null", b"[1, 2]", b'"text"', b"{not json", b'{"x": 1}'])
    elif protocol == "rest-xml":
        fitting = xml_text(shape).map(lambda text: f"<{shape.name}>{text}</{shape.name}>".encode())
        odd = st.sampled_from([b"", b"<a>", b"<Other/>"])
    else:
        fitting = st.binary(max_size=16)
        odd = st.just(b"")
    return st.one_of(fitting, fitting, fitting, odd)


def header_value(shape: Any) -> st.SearchStrategy[Any]:
    """A header value of the wire type botocore's model implies, rarely a wrong one."""
    kind = shape.type_name
    fitting = {
        "boolean": st.booleans(),
        "byte": st.integers(-128, 127).map(fastsmr.Byte),
        "short": st.integers(-(2**15), 2**15 - 1).map(fastsmr.Short),
        "integer": st.integers(-(2**31), 2**31 - 1),
        "long": st.integers(-(2**63), 2**63 - 1).map(fastsmr.Long),
        "blob": st.binary(max_size=12),
        "string": _TEXT,
        "timestamp": st.integers(0, 2**42).map(fastsmr.Timestamp),
    }.get(kind, _TEXT)
    return st.one_of(fitting, fitting, fitting, fitting, fitting, fitting, fitting, _TEXT)


# --- messages ----------------------------------------------------------------------


def _event(shape: Any, event_type: str, protocol: str) -> st.SearchStrategy[Message]:
    fixed = {":message-type": "event", ":event-type": event_type}
    header_members = {
        name: member for name, member in shape.members.items() if member.serialization.get("eventheader")
    }
    headers = st.fixed_dictionaries(
        {}, optional={name: header_value(member) for name, member in header_members.items()}
    ).map(lambda extra: {**fixed, ":content-type": "application/octet-stream", **extra})
    payload_member = next(
        (member for member in shape.members.values() if member.serialization.get("eventpayload")), None
    )
    if payload_member is None:
        payload = body(shape, protocol)
    elif payload_member.type_name == "blob":
        payload = st.binary(max_size=40)
    elif payload_member.type_name == "string":
        payload = _TEXT.map(lambda text: text.encode())
    else:
        payload = body(payload_member, protocol)
    return st.tuples(headers, payload)


def _exception(shape: Any, name: str, protocol: str) -> st.SearchStrategy[Message]:
    headers = {":message-type": "exception", ":exception-type": name, ":content-type": "application/json"}
    return st.tuples(st.just(headers), body(shape, protocol))


_ERRORS = st.tuples(
    st.fixed_dictionaries(
        {":message-type": st.just("error")},
        optional={":error-code": _TEXT, ":error-message": _TEXT},
    ),
    st.binary(max_size=8),
)
_UNKNOWN = st.tuples(
    st.fixed_dictionaries({":message-type": st.just("event"), ":event-type": st.sampled_from(["Unknown", "x"])}),
    st.binary(max_size=8),
)
_INITIAL = st.tuples(
    st.just({":message-type": "event", ":event-type": "initial-response"}),
    st.sampled_from([b"{}", b'{"SessionId": "abc"}', b""]),
)


def message(operation: Operation) -> st.SearchStrategy[Message]:
    """One message of any kind the operation's stream may carry (exceptions often enough to matter)."""
    events, rare = [], [_ERRORS, _UNKNOWN, _INITIAL]
    for name, member in operation.shape.members.items():
        if member.metadata.get("exception"):
            rare.append(_exception(member, name, operation.protocol))
            # an *event* named like an exception: botocore parses it as an event
            rare.append(_event(member, name, operation.protocol))
        else:
            events.append(_event(member, name, operation.protocol))
    common = st.one_of(*events) if events else st.one_of(*rare)
    # flatmap, not one_of: one_of would flatten the branches into equal odds.
    return st.integers(0, 9).flatmap(lambda roll: common if roll < 8 else st.one_of(*rare))


def stream(operation: Operation) -> st.SearchStrategy[List[Message]]:
    """A stream: maybe an initial response, then messages."""
    return st.tuples(st.booleans(), st.lists(message(operation), max_size=8)).map(
        lambda drawn: ([_INITIAL_MESSAGE] if drawn[0] else []) + drawn[1]
    )


_INITIAL_MESSAGE: Message = ({":message-type": "event", ":event-type": "initial-response"}, b"{}")


def encode(messages: List[Message]) -> bytes:
    return b"".join(fastsmr.encode(headers, payload) for headers, payload in messages)


def typed(value: Any) -> Any:
    """``value`` with every type spelled out (1 == 1.0 == True, b"" != "" ...) and dict order kept."""
    if isinstance(value, dict):
        return ("dict", [(typed(key), typed(item)) for key, item in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [typed(item) for item in value])
    if isinstance(value, datetime.datetime):
        return ("datetime", value.isoformat(), repr(value.tzinfo))
    return (type(value).__name__, value)


def described(error: BaseException) -> Any:
    """What a user can see of an exception: class, message and ``.response``."""
    return ("raised", type(error), str(error), typed(getattr(error, "response", None)))


def observe(items: Iterable[Any]) -> List[Any]:
    """Every item (typed), then the exception if one ended the iteration."""
    seen: List[Any] = []
    try:
        for item in items:
            seen.append(typed(item))
    except Exception as error:
        seen.append(described(error))
    return seen


async def aio_observe(items: AsyncIterable[Any]) -> List[Any]:
    """:func:`observe` for an async iterable."""
    seen: List[Any] = []
    try:
        async for item in items:
            seen.append(typed(item))
    except Exception as error:
        seen.append(described(error))
    return seen


def event_stream_parser(protocol: str, factory: Any = botocore.parsers) -> Any:
    """The event-stream parser a client of ``protocol`` uses."""
    return factory.create_parser(protocol)._event_stream_parser

"""One response's decoding state, shared by every reader of its body; no I/O.

A botocore ``EventStream`` can be read many ways — ``for event in body``,
``payload_parts(body)``, ``wrap(body)``, ``get_initial_response()``, sync or
async — and a consumer may leave any of them and go on with another. So the
state of a response lives here, once, in a :class:`ResponseCore`: the decoder,
the messages decoded and not yet delivered (``pending``, one iterator every
reader takes from, so each message goes to exactly one reader, in order),
whether the stream is over, and what an error becomes. The readers of
:mod:`fastsmr.boto.sync` and :mod:`fastsmr.boto.aio` differ only in how
they read bytes.

A pending item has one of three forms, and every reader takes all three:

* a codec ``Message`` (either backend's);
* ``{event_type: {member: payload}}`` — the event botocore builds for an
  event type whose payload is its one blob member (``Decoder.feed``'s
  ``events`` mapping, :func:`fastsmr.boto.shapes.blob_events`);
* ``bytes`` — the payload of a SageMaker ``PayloadPart`` (the mapping
  :data:`PAYLOAD_PART_BYTES`, which ``payload_parts`` decodes with).

The shaped forms drop headers only botocore's own event parser ignores, so a
reader decodes into them only when the stream's events are built by the
converters of :mod:`fastsmr.boto.shapes` (:func:`event_plan`): then any
reader gets exactly what it would have got from a ``Message``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, NamedTuple, Optional, Tuple, cast

import botocore.eventstream as bes

from ..codec import backend
from ..codec import errors as _errors
from .errors import translate
from .shapes import blob_events, payload_member, table_for

__all__ = [
    "ResponseCore",
    "EventPlan",
    "event_plan",
    "botocore_message",
    "event_of",
    "part_of",
    "BOTOCORE_PARSES",
    "PAYLOAD_PART_BYTES",
]

#: ``feed``'s ``events`` for payload_parts: a PayloadPart comes back as its bytes.
PAYLOAD_PART_BYTES: Dict[str, Optional[str]] = {"PayloadPart": None}

#: What :func:`event_of` and :func:`part_of` return for an item only botocore's
#: ``_parse_event`` handles (it raises EventStreamError for an error message).
BOTOCORE_PARSES: Any = object()


class ResponseCore:
    """The decoding state of one response body, whoever reads it.

    A reader takes items from ``pending`` (any of the three forms) and, when
    it has used that iterator up, puts it in ``drained`` and has the shell
    read bytes and :meth:`feed` them — unless ``pending`` is newer than what
    it used up (another reader went on while it was suspended): then it
    takes from that first. ``done`` turns True at the end of the body or at
    the first error, never because a consumer left its loop. ``events`` is
    the form the last reader asked for (``Decoder.feed``'s mapping, or None
    for ``Message`` objects).

    >>> import fastsmr
    >>> core = ResponseCore()
    >>> core.events = PAYLOAD_PART_BYTES
    >>> wire = fastsmr.encode({":message-type": "event", ":event-type": "PayloadPart"}, b"Hi")
    >>> core.feed(wire[:5]), core.feed(wire[5:]), list(core.pending)
    (False, True, [b'Hi'])
    >>> core.finish(); core.done
    True
    """

    __slots__ = ("pending", "drained", "events", "done", "_decoder")

    def __init__(self) -> None:
        #: The decoded items not handed out yet: an iterator over the last batch.
        self.pending: Iterator[Any] = iter(())
        #: The ``pending`` iterator the last reader to ask for more had used up.
        self.drained: Optional[Iterator[Any]] = None
        self.events: Optional[Dict[str, Optional[str]]] = None
        self.done = False
        self._decoder: Any = None

    def decoder(self) -> Any:
        """The response's decoder, made on the first call, when the body starts
        (the backend is looked up then, not at import)."""
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = backend.impl.Decoder()
        return decoder

    def feed(self, chunk: Any) -> bool:
        """Decode ``chunk`` into ``pending``; True if it completed messages.

        The shells' loops call ``decoder().feed(chunk, events)`` themselves
        (a call less per chunk); this is the same step, for readers to come.
        """
        batch = self.decoder().feed(chunk, self.events)
        if batch:
            self.pending = iter(batch)
            return True
        return False

    def finish(self, short: Optional[Tuple[int, int]] = None) -> None:
        """The body ended: the stream is over. Raises (translated) if it ended
        inside a message, or ``IncompleteBodyError`` when ``short`` gives the
        body's Content-Length and the bytes received short of it (see
        :func:`fastsmr.boto.urllib3_body.short_body`).

        >>> import botocore.eventstream
        >>> try:
        ...     ResponseCore().finish((964, 914))
        ... except botocore.eventstream.ParserError as error:
        ...     print(type(error).__name__, error.expected, error.received, error.offset)
        IncompleteBodyError 964 914 914
        """
        self.done = True
        remaining = 0
        try:
            self.decoder().close()
        except _errors.TruncatedStreamError as error:
            if short is None:
                raise translate(error) from None
            remaining = error.remaining
        except Exception as error:
            raise translate(error) from None
        if short is not None:
            raise translate(_errors.IncompleteBodyError(short[0], short[1], remaining))

    def fail(self, error: BaseException) -> BaseException:
        """Reading or decoding the body raised ``error``: the stream is over.
        Returns what to raise: a decode error's botocore-compatible twin."""
        self.done = True
        return translate(error)


class EventPlan(NamedTuple):
    """How one stream's readers build events, worked out when a reader starts."""

    #: The converter table's ``get`` (see :mod:`fastsmr.boto.shapes`), or None:
    #: every message then goes through the stream's ``_parse_event``.
    get: Optional[Callable[[Any], Any]]
    #: ``feed``'s mapping for the events reader (None: plain messages).
    events: Optional[Dict[str, Optional[str]]]
    #: The mapping for ``payload_parts`` (None: plain messages).
    parts: Optional[Dict[str, Optional[str]]]
    #: The blob payload member of ``PayloadPart``, if the stream has one.
    member: Optional[str]


def event_plan(stream: Any, stock_parse_event: Any, stock_parse: Any) -> EventPlan:
    """The plan for ``stream``: converters when it parses events as its SDK
    does (its class's ``_parse_event`` is ``stock_parse_event`` and its parser's
    ``parse`` is ``stock_parse``), botocore's parser otherwise."""
    shape = stream._output_shape
    member = payload_member(shape)
    table = None
    if getattr(type(stream), "_parse_event", None) is stock_parse_event:
        table = table_for(shape, stream._parser, stock_parse)
    if table is None:
        return EventPlan(None, None, None, member)
    return EventPlan(table.get, blob_events(shape) or None, PAYLOAD_PART_BYTES if member else None, member)


# Messages rebuilt from shaped items carry the headers botocore's readers look
# at (get_initial_response, the parser of a blob event) and no framing.
_NO_PRELUDE = bes.MessagePrelude(0, 0, 0)
# botocore-stubs declare EventStreamMessage(prelude: int, headers: int, ...);
# botocore (eventstream.py) takes a MessagePrelude and the headers dict.
_EventStreamMessage = cast(
    Callable[[bes.MessagePrelude, Dict[str, Any], bytes, int], bes.EventStreamMessage], bes.EventStreamMessage
)


def botocore_message(item: Any) -> bes.EventStreamMessage:
    """A ``botocore.eventstream.EventStreamMessage`` equal to the one botocore builds.

    >>> import fastsmr
    >>> botocore_message(b"Hi").headers, botocore_message(b"Hi").payload
    ({':message-type': 'event', ':event-type': 'PayloadPart'}, b'Hi')
    """
    cls = item.__class__
    if cls is dict:
        ((event_type, members),) = item.items()
        ((payload,),) = (members.values(),)
        return _EventStreamMessage(_NO_PRELUDE, {":message-type": "event", ":event-type": event_type}, payload, 0)
    if cls is bytes:
        return _EventStreamMessage(_NO_PRELUDE, {":message-type": "event", ":event-type": "PayloadPart"}, item, 0)
    payload = item.payload
    total = item.total_length
    prelude = bes.MessagePrelude(total, total - 16 - len(payload), item.prelude_crc)
    return _EventStreamMessage(prelude, item.headers, payload, item.crc)


def event_of(item: Any, get: Callable[[Any], Any], member: Optional[str]) -> Any:
    """The event a pending item that is not a dict already makes, with the
    converter table's ``get`` and PayloadPart's ``member``: a dict, None for
    an event type botocore skips (it parses an unknown type to {} and drops
    it), or :data:`BOTOCORE_PARSES` for an error or exception message and a
    body no converter reads."""
    if item.__class__ is bytes:
        return {"PayloadPart": {member: item}}
    kind = item.message_type
    # "event" first: one comparison for nearly every message.
    if kind != "event" and (kind == "error" or kind == "exception"):
        return BOTOCORE_PARSES
    event_type = item.event_type
    convert = get(event_type)
    if convert.__class__ is str:
        return {event_type: {convert: item.payload}}
    if convert is None:
        return None
    inner = convert(item.headers, item.payload)
    return BOTOCORE_PARSES if inner is None else {event_type: inner}


def part_of(item: Any) -> Any:
    """The PayloadPart bytes of a pending item that is not bytes already: None
    for other event types, :data:`BOTOCORE_PARSES` for an error or exception
    message (botocore raises EventStreamError for it)."""
    if item.__class__ is dict:
        event = item.get("PayloadPart")
        return None if event is None else next(iter(event.values()))
    kind = item.message_type
    if kind != "event" and (kind == "error" or kind == "exception"):
        return BOTOCORE_PARSES
    return item.payload if item.event_type == "PayloadPart" else None

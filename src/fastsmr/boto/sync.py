"""The boto3 (botocore) readers: the shell that reads a response body and feeds its core.

botocore reads an event-stream response in ``botocore.eventstream.EventStream``:
its ``_create_raw_event_generator`` feeds the ``raw_stream.stream()`` chunks to
a pure-Python buffer and yields message objects, and its ``__iter__`` turns
each into an event dict with the response parser. ``install()`` replaces just
those two methods (:func:`patches`); ``wrap()`` and ``payload_parts()`` take
over one stream the same way. In the generator's place goes a
:class:`MessageSource`: the response's :class:`~fastsmr.boto.core.ResponseCore`
and the one generator that reads the body (:func:`_reading`). Every reader
— :func:`events`, :func:`_payload_parts`, and botocore's own code calling
``next()`` on the source (``get_initial_response``) — takes the decoded
messages from the core and steps that generator when they run out.

That generator is the only code that reads the body, so the stream ends only
when the body does: at its last byte, or when reading or decoding raises —
then the connection is closed at once and the error (a decode error as its
botocore-compatible twin, see :mod:`fastsmr.boto.errors`) goes to the reader
that stepped it. A consumer leaving its loop changes nothing; a second thread
stepping it while it reads gets Python's ``ValueError: generator already
executing``, as with botocore's generator, and the first reads on.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Tuple, cast

import botocore.eventstream as bes

from .compat import botocore_recognised
from .core import BOTOCORE_PARSES, EventPlan, ResponseCore, botocore_message, event_of, event_plan, part_of
from .shapes import BOTOCORE_PARSE
from .streams import Wrapped, adopt, is_async, unwrap
from .urllib3_body import body_chunks, short_body, socket_body

__all__ = ["MessageSource", "events", "payload_parts", "wrap", "patches"]

_STOCK_PARSE_EVENT = getattr(bes.EventStream, "_parse_event", None)
_FIRST = (True,)


class MessageSource:
    """The messages of one response, decoded by fastsmr, in place of botocore's raw generator.

    ``next()`` gives ``botocore.eventstream.EventStreamMessage`` objects, for
    botocore's code; fastsmr's readers take ``core.pending`` directly and step
    ``reading`` when it runs out (:meth:`steps`). All share one position.

    >>> import fastsmr
    >>> class Body:
    ...     def stream(self):
    ...         yield fastsmr.encode({":event-type": "initial-response"}, b"{}")
    >>> source = MessageSource(Body())
    >>> next(source).headers, list(source)
    ({':event-type': 'initial-response'}, [])
    """

    __slots__ = ("core", "reading")

    def __init__(self, raw_stream: Any) -> None:
        self.core = ResponseCore()
        #: The response's one reading generator (made now, started by the first read).
        self.reading: Iterator[bool] = _reading(self.core, raw_stream)

    def steps(self) -> Iterator[bool]:
        """A reader's loop: ``for _ in source.steps():`` take from ``core.pending``,
        and once it is used up, say so in ``core.drained`` (and the form wanted
        in ``core.events``).

        The first step is for what other readers left in ``core.pending``;
        each next one reads the body until it gives messages, and the loop
        ends with the stream (or raises what ended it).
        """
        return chain(_FIRST, self.reading)

    def __iter__(self) -> MessageSource:
        return self

    def __next__(self) -> bes.EventStreamMessage:
        core = self.core
        for _ in self.steps():
            pending = core.pending
            for item in pending:
                return botocore_message(item)
            core.drained = pending
        raise StopIteration


def _reading(core: ResponseCore, raw_stream: Any) -> Iterator[bool]:
    """Read the body into ``core``: each step decodes the next messages into
    ``core.pending`` (in the form ``core.events`` asks for) and yields True;
    it returns at the end of the body, or raises what ended it."""
    chunks: Any = ()
    short = None
    try:
        body = socket_body(raw_stream)
        if body is not None:  # one call per arrival: receive, de-chunk, decode
            with body.reading(core.decoder()) as read:
                while True:
                    batch = read(core.events)
                    if batch is None:
                        break
                    core.pending = iter(batch)
                    yield True
                    while core.drained is not core.pending:  # see below
                        yield True
        else:
            chunks = body_chunks(raw_stream)
            feed = core.decoder().feed
            for chunk in chunks:
                batch = feed(chunk, core.events)
                if batch:
                    core.pending = iter(batch)
                    yield True
                    # Read on for a reader that used this batch up. One that was
                    # suspended while another went on to a newer batch comes back
                    # having used up an older one: the newer one is taken first
                    # (two threads alike).
                    while core.drained is not core.pending:
                        yield True
            # A chunked body (the socket path too) ends only at its last
            # chunk; one with a Content-Length ends when the connection does.
            short = short_body(raw_stream)
        core.finish(short)
    except GeneratorExit:  # the response is being dropped
        raise
    except BaseException as error:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # urllib3's body: the connection is closed now, not when the cyclic GC finds it
        raise core.fail(error) from None


# --- readers ----------------------------------------------------------------------


def events(stream: Any, source: MessageSource) -> Iterator[Dict[str, Any]]:
    """Iterate ``stream``'s events as botocore's ``EventStream.__iter__`` does, from ``source``."""
    core = source.core
    parse_event = stream._parse_event
    plan = event_plan(stream, _STOCK_PARSE_EVENT, BOTOCORE_PARSE)
    if plan.get is None:
        for _ in source.steps():
            pending = core.pending
            for item in pending:
                parsed = parse_event(botocore_message(item))
                if parsed:
                    yield parsed
            core.drained, core.events = pending, None
        return
    get, member, mapping = plan.get, plan.member, plan.events
    for _ in source.steps():
        pending = core.pending
        for item in pending:
            if item.__class__ is dict:  # shaped by the codec: the common case, inline
                yield item
                continue
            event = event_of(item, get, member)
            if event is BOTOCORE_PARSES:
                event = parse_event(botocore_message(item))  # raises EventStreamError for errors
            if event:
                yield event
        core.drained, core.events = pending, mapping


def _payload_parts(stream: Any, source: MessageSource, plan: EventPlan) -> Iterator[bytes]:
    core = source.core
    parse_event = stream._parse_event
    mapping = plan.parts
    for _ in source.steps():
        pending = core.pending
        for item in pending:
            if item.__class__ is bytes:  # the common case, inline
                yield item
                continue
            part = part_of(item)
            if part is BOTOCORE_PARSES:
                parse_event(botocore_message(item))  # raises EventStreamError
            elif part is not None:
                yield part
        core.drained, core.events = pending, mapping


def payload_parts(body: Any) -> Iterator[bytes]:
    """The bytes of each ``PayloadPart`` of a SageMaker Runtime response stream; see :func:`fastsmr.payload_parts`."""
    stream = unwrap(body)
    if is_async(stream):
        raise TypeError("an aiobotocore stream: use fastsmr.aio.payload_parts()")
    plan = event_plan(stream, _STOCK_PARSE_EVENT, BOTOCORE_PARSE) if hasattr(stream, "_output_shape") else None
    if plan is None or plan.member is None:
        raise TypeError(
            "payload_parts() takes the Body of invoke_endpoint_with_response_stream "
            "(a stream of PayloadPart events); iterate this stream instead"
        )
    source = adopt(stream, MessageSource, botocore_recognised)
    if source is None:
        member = plan.member
        return (event["PayloadPart"][member] for event in stream if "PayloadPart" in event)
    return _payload_parts(stream, source, plan)


# --- wrap() -------------------------------------------------------------------------


class _WrappedEventStream(Wrapped):
    """One ``EventStream`` decoding with fastsmr, botocore left untouched.

    Iterates like the stream, with ``get_initial_response()`` and ``close()``;
    other attributes are the stream's. Private: what users annotate with is
    the Protocol :class:`fastsmr.boto.WrappedEventStream`, which this class meets
    (its name ends in ``EventStream``: the token helpers tell streams by it).
    """

    __slots__ = ()

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        return events(self._stream, self._source)

    def get_initial_response(self) -> Any:
        """The ``initial-response`` message, as ``EventStream.get_initial_response``."""
        return self._stream.get_initial_response()


if TYPE_CHECKING:  # the checkers hold the class to the Protocol it is documented as
    from . import WrappedEventStream

    _MEETS_PROTOCOL: type[WrappedEventStream[Dict[str, Any]]] = _WrappedEventStream


def wrap(stream: Any) -> Any:
    """``stream`` (a botocore EventStream) decoding with fastsmr; see :func:`fastsmr.wrap`.

    >>> import fastsmr, botocore.eventstream
    >>> class Body:
    ...     def stream(self):
    ...         yield fastsmr.encode({":event-type": "initial-response"}, b"{}")
    ...     def close(self):
    ...         pass
    >>> stream = wrap(botocore.eventstream.EventStream(Body(), None, None, "Op"))
    >>> stream.get_initial_response().payload
    b'{}'
    """
    source = adopt(stream, MessageSource, botocore_recognised)
    if source is None:
        return stream
    return _WrappedEventStream(stream, source)


# --- what install() sets on EventStream -----------------------------------------------


def _create_raw_event_generator(self: Any) -> MessageSource:
    return MessageSource(self._raw_stream)


def _iter(self: Any) -> Iterator[Dict[str, Any]]:
    source = self._event_generator
    if type(source) is MessageSource:
        return events(self, source)
    # A stream made before install() keeps botocore's generator and code.
    return _STOCK_ITER(self)


# Never None when _iter runs: install() checks that EventStream has its __iter__ (compat.py).
_STOCK_ITER = cast(Callable[[Any], Iterator[Dict[str, Any]]], getattr(bes.EventStream, "__iter__", None))


def patches() -> List[Tuple[Any, Dict[str, Any]]]:
    """What install() sets on botocore's ``EventStream``."""
    return [(bes.EventStream, {"_create_raw_event_generator": _create_raw_event_generator, "__iter__": _iter})]

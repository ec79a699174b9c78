"""The public face of the boto3 and aiobotocore drop-in; botocore is imported on the first call only.

``import fastsmr`` must work without botocore (the codec has no dependencies),
so these functions import the modules below when they run; without botocore
they raise a ``ModuleNotFoundError`` that names the extra to install.

* :mod:`~fastsmr.boto.core` — one response's decoding state, shared by every
  reader of its body (no I/O);
* :mod:`~fastsmr.boto.sync` and :mod:`~fastsmr.boto.aio` — the boto3 and
  aiobotocore readers, which differ only in how they read bytes;
* :mod:`~fastsmr.boto.urllib3_body` — a botocore body read past urllib3's chunk parser,
  or straight from its socket by the codec;
* :mod:`~fastsmr.boto.aiohttp_body` — an aiobotocore body taken off aiohttp: the transport's bytes go to the codec;
* :mod:`~fastsmr.boto.shapes` — botocore's events built by converters worked out per stream shape;
* :mod:`~fastsmr.boto.errors` — decode errors as botocore's classes;
* :mod:`~fastsmr.boto.streams` — taking over one EventStream;
* :mod:`~fastsmr.boto.buffer` and :mod:`~fastsmr.boto.parsing` — botocore's
  ``EventStreamBuffer`` and event parsers, for code that decodes without
  ``EventStream`` (LiteLLM);
* :mod:`~fastsmr.boto.compat` and :mod:`~fastsmr.boto.patches` — probing
  botocore's internals, and what install() sets.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator, Protocol, TypeVar, Union, overload

from .._extras import needs

if TYPE_CHECKING:  # botocore-stubs and types-aiobotocore type these; at run time they are not imported
    from aiobotocore.eventstream import AioEventStream
    from botocore.eventstream import EventStream, EventStreamBuffer

__all__ = ["install", "uninstall", "is_installed", "wrap", "payload_parts", "close_buffer",
           "WrappedEventStream", "AioWrappedEventStream"]

_Event = TypeVar("_Event")
_Event_co = TypeVar("_Event_co", covariant=True)


class WrappedEventStream(Protocol[_Event_co]):
    """What :func:`wrap` returns for a botocore ``EventStream[E]``: iterates the same events ``E``.

    The type to annotate with; the class that meets it is private to :mod:`fastsmr.boto.sync`.
    """

    def __iter__(self) -> Iterator[_Event_co]: ...
    def get_initial_response(self) -> _Event_co: ...
    def close(self) -> None: ...


class AioWrappedEventStream(Protocol[_Event_co]):
    """What :func:`wrap` returns for an aiobotocore ``AioEventStream[E]``: ``async for`` gives the same events ``E``.

    The type to annotate with; the class that meets it is private to :mod:`fastsmr.boto.aio`.
    """

    def __aiter__(self) -> AsyncIterator[_Event_co]: ...
    async def get_initial_response(self) -> _Event_co: ...
    def close(self) -> None: ...


def install() -> bool:
    """Make every botocore event stream in this process decode with fastsmr.

    It covers the streams of clients made before and after the call, and
    aiobotocore's when aiobotocore is installed. Events, exceptions,
    ``get_initial_response()`` and ``close()`` stay exactly botocore's.
    Code that decodes with ``botocore.eventstream.EventStreamBuffer`` itself
    (LiteLLM) gets fastsmr's buffer from it, with the same messages and
    exceptions, and botocore's event-stream parsers build events through
    fastsmr's converters (see :mod:`fastsmr.boto.buffer` and
    :mod:`fastsmr.boto.parsing`).
    Calling it again is harmless; it is thread-safe. If botocore's internals
    are not the ones fastsmr knows, it warns once
    (:class:`fastsmr.BotocoreCompatibilityWarning`), leaves botocore stock and
    returns False; otherwise it returns True.

    >>> import fastsmr
    >>> fastsmr.install()
    True
    >>> fastsmr.is_installed()
    True
    >>> fastsmr.uninstall()
    >>> fastsmr.is_installed()
    False
    """
    with needs("fastsmr.boto.install()", "boto", "botocore"):
        from .patches import install as install_

    return install_()


def uninstall() -> None:
    """Undo :func:`install`: botocore's classes get back exactly the attributes they had.

    >>> import fastsmr
    >>> fastsmr.uninstall()  # harmless when not installed
    >>> fastsmr.is_installed()
    False
    """
    module = sys.modules.get("fastsmr.boto.patches")
    if module is not None:
        module.uninstall()


def is_installed() -> bool:
    """Whether :func:`install` is in effect.

    >>> import fastsmr
    >>> fastsmr.is_installed()
    False
    """
    module = sys.modules.get("fastsmr.boto.patches")
    return module is not None and module.is_installed()


@overload
def wrap(event_stream: AioEventStream[_Event]) -> AioWrappedEventStream[_Event]: ...  # type: ignore[overload-overlap]  # an AioEventStream is an EventStream that iterates with async for
@overload
def wrap(event_stream: EventStream[_Event]) -> WrappedEventStream[_Event]: ...
def wrap(
    event_stream: Union[EventStream[_Event], AioEventStream[_Event]],
) -> Union[WrappedEventStream[_Event], AioWrappedEventStream[_Event]]:
    """The same stream decoding with fastsmr, without touching botocore globally.

    ``event_stream`` is an event stream from a response (``response["Body"]``,
    ``response["stream"]``, ...). The result iterates like it (``async for``
    for aiobotocore) and has ``get_initial_response()`` and ``close()``. A
    stream botocore has already started reading (the json protocol reads the
    initial response while parsing the call) is returned unchanged.

    >>> import fastsmr
    >>> def tokens(client, **request):
    ...     stream = fastsmr.wrap(client.converse_stream(**request)["stream"])
    ...     for event in stream:
    ...         if "contentBlockDelta" in event:
    ...             yield event["contentBlockDelta"]["delta"].get("text", "")
    """
    from .streams import is_async, unwrap

    stream = unwrap(event_stream)
    with needs("fastsmr.wrap()", "boto", "botocore"):
        if is_async(stream):
            from .aio import wrap as wrap_one
        else:
            from .sync import wrap as wrap_one
    wrapped: Union[WrappedEventStream[_Event], AioWrappedEventStream[_Event]] = wrap_one(stream)
    return event_stream if wrapped is stream else wrapped  # the stream was fastsmr's already


def payload_parts(body: EventStream[Any]) -> Iterator[bytes]:
    """The bytes of each ``PayloadPart`` of a SageMaker Runtime response stream, directly.

    ``body`` is ``response["Body"]`` of ``invoke_endpoint_with_response_stream``
    (installed or not). A ``ModelStreamError`` or ``InternalStreamFailure``
    raises the ``botocore.exceptions.EventStreamError`` botocore raises, with
    the same ``.response`` and message; decode errors raise as under
    :func:`install`, and a body that ends short of its Content-Length raises
    :class:`fastsmr.IncompleteBodyError` (a ``botocore.eventstream.ParserError``)
    where botocore ends quietly. :func:`fastsmr.aio.payload_parts` is the
    aiobotocore twin.

    >>> import fastsmr
    >>> def answer(client, **request):
    ...     body = client.invoke_endpoint_with_response_stream(**request)["Body"]
    ...     return b"".join(fastsmr.payload_parts(body))
    """
    with needs("fastsmr.payload_parts()", "boto", "botocore"):
        from .sync import payload_parts as payload_parts_

    return payload_parts_(body)


def close_buffer(buffer: EventStreamBuffer) -> None:
    """Declare the end of the stream an ``EventStreamBuffer`` was fed: raise if it ended inside a message.

    botocore's buffer silently keeps the bytes of a message the stream never
    finished; after the last ``add_data()`` and iteration, this raises
    :class:`fastsmr.TruncatedStreamError` (also a
    ``botocore.eventstream.ParserError``) saying how many bytes were left.
    It takes fastsmr's buffer (what ``EventStreamBuffer()`` builds under
    :func:`install`) and botocore's own.

    >>> import fastsmr, botocore.eventstream
    >>> buffer = botocore.eventstream.EventStreamBuffer()
    >>> buffer.add_data(fastsmr.encode({}, b"whole"))
    >>> [m.payload for m in buffer]
    [b'whole']
    >>> fastsmr.close_buffer(buffer)  # nothing left over: returns None
    """
    with needs("fastsmr.close_buffer()", "boto", "botocore"):
        from fastsmr.boto.buffer import close  # absolute: a relative import would bind .buffer over the argument

    close(buffer)

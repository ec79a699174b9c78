"""Taking over one botocore or aiobotocore ``EventStream``: what both shells share.

botocore's ``EventStream`` reads its body through ``_event_generator``, a
generator it makes in ``__init__`` and starts on the first read. fastsmr puts
a message source of its own in that attribute (each shell has one kind), so
that botocore's code which reads it (``get_initial_response``, a stock
``__iter__`` after ``uninstall()``) and fastsmr's readers share one
:class:`fastsmr.boto.core.ResponseCore`.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any, Callable, Optional

__all__ = ["adopt", "not_started", "Wrapped", "unwrap", "is_async"]

_ADOPTING = threading.Lock()


def adopt(stream: Any, source_type: Callable[[Any], Any], recognised: Callable[[], bool]) -> Any:
    """The fastsmr message source of ``stream``, put in place of botocore's if that has not started.

    Returns None when botocore's generator already read from the response
    (the json protocol reads the initial response while parsing the call:
    its buffered bytes cannot be taken over, so the stream stays botocore's)
    or when ``recognised()`` says botocore is not the one fastsmr knows. Two
    threads adopting one stream get the same source.
    """
    source = getattr(stream, "_event_generator", None)
    if type(source) is source_type:
        return source
    if not recognised():
        return None
    with _ADOPTING:
        source = stream._event_generator
        if type(source) is not source_type:
            if not not_started(source):
                return None
            source = stream._event_generator = source_type(stream._raw_stream)
    return source


def not_started(source: Any) -> bool:
    """Whether ``source`` is a generator (or async generator) that has not run yet."""
    if inspect.isgenerator(source):
        return inspect.getgeneratorstate(source) == inspect.GEN_CREATED
    if inspect.isasyncgen(source):
        state: Optional[Callable[[Any], str]] = getattr(inspect, "getasyncgenstate", None)  # Python 3.12+
        if state is not None:
            return state(source) == "AGEN_CREATED"
        frame = source.ag_frame  # Python < 3.12: f_lasti is -1 (0 on 3.11) before the start
        return frame is not None and not source.ag_running and frame.f_lasti <= 0
    return False


class Wrapped:
    """What :func:`fastsmr.wrap` returns: the stream, read by fastsmr; other attributes are the stream's."""

    __slots__ = ("_stream", "_source")

    def __init__(self, stream: Any, source: Any) -> None:
        self._stream = stream
        self._source = source

    def close(self) -> None:
        """Close the underlying response."""
        self._stream.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __repr__(self) -> str:
        return f"<fastsmr.wrap of {self._stream!r}>"


def unwrap(stream: Any) -> Any:
    """The EventStream under any number of :func:`fastsmr.wrap` calls."""
    while isinstance(stream, Wrapped):
        stream = stream._stream
    return stream


def is_async(stream: Any) -> bool:
    """Whether ``stream`` is read with ``async for`` (aiobotocore's)."""
    return hasattr(type(stream), "__aiter__")

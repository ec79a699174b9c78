"""One line for a stream whose connection failed after the response began:
what happened, how much had arrived, and what to try.

``invoke`` and ``demo`` both read streams through boto3, where a connection
that breaks mid-stream surfaces as urllib3's exceptions (``ProtocolError``
with a tuple of the message and the socket's error, ``ReadTimeoutError``
naming the connection pool), as fastsmr's ``ChunkedEncodingError`` when the
HTTP body stops before its last chunk, or as botocore's wrappers of the same;
their ``str()`` is no sentence for a person.
"""

from __future__ import annotations

import http.client
from typing import Any, Optional, Tuple

__all__ = ["Received", "connection_failure"]


class Received:
    """Counts what a stream gave before it failed: ``parts`` (payload parts or
    events) and ``bytes`` (their payload bytes), for the message."""

    __slots__ = ("parts", "bytes", "unit")

    def __init__(self, unit: str = "payload part") -> None:
        self.parts = 0
        self.bytes = 0
        self.unit = unit

    def count(self, parts: Any) -> Any:
        """Yield ``parts`` (bytes-like payloads), counting them."""
        for part in parts:
            self.parts += 1
            self.bytes += len(part)
            yield part

    def __str__(self) -> str:
        if not self.parts:
            return f"before the first {self.unit}"
        plural = "" if self.parts == 1 else "s"
        size = f" ({self.bytes:,} bytes)" if self.unit == "payload part" else ""
        return f"after {self.parts:,} {self.unit}{plural}{size}"


def _causes(exc: BaseException) -> Any:
    """``exc`` and what it wraps: urllib3 keeps the socket's error in its
    arguments, botocore in ``kwargs["error"]``, Python in ``__cause__``/``__context__``."""
    seen = set()
    todo = [exc]
    while todo:
        error = todo.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        todo.extend(arg for arg in error.args if isinstance(arg, BaseException))
        wrapped = getattr(error, "kwargs", None)
        if isinstance(wrapped, dict) and isinstance(wrapped.get("error"), BaseException):
            todo.append(wrapped["error"])
        todo.extend(e for e in (error.__cause__, error.__context__) if e is not None)


#: The connection errors of urllib3 and botocore, by package and name (neither is imported to name them).
_CONNECTION_ERRORS = {"urllib3.HTTPError", "botocore.HTTPClientError", "botocore.ConnectionError"}


def connection_failure(exc: BaseException, read_timeout: float) -> Optional[Tuple[str, Optional[str]]]:
    """What happened to a connection that failed mid-stream, and what to try
    if something more specific than trying again: ``(what, hint)``; None if
    ``exc`` is no connection failure. ``read_timeout`` is the seconds the
    client waits for data.

    >>> import urllib3.exceptions
    >>> reset = ConnectionResetError(104, "Connection reset by peer")
    >>> connection_failure(urllib3.exceptions.ProtocolError(f"Connection broken: {reset!r}", reset), 60)
    ('the endpoint reset the connection (Connection reset by peer)', None)
    """
    from ..codec.errors import ChunkedEncodingError

    closed = "the endpoint closed the connection before the end of the response"
    for cause in _causes(exc):
        if isinstance(cause, ChunkedEncodingError):
            if cause.problem in ("data_left", "no_last_chunk"):
                return f"{closed} ({cause})", None
            return f"the response's HTTP body is malformed ({cause})", None
        if isinstance(cause, ConnectionResetError):
            return f"the endpoint reset the connection ({cause.strerror or 'connection reset'})", None
        if isinstance(cause, TimeoutError) or type(cause).__name__ == "ReadTimeoutError":  # urllib3's and botocore's
            return (f"the endpoint sent nothing for {read_timeout:g} s (--read-timeout)",
                    "a model that pauses longer needs a larger --read-timeout")
        if (isinstance(cause, (http.client.IncompleteRead, ConnectionAbortedError))
                or type(cause).__name__ == "ConnectionClosedError"  # botocore's
                or "Response ended prematurely" in str(cause)):  # urllib3's chunked reads
            return closed, None
    classes = {f"{c.__module__.partition('.')[0]}.{c.__name__}" for c in type(exc).__mro__}
    if not (isinstance(exc, OSError) or classes & _CONNECTION_ERRORS):
        return None
    reasons = [cause.strerror for cause in _causes(exc) if isinstance(cause, OSError) and cause.strerror]
    return f"the connection failed ({reasons[-1] if reasons else exc})", None

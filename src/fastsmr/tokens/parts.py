"""What the text helpers accept as parts, and the errors for anything else.

A part is one bytes-like chunk of the model server's output: ``bytes``,
``bytearray``, ``memoryview`` or any other object with the buffer protocol.
The C and pure-Python line splitters both convert parts here, so a wrong
part fails the same way in both backends, and never reads as the end of the
stream (``None``) or as a run of NUL bytes (``bytes(123)``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_parts", "part_bytes"]

_EVENT_STREAM_PACKAGES = ("botocore", "aiobotocore", "fastsmr")


def part_bytes(part: Any) -> bytes:
    """The bytes of one part; ``TypeError`` naming the type if it is not bytes-like.

    >>> part_bytes(bytearray(b"ab")), part_bytes(memoryview(b"cd"))
    (b'ab', b'cd')
    >>> part_bytes(None)
    Traceback (most recent call last):
    ...
    TypeError: a part must be bytes-like (bytes, bytearray, memoryview), got NoneType
    """
    try:
        view = memoryview(part)
    except TypeError:
        message = f"a part must be bytes-like (bytes, bytearray, memoryview), got {type(part).__name__}"
        if isinstance(part, dict):  # an event of the stream instead of its payload bytes
            message += (
                ": an event of an event stream? pass fastsmr.payload_parts(response['Body']) "
                "(fastsmr.aio.payload_parts for aiobotocore)"
            )
        raise TypeError(message) from None
    return view.tobytes()


def check_parts(parts: Any, helper: str) -> None:
    """``TypeError`` if ``parts`` is a botocore or aiobotocore event stream,
    which yields event dicts, not payload bytes.

    ``helper`` is the helper's public name, e.g. ``"text_stream"`` or
    ``"aio.text_stream"``; the message says which ``payload_parts`` unwraps
    the stream. The stream's class is recognised by name and package
    (botocore's ``EventStream``, aiobotocore's ``AioEventStream``, fastsmr's
    wrapped streams), without importing either SDK.
    """
    for cls in type(parts).__mro__:
        if cls.__name__.endswith("EventStream") and cls.__module__.partition(".")[0] in _EVENT_STREAM_PACKAGES:
            if hasattr(type(parts), "__aiter__"):
                kind, fix = "an aiobotocore", "fastsmr.aio.{}(fastsmr.aio.payload_parts(response['Body']))"
            else:
                kind, fix = "a botocore", "fastsmr.{}(fastsmr.payload_parts(response['Body']))"
            name = helper.rpartition(".")[2]
            raise TypeError(
                f"fastsmr.{helper}() takes the payload bytes of a stream, not {kind} event stream: "
                f"use {fix.format(name)}"
            )

"""A botocore response body read in large reads, de-chunked by the codec.

botocore reads an event stream through urllib3's ``HTTPResponse.stream()``,
which takes the chunked transfer coding apart in Python, one HTTP chunk per
step; a model server sends a token per chunk, and those steps cost more than
decoding the event-stream message inside each chunk. :func:`body_chunks`
reads the same response with ``read1`` (one socket read of whatever has
arrived, up to 64 KiB) and lets the backend's ``ChunkedDecoder`` find the
chunks. urllib3 stays in charge of what it owns: its ``_error_catcher`` turns
socket errors into the exceptions ``stream()`` raises and returns the
connection to the pool when the body is read, or closes it when reading
failed or stopped early, exactly as around its own chunked reads.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

from ..codec import backend

try:
    from urllib3.response import HTTPResponse as _HTTPResponse
    from urllib3.util.response import is_response_to_head as _is_response_to_head
except ImportError:  # no urllib3: every body goes through its own stream()
    _HTTPResponse = None

__all__ = ["body_chunks", "READ_SIZE"]

#: The most one socket read takes (urllib3's ``stream()`` default too).
READ_SIZE = 65536


def body_chunks(raw: Any) -> Iterator[bytes]:
    """The body of ``raw`` (botocore's ``raw_stream``) as ``raw.stream()`` would yield it.

    A urllib3 response in chunked transfer coding whose body is still unread
    and not content-decoded is read directly; anything else goes through
    ``raw.stream()``.
    """
    reader = _socket_reader(raw)
    if reader is None:
        return iter(raw.stream())
    return _dechunked(raw, reader)


def _socket_reader(raw: Any) -> Optional[Any]:
    """The buffered socket file under ``raw`` when its chunks can be read from it, else None."""
    if _HTTPResponse is None or not isinstance(raw, _HTTPResponse):
        return None
    try:
        # chunk_left is None between chunks: no chunk is half read.
        if not raw.chunked or raw.chunk_left is not None or not raw.supports_chunked_reads():
            return None
        if raw.decode_content and raw.headers.get("content-encoding"):
            return None
        original = raw._original_response
        if original is None or _is_response_to_head(original):
            return None
        reader = raw._fp.fp
        raw._error_catcher  # noqa: B018 - must exist: it maps the errors
    except AttributeError:  # a urllib3 whose internals differ
        return None
    return reader if reader is not None and hasattr(reader, "read1") else None


def _dechunked(raw: Any, reader: Any) -> Iterator[bytes]:
    decoder = backend.impl.ChunkedDecoder()
    feed, read1 = decoder.feed, reader.read1
    # Like urllib3's read_chunked, the whole read runs in one _error_catcher:
    # an error, or a consumer that stops early (GeneratorExit at a yield),
    # closes the connection; a clean end releases it.
    with raw._error_catcher():
        while not decoder.done:
            data = read1(READ_SIZE)
            if not data:
                decoder.close()  # raises unless the last chunk was read
                break
            body = feed(data)
            if body:
                yield body
                feed(b"")  # raises an error found past the data now, not after another read
        if decoder.unused and raw._connection is not None:
            # Bytes past the end of the body belong to no response: the
            # connection cannot be reused.
            raw._connection.close()
        raw._original_response.close()

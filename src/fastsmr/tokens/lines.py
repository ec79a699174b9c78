"""Splitting a stream of byte chunks into lines, whatever the chunk boundaries.

A SageMaker ``PayloadPart`` is an arbitrary slice of the model server's
output, so a line may arrive in pieces and one part may hold many lines.
When the codec backend provides ``iter_lines(parts, keepends)`` (the same
contract as :func:`lines`, the whole loop in C), ``lines`` uses it. Otherwise
the splitting is done by ``bytes.split`` (a C loop over ``memchr``) once per
part, with a handful of Python operations per part; a line that spans many
parts is kept as a list of pieces and joined once, and a large part is split
a window at a time, so the cost per line stays flat whatever the shape.
"""

from __future__ import annotations

from itertools import chain
from typing import Iterable, Iterator, List, Union

from ..codec import backend
from .parts import check_parts, part_bytes

BytesLike = Union[bytes, bytearray, memoryview]

__all__ = ["BytesLike", "LineSplitter", "lines"]

_WINDOW = 1 << 15  # bytes split at a time within a large part


class LineSplitter:
    """Incremental ``\\n`` splitter: ``feed`` returns the lines a chunk completes.

    Shared by the sync and async helpers (sans-I/O), and by ``text_stream``'s
    JSON-lines reader.
    """

    __slots__ = ("_tail", "_keepends")

    def __init__(self, keepends: bool = False) -> None:
        self._tail: List[bytes] = []  # pieces of the line still being received
        self._keepends = keepends

    def feed(self, part: BytesLike) -> Iterable[bytes]:
        """The lines that ``part`` completes, in order; consume them before the next feed."""
        if part.__class__ is not bytes:
            part = part_bytes(part)
        if len(part) > _WINDOW:
            return self._feed_windows(part)
        found = part.split(b"\n")
        rest = found.pop()  # what follows the last "\n": b"" when the part ends a line
        tail = self._tail
        if not found:
            if rest:
                tail.append(rest)
            return found
        if tail:
            tail.append(found[0])
            found[0] = b"".join(tail)
            tail.clear()
        if rest:
            tail.append(rest)
        if self._keepends:
            return [line + b"\n" for line in found]
        # The first line may end with a "\r" that came in the previous part.
        if part.find(b"\r") >= 0 or found[0][-1:] == b"\r":
            return [line[:-1] if line[-1:] == b"\r" else line for line in found]
        return found

    def _feed_windows(self, part: bytes) -> Iterator[bytes]:
        # A large part is split a window at a time, lazily: materialising all its
        # lines at once costs more per line as the part grows (memory traffic).
        for start in range(0, len(part), _WINDOW):
            yield from self.feed(part[start : start + _WINDOW])

    def close(self) -> List[bytes]:
        """The unterminated last line, if any (its trailing ``\\r`` removed unless keepends)."""
        if not self._tail:
            return []
        line = b"".join(self._tail)
        self._tail.clear()
        if not self._keepends and line[-1:] == b"\r":
            line = line[:-1]
        return [line]


def lines(parts: Iterable[BytesLike], *, keepends: bool = False) -> Iterator[bytes]:
    """Yield the ``\\n``-terminated lines of a stream delivered in arbitrary chunks.

    ``parts`` is any iterable of bytes-like chunks, for example
    ``fastsmr.payload_parts(response["Body"])``. A line split across chunks is
    yielded once, whole; a trailing ``\\r`` is removed (so CRLF works) unless
    ``keepends`` is true, in which case each line keeps its ``\\n`` (and
    ``\\r``). An unterminated last line is yielded at the end of the stream.
    A part that is not bytes-like raises ``TypeError`` when it is reached
    (after the lines before it); so does a botocore or aiobotocore event
    stream passed as ``parts``, at once (unwrap it with
    ``fastsmr.payload_parts``).

    >>> list(fastsmr.lines([b'{"a": 1}\\r\\n{"b"', b': 2}\\n', b"tail"]))
    [b'{"a": 1}', b'{"b": 2}', b'tail']
    """
    check_parts(parts, "lines")
    in_c = getattr(backend.impl, "iter_lines", None)  # looked up per call: tests switch backends
    if in_c is not None:
        return in_c(parts, keepends, part_bytes)
    splitter = LineSplitter(keepends)
    # map() and chain() run the per-part and per-line loops in C; only feed()
    # is Python code, once per part.
    return chain(chain.from_iterable(map(splitter.feed, parts)), _last_line(splitter))


def _last_line(splitter: LineSplitter) -> Iterator[bytes]:
    yield from splitter.close()  # runs only once every part has been fed

"""The text of a stream the reader reads: Server-Sent Events of what ``text_stream`` yields.

The C multiplexer makes the text of the usual token events itself
(csrc/text.c) and hands the rest of a stream over where it meets anything
else (an error object, ``[DONE]``, an unusual field such as a reasoning
model's thinking, invalid UTF-8): from
that point a ``TextDecoder`` of the tokens layer reads the stream, so that
texts and errors are those of ``fastsmr.text_stream`` for the same bytes.
The pure-Python backend's streams are read by a ``TextDecoder`` from their
first byte.

The handover happens at the start of an event or line (for raw text, of a
part), after at least one text was given, or at the stream's start. A fresh
decoder is first fed framing of the same length as what the multiplexer
read — blank lines, a comment, or (JSON lines read as ``"auto"``) an object
that carries no text — so that it reads on as if it had read those bytes
itself: the byte offsets its errors give, and the format ``"auto"``
decided, are those of the whole stream.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, List, Optional, Tuple

from ..tokens.text import Format, Reasoning, TextDecoder

__all__ = ["sse_text", "resume"]

_PIECE = 1 << 16
# What a decoder reading the "auto" format takes for JSON lines, and for no
# text: an OpenAI usage chunk (no choices).
_NO_TEXT_LINE = b'{"choices":[]}'


def sse_text(text: str) -> bytes:
    """One Server-Sent Event carrying ``text``: ``data: {"text": ...}`` and a blank line.

    The text travels as a JSON string, so that any character (line breaks
    included) reaches the browser unchanged: ``JSON.parse(event.data).text``.

    >>> sse_text(" héllo\\n")
    b'data: {"text":" h\\xc3\\xa9llo\\\\n"}\\n\\n'
    """
    return b"data: " + json.dumps({"text": text}, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def _stand_in(format: Format, framing: Optional[str], offset: int) -> Tuple[Format, bytes, int, bytes, bytes]:
    """The decoder's format, and one line of framing exactly ``offset`` bytes
    long, as (format, head, count, filler, tail): head, count filler bytes, tail."""
    if offset == 0:  # the stream's start: a fresh decoder reads it as the original did
        return format, b"", 0, b"", b""
    if format == "raw" or framing == "text":  # raw text has no offsets, and "auto" decided on raw text
        return "raw", b"", 0, b"", b""
    if format == "lmi":  # a line of spaces is a blank line
        return format, b"", offset - 1, b" ", b"\n"
    if format != "auto":  # Server-Sent Events: a comment and a blank line
        return (format, b"", 0, b"", b"\n" * offset) if offset <= 2 else (format, b"", offset - 2, b":", b"\n\n")
    if framing == "jsonl":  # it must still read as JSON lines: an object with no text
        return format, _NO_TEXT_LINE, offset - len(_NO_TEXT_LINE) - 1, b" ", b"\n"
    return format, b":", offset - 3, b" ", b"\n\n"  # "auto" decides on Server-Sent Events at a comment's ":"


def resume(format: Format, handover: Tuple[int, Optional[str], List[bytes]],
           reasoning: Reasoning = "raise") -> Tuple[TextDecoder, Iterable[str]]:
    """A ``TextDecoder`` that reads on from the handover, and the texts of the handover's pieces.

    ``handover`` is ``(offset, framing, pieces)`` as the multiplexer reports
    it; the decoder is then fed the stream's parts after them, and closed at
    its end. ``reasoning`` is the stream's (as in ``text_stream``): the fast
    path hands over at any delta whose reasoning field holds a text, so
    from there on the decoder decides what becomes of it.
    """
    offset, framing, pieces = handover
    kind, head, count, filler, tail = _stand_in(format, framing, offset)
    if count < 0:  # a handover comes at the start, or after a text (longer than any such line)
        raise AssertionError(f"no framing of {offset} bytes stands for what the multiplexer read")
    decoder = TextDecoder(kind, reasoning=reasoning, offset=offset if kind == "raw" else 0)  # raw: no framing
    if offset and kind != "raw":
        _expect_nothing(decoder.feed(head))
        block = filler * min(count, _PIECE)
        while count:
            size = min(count, _PIECE)
            _expect_nothing(decoder.feed(block if size == len(block) else block[:size]))
            count -= size
        _expect_nothing(decoder.feed(tail))
    texts: List[Iterable[str]] = [decoder.feed(piece) for piece in pieces[:1]]
    return decoder, _chain_feeds(decoder, texts, pieces[1:])


def _chain_feeds(decoder: TextDecoder, texts: List[Iterable[str]], rest: List[bytes]) -> Iterable[str]:
    for item in texts:
        yield from item
    for piece in rest:
        yield from decoder.feed(piece)


def _expect_nothing(texts: Iterable[Any]) -> None:
    for text in texts:
        raise AssertionError(f"framing fed to stand for bytes already read gave the text {text!r}")

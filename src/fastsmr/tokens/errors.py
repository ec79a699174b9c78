"""The errors of the text helpers: content that fits its format in no way,
and errors that the model server wrote into its own output."""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["ModelServerError", "TextStreamError"]

_SHOWN = 80  # bytes of the offending content a message quotes


class TextStreamError(ValueError):
    """The stream holds bytes that its format gives no meaning to.

    Raised by :func:`fastsmr.text_stream` (and :func:`fastsmr.sse_events`)
    for content that is neither text, nor framing the format defines, nor an
    error the server reported. Attributes: ``format`` (the format read, e.g.
    ``"tgi"``, ``"auto"``, ``"sse"``), ``offset`` (byte offset in the stream
    where the offending line or event starts), ``line`` (its bytes: the line,
    or the event's data), ``problem`` (what is wrong, in words).

    >>> str(TextStreamError("a line that is no Server-Sent Events field", b"oops", format="tgi", offset=12))
    "tgi stream, byte 12: a line that is no Server-Sent Events field: b'oops'"
    """

    def __init__(
        self, problem: str, line: bytes = b"", *, format: str = "", offset: Optional[int] = None, hint: str = ""
    ) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line
        self.format = format
        self.offset = offset
        self.hint = hint

    def _where(self) -> str:
        where = f"{self.format} stream" if self.format else "stream"
        return where if self.offset is None else f"{where}, byte {self.offset}"

    def __str__(self) -> str:
        shown = repr(self.line[:_SHOWN]) + ("..." if len(self.line) > _SHOWN else "")
        text = f"{self._where()}: {self.problem}: {shown}"
        return f"{text}. {self.hint}" if self.hint else text


class ModelServerError(TextStreamError):
    """The model server reported an error inside its output stream.

    ``message``, ``error_type`` and ``code`` are the fields as the server gave
    them (``message`` may be empty; ``str()`` of the error never is);
    ``finish_reason`` is ``"error"`` when the server ended the generation
    with that finish reason; ``body`` is the decoded error object (or chunk),
    ``line`` its bytes. The texts before it in the stream, and the failing
    chunk's own text, are delivered before it is raised.

    >>> str(ModelServerError("", code=424, format="lmi", offset=120))
    'model server error: the server gave no message (code 424; lmi stream, byte 120)'
    """

    def __init__(
        self,
        message: str,
        *,
        error_type: Optional[str] = None,
        code: Any = None,
        finish_reason: Optional[str] = None,
        body: Any = None,
        line: bytes = b"",
        format: str = "",
        offset: Optional[int] = None,
    ) -> None:
        super().__init__(message or "the server gave no message", line, format=format, offset=offset)
        self.message = message
        self.error_type = error_type
        self.code = code
        self.finish_reason = finish_reason
        self.body = body

    def __str__(self) -> str:
        reason = self.message or "the server gave no message"
        if self.finish_reason is not None:
            reason = f"the generation ended with finish_reason {self.finish_reason!r}: {reason}"
        details = [f"type {self.error_type!r}"] if self.error_type else []
        if self.code is not None and self.code != "":
            details.append(f"code {self.code}")
        details.append(self._where())
        return f"model server error: {reason} ({'; '.join(details)})"

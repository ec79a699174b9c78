"""The errors of the text helpers: content that fits its format in no way,
and errors that the model server wrote into its own output."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

__all__ = ["ModelServerError", "TextDecodeError", "TextStreamError"]

_SHOWN = 80  # bytes of the offending content a message quotes
_SHOWN_MESSAGE = 500  # characters of a server's error message that str() shows


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
        if len(reason) > _SHOWN_MESSAGE:  # the attribute keeps it whole
            reason = f"{reason[:_SHOWN_MESSAGE]}... ({len(reason) - _SHOWN_MESSAGE:,} more characters)"
        if self.finish_reason is not None:
            reason = f"the generation ended with finish_reason {self.finish_reason!r}: {reason}"
        details = [f"type {self.error_type!r}"] if self.error_type else []
        if self.code is not None and self.code != "":
            details.append(f"code {self.code}")
        details.append(self._where())
        return f"model server error: {reason} ({'; '.join(details)})"


class TextDecodeError(TextStreamError, UnicodeDecodeError):
    """Bytes that are not UTF-8 in a stream read with ``errors="strict"``.

    Both a :class:`TextStreamError` and the ``UnicodeDecodeError`` that
    ``bytes.decode`` raises, so either ``except`` clause catches it.
    ``offset`` is the stream offset of the first byte that is not UTF-8 (for
    JSON lines and events, inside their data), ``found`` the bytes that fail
    (a sequence cut short by the end of the stream, or one byte that no
    UTF-8 sequence allows there), ``line`` the JSON line or the event's data
    that holds them (for raw text, ``found`` again);
    ``object``/``start``/``end``/``reason`` are ``UnicodeDecodeError``'s,
    relative to the bytes that were being decoded. The text before the
    failing bytes is delivered before it is raised.

    >>> error = TextDecodeError(b"ab\\xff", 2, 3, "invalid start byte", format="raw", offset=1002)
    >>> error.offset, error.found, isinstance(error, UnicodeDecodeError)
    (1002, b'\\xff', True)
    >>> print(str(error).partition(". ")[0])
    raw stream, byte 1002: not UTF-8 (invalid start byte): b'\\xff'
    """

    def __init__(
        self, data: bytes, start: int, end: int, reason: str, *, line: Optional[bytes] = None, where: str = "",
        format: str = "", offset: Optional[int] = None,
    ) -> None:
        # UnicodeDecodeError's own constructor sets object/start/end/reason;
        # TextStreamError's attributes are set here (its __init__ would pass
        # one argument to UnicodeDecodeError's).
        UnicodeDecodeError.__init__(self, "utf-8", data, start, end, reason)
        self.found = data[start:end]
        self.problem = f"not UTF-8 ({reason}): {self.found!r}{where}"
        self.line = self.found if line is None else line
        self.format = format
        self.offset = offset
        self.hint = (
            'The text before it was delivered; text_stream(..., errors="replace") reads on '
            "past such bytes (U+FFFD in their place)"
        )

    def __reduce__(self) -> Tuple[Any, ...]:  # UnicodeDecodeError's arguments, then the attributes set here
        return (_rebuild_decode_error, (self.object, self.start, self.end, self.reason, self.__dict__))

    def __str__(self) -> str:
        if self.line == self.found:  # nothing more to show than the bytes named
            return f"{self._where()}: {self.problem}. {self.hint}"
        return super().__str__()


def _rebuild_decode_error(data: bytes, start: int, end: int, reason: str, state: Dict[str, Any]) -> TextDecodeError:
    error = TextDecodeError(data, start, end, reason)
    error.__dict__.update(state)
    return error

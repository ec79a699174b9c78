"""The pure-Python twin of csrc/chunked.c: HTTP/1.1 chunked transfer coding.

Byte for byte the C state machine (same leniency, same errors at the same
offsets); a well-formed size line and the CRLF after the data take a fast
path, so that Python runs a handful of steps per chunk.
"""

from __future__ import annotations

import re
from typing import Any, List

from ._buffer_py import byte_view
from .errors import MAX_CHUNK_LINE, ChunkedEncodingError, closed_error

__all__ = ["ChunkedDecoder"]

# The states of csrc/chunked.c, in its order: finish() compares against them.
(
    _SIZE_START, _SIZE, _SIZE_AFTER, _EXTENSION, _SIZE_LF, _DATA, _DATA_END, _DATA_LF,
    _TRAILER_START, _TRAILER, _TRAILER_LF, _DONE,
) = range(12)

# A size line that cannot overflow nor be too long: the common case.
_PLAIN_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,15})\r?\n")
_HEX = {c: int(chr(c), 16) for c in b"0123456789abcdefABCDEF"}
_BLANK = (0x20, 0x09)
_CR, _LF = 0x0D, 0x0A


class ChunkedDecoder:
    """Incremental decoder of an HTTP/1.1 body in chunked transfer coding (RFC 9112, section 7.1).

    ``feed(data)`` takes the body's bytes (any bytes-like object) as they come
    off the connection and returns the data of the chunks they hold (bytes,
    empty when they hold none); ``done`` turns true once the last chunk and the
    trailer section are read, and ``unused`` then counts the bytes fed past
    them. ``close()`` says the connection ended the body: it raises
    ``ChunkedEncodingError`` unless the last chunk was read. Bytes that are not
    chunked coding raise ``ChunkedEncodingError`` with the ``offset`` and the
    ``problem``; the data before them is returned first and the error raised by
    the next call.

    >>> from fastsmr.codec import ChunkedDecoder
    >>> d = ChunkedDecoder()
    >>> d.feed(b"5\\r\\nhel"), d.feed(b"lo\\r\\n0\\r\\n\\r\\n"), d.done, d.offset
    (b'hel', b'lo', True, 15)
    """

    __slots__ = ("_state", "_offset", "_left", "_line", "_error", "_closed", "unused")

    def __init__(self) -> None:
        self._state = _SIZE_START
        self._offset = 0
        self._left = 0  # the size being read, then the data bytes left
        self._line = 0  # bytes of the size line, or of the trailer section
        self._error: Any = None
        self._closed = False  # close() was called: feed() refuses
        #: Bytes (int) fed after the end of the body.
        self.unused = 0

    @property
    def done(self) -> bool:
        """True once the last chunk and the trailer section have been read."""
        return self._state == _DONE

    @property
    def offset(self) -> int:
        """Transfer-coded bytes (int) of the body read so far, chunk-size lines included."""
        return self._offset

    def feed(self, data: Any) -> bytes:
        """The chunk data in ``data`` (any bytes-like object), the next bytes of the body: bytes.

        Data that came before bad bytes is returned; the ``ChunkedEncodingError``
        is raised by the next call. ``data`` that is not bytes-like raises
        ``TypeError``, a buffer whose bytes are not contiguous ``BufferError``.
        """
        view = byte_view(data)
        if self._error is not None:
            raise self._error.with_traceback(None)
        if self._closed:
            raise closed_error("ChunkedDecoder", "feed")
        size = len(view)
        if self._state == _DONE:
            self.unused += size
            return b""
        out: List[Any] = []
        try:
            pos = self._run(view, size, out)
        except ChunkedEncodingError as error:
            self._error = error
            self._offset = error.offset  # the offending byte is not consumed
            if not out:
                raise
            return b"".join(out)
        self._offset += pos
        if self._state == _DONE:
            self.unused = size - pos
        return out[0].tobytes() if len(out) == 1 else b"".join(out)

    def _run(self, view: memoryview, size: int, out: List[Any]) -> int:
        state, left, pos = self._state, self._left, 0
        try:
            while pos < size and state != _DONE:
                if state == _DATA:
                    take = min(size - pos, left)
                    out.append(view[pos:pos + take])
                    pos += take
                    left -= take
                    if not left:
                        state = _DATA_END
                    continue
                if state == _DATA_END and pos + 1 < size and view[pos] == _CR and view[pos + 1] == _LF:
                    pos += 2
                    state, self._line = _SIZE_START, 0
                    continue
                if state == _SIZE_START and not self._line:
                    plain = _PLAIN_SIZE_LINE.match(view, pos)
                    if plain is not None:
                        left = int(plain[1], 16)
                        pos = plain.end()
                        state = _DATA if left else _TRAILER_START
                        continue
                self._state, self._left = state, left
                self._step(view[pos], self._offset + pos)
                state, left = self._state, self._left
                pos += 1
        finally:
            self._state, self._left = state, left
        return pos

    def _step(self, c: int, at: int) -> None:
        """One byte outside chunk data, as csrc/chunked.c takes it."""
        state = self._state
        if state not in (_DATA_END, _DATA_LF):
            self._line += 1
            if self._line > MAX_CHUNK_LINE:
                raise ChunkedEncodingError("line_length", at, self._line)
        if state in (_SIZE_START, _SIZE):
            digit = _HEX.get(c)
            if digit is not None:
                if self._left >> 60:
                    raise ChunkedEncodingError("size_overflow", at)
                self._left = self._left << 4 | digit
                self._state = _SIZE
                return
            if c in _BLANK:
                if state == _SIZE:
                    self._state = _SIZE_AFTER
                return
            if state == _SIZE_START:
                raise ChunkedEncodingError("size", at, c)
            state = _SIZE_AFTER  # the size is complete
        if state == _SIZE_AFTER:
            if c in _BLANK:
                self._state = _SIZE_AFTER
            elif c == 0x3B:  # ';'
                self._state = _EXTENSION
            elif c == _CR:
                self._state = _SIZE_LF
            elif c == _LF:
                self._size_line_done()
            else:
                raise ChunkedEncodingError("size_line", at, c)
        elif state == _EXTENSION:
            if c == _CR:
                self._state = _SIZE_LF
            elif c == _LF:
                self._size_line_done()
        elif state == _SIZE_LF:
            if c != _LF:
                raise ChunkedEncodingError("line_end", at, c)
            self._size_line_done()
        elif state == _DATA_END:
            if c != _CR:
                raise ChunkedEncodingError("data_end", at, c)
            self._state = _DATA_LF
        elif state == _DATA_LF:
            if c != _LF:
                raise ChunkedEncodingError("line_end", at, c)
            self._state, self._line = _SIZE_START, 0
        elif state == _TRAILER_START:
            self._state = _TRAILER_LF if c == _CR else _DONE if c == _LF else _TRAILER
        elif state == _TRAILER:
            if c == _LF:
                self._state = _TRAILER_START
        elif state == _TRAILER_LF:
            if c != _LF:
                raise ChunkedEncodingError("line_end", at, c)
            self._state = _DONE

    def _size_line_done(self) -> None:
        self._state = _DATA if self._left else _TRAILER_START
        self._line = 0

    def close(self) -> None:
        """The body has ended: raises ``ChunkedEncodingError`` unless its last chunk was read.

        Every later call raises the error this one raised; if it raised none,
        ``feed`` raises ``ValueError``, as a closed file does, and ``close``
        returns None again.
        """
        self._closed = True
        if self._error is not None:
            raise self._error.with_traceback(None)
        if self._state >= _TRAILER_START:
            return
        if self._state == _DATA:
            self._error = ChunkedEncodingError("data_left", self._offset, self._left)
        else:
            self._error = ChunkedEncodingError("no_last_chunk", self._offset)
        raise self._error

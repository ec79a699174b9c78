"""The text a person would see, token by token, from an LLM container's stream.

Formats (``format=``):

* ``"tgi"`` — Hugging Face Text Generation Inference (and LMI with its SSE or
  TGI-compatible output): Server-Sent Events whose data is
  ``{"token": {"id", "text", "logprob", "special"}, "generated_text", "details"}``.
  Special tokens are skipped; the final ``generated_text`` is not repeated.
* ``"lmi"`` — LMI / DJL Serving JSON lines: ``{"token": {"id", "text", "log_prob"}}``
  per line (also the older ``{"outputs": ["..."]}`` lines).
* ``"openai"`` — OpenAI-compatible chat and completion chunks (vLLM, SGLang,
  TGI's and LMI's OpenAI schema): ``data: {"choices": [{"delta": {"content": ...}}]}``
  or ``choices[].text``, ending at ``data: [DONE]``.
* ``"raw"`` — raw bytes decoded as UTF-8.
* ``"auto"`` (default) — decided from the first bytes that are not
  whitespace: an SSE field (``data:``, ``event:``, ``id:``, ``retry:``, or a
  ``:`` comment) means Server-Sent Events, ``{`` means JSON lines, anything
  else raw text; SSE and JSON-lines objects of any of the schemas above are
  then understood. Pass the format explicitly for raw text that may begin
  with ``{`` or ``data:``.
"""

from __future__ import annotations

import codecs
import json
from itertools import chain
from json.scanner import make_scanner
from typing import Any, Callable, Iterable, Iterator, List, Optional

from .lines import BytesLike, LineSplitter
from .sse import SSEParser

_scan_once = make_scanner(json.JSONDecoder())


def _std_loads(data: bytes) -> Any:
    """The standard library's JSON parser, minus ``json.loads``' per-call
    overhead (encoding detection, regexes), which costs as much as the
    parsing for token-sized objects. Anything unusual (surrounding
    whitespace, invalid input) raises ValueError and is left to the slow path."""
    text = data.decode()
    try:
        obj, end = _scan_once(text, 0)
    except StopIteration:
        raise ValueError("not a JSON value") from None
    if end != len(text):
        raise ValueError("data after the JSON value")
    return obj


try:  # a faster parser when the user has it; never required
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - depends on the environment
    _fast_loads = None

__all__ = ["FORMATS", "ModelServerError", "TextStreamError", "TextDecoder", "text_stream"]

FORMATS = ("auto", "tgi", "lmi", "openai", "raw")

# Both raise ValueError (UnicodeDecodeError and orjson's error are ValueErrors).
_loads: Callable[[bytes], Any] = _fast_loads or _std_loads
_SSE_FIELDS = (b"data:", b"event:", b"id:", b"retry:", b":")
_BOM = b"\xef\xbb\xbf"
_BLANK = object()  # what the slow parser returns for whitespace-only data


class TextStreamError(ValueError):
    """The stream's content is not what ``text_stream``'s format expects.

    ``line`` holds the offending bytes (an SSE event's data or a JSON line).
    """

    def __init__(self, message: str, line: bytes = b"") -> None:
        super().__init__(message)
        self.line = line


class ModelServerError(TextStreamError):
    """The model server wrote an error into its output stream.

    ``message`` is the server's own message, ``error_type`` and ``code`` its
    classification where it gave one (TGI's ``error_type``; the OpenAI
    schema's ``type`` and ``code``), and ``body`` the decoded error object.
    """

    def __init__(
        self,
        message: str,
        *,
        error_type: Optional[str] = None,
        code: Any = None,
        body: Any = None,
        line: bytes = b"",
    ) -> None:
        described = f"model server error: {message}"
        if error_type:
            described += f" ({error_type})"
        super().__init__(described, line)
        self.message = message
        self.error_type = error_type
        self.code = code
        self.body = body


def _server_error(body: Any, line: bytes) -> ModelServerError:
    """The exception for an error object, whichever server's shape it has."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):  # OpenAI schema: {"error": {"message", "type", "code"}}
            return ModelServerError(
                str(error.get("message", error)),
                error_type=error.get("type") or body.get("error_type"),
                code=error.get("code", error.get("http_status_code", body.get("code"))),
                body=body,
                line=line,
            )
        # TGI: {"error": "...", "error_type": "..."}; LMI: {"error": "...", "code": 424}
        return ModelServerError(
            str(error),
            error_type=body.get("error_type") or body.get("type"),
            code=body.get("code"),
            body=body,
            line=line,
        )
    return ModelServerError(str(body), body=body, line=line)


def _unrecognised(obj: Any, line: bytes, expected: str) -> TextStreamError:
    shape = f"object with keys {sorted(obj)[:8]}" if isinstance(obj, dict) else type(obj).__name__
    return TextStreamError(f"expected {expected}, got a JSON {shape}: {line[:200]!r}", line)


def _is_error(obj: dict) -> bool:
    return obj.get("error") is not None or obj.get("object") == "error"


def _token_text(obj: Any, line: bytes) -> Optional[str]:
    """TGI / LMI token objects (and LMI's older ``outputs`` lines)."""
    if obj.__class__ is dict:
        token = obj.get("token")
        if token.__class__ is dict:
            if obj.get("details"):  # only on the last object: LMI signals a failed generation here
                details = obj["details"]
                if isinstance(details, dict) and details.get("finish_reason") == "error":
                    raise ModelServerError(
                        "generation failed (finish_reason 'error')",
                        error_type="finish_reason",
                        body=obj,
                        line=line,
                    )
            if token.get("special") or token.get("special_token"):
                return None
            text = token.get("text")
            if text.__class__ is str:
                return text
            if text is None:
                return None
        elif _is_error(obj):
            raise _server_error(obj, line)
        else:
            outputs = obj.get("outputs")
            if outputs.__class__ is list and outputs and outputs[0].__class__ is str:
                return outputs[0]
    raise _unrecognised(obj, line, 'a token object ({"token": {"text": ...}})')


def _openai_text(obj: Any, line: bytes) -> Optional[str]:
    """OpenAI-compatible chat (``delta.content``) and completion (``text``) chunks."""
    if obj.__class__ is dict:
        choices = obj.get("choices")
        if choices.__class__ is list:
            for choice in choices:
                # With n > 1 the choices interleave; the first one is the text.
                if choice.__class__ is dict and choice.get("index", 0) == 0:
                    delta = choice.get("delta")
                    text = delta.get("content") if delta.__class__ is dict else choice.get("text")
                    if text.__class__ is str:
                        return text
                    if text is not None:
                        break
                    return None
            else:
                return None  # no first choice in this chunk (a usage-only chunk)
        elif _is_error(obj):
            raise _server_error(obj, line)
    raise _unrecognised(obj, line, 'an OpenAI chunk ({"choices": [...]})')


def _any_text(obj: Any, line: bytes) -> Optional[str]:
    if obj.__class__ is dict and "choices" in obj:
        return _openai_text(obj, line)
    if obj.__class__ is dict and ("token" in obj or "outputs" in obj or _is_error(obj)):
        return _token_text(obj, line)
    raise _unrecognised(obj, line, "a token object or an OpenAI chunk")


# format -> (framing, text of one decoded object)
_SCHEMAS = {"tgi": ("sse", _token_text), "lmi": ("jsonl", _token_text), "openai": ("sse", _openai_text)}


class TextDecoder:
    """Incremental ``text_stream``: ``feed`` returns the texts a chunk completes.

    ``done`` becomes true at an OpenAI ``data: [DONE]``; from then on ``feed``
    ignores its input (the caller may go on feeding it the rest of the stream).
    """

    def __init__(self, format: str = "auto", errors: str = "strict") -> None:
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
        codecs.lookup_error(errors)  # an unknown handler fails here, not mid-stream
        self._errors = errors
        self.done = False
        self._framing = ""  # "sse", "jsonl" or "text" once known
        self._text_of: Callable[[Any, bytes], Optional[str]] = _any_text
        self._held: List[BytesLike] = []  # parts received while "auto" is still deciding
        self._probe = b""  # the stream's first bytes after any BOM and whitespace, for deciding
        self._past_bom = False
        self._sse = SSEParser(raw=True)
        self._lines = LineSplitter()
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors)
        if format == "raw":
            self._framing = "text"
        elif format != "auto":
            self._framing, self._text_of = _SCHEMAS[format]

    def feed(self, part: BytesLike) -> Iterable[str]:
        """The texts that ``part`` completes, in order. Consume them before the
        next feed: when the part holds an error after some texts, the returned
        iterable gives those texts and then raises the error."""
        if self.done:  # after [DONE]: the rest of the stream is read and ignored
            return []
        framing = self._framing
        out: List[str] = []
        try:
            if framing == "sse":
                for event, data in self._sse.feed(part):
                    if event:  # an "event:" field: perhaps "error"
                        text = self._event_text(event, data)
                    else:  # the per-token path, inlined
                        try:
                            obj = _loads(data)
                        except ValueError:  # [DONE], blank data, or JSON needing the slow path
                            text = self._event_text(event, data)
                            if self.done:
                                break
                        else:
                            text = self._text_of(obj, data)
                    if text:
                        out.append(text)
            elif framing == "jsonl":
                for line in self._lines.feed(part):
                    if line:
                        try:
                            obj = _loads(line)
                        except ValueError:  # blank, or JSON needing the slow path
                            text = self._object_text(line)
                        else:
                            text = self._text_of(obj, line)
                        if text:
                            out.append(text)
            elif framing == "text":
                text = self._utf8.decode(part)
                if text:
                    out.append(text)
            else:
                return self._detect(part)
        except Exception as exc:
            if not out:
                raise
            return _then_raise(out, exc)  # the texts before the error are delivered first
        return out

    def close(self) -> Iterable[str]:
        """End of stream: flush what is buffered (a final line or event without
        its terminator, an incomplete UTF-8 sequence under ``errors``). It
        yields at most one text, so an error here hides none."""
        if self.done:
            return []
        texts: List[Optional[str]]
        if not self._framing:  # the stream was too short to tell: it is text
            return self._replay("text", final=True)
        if self._framing == "sse":
            texts = [self._event_text(event, data) for event, data in self._sse.close(flush=True)]
        elif self._framing == "jsonl":
            texts = [self._object_text(line) for line in self._lines.close()]
        else:
            texts = [self._utf8.decode(b"", True)]
        return [text for text in texts if text]

    def _event_text(self, event: str, data: bytes) -> Optional[str]:
        """The text of one SSE event, for everything but the common case."""
        if self.done:
            return None
        if data[:1] == b"[" and data.strip() == b"[DONE]":
            self.done = True
            return None
        if event == "error":  # an error event: its data is an error object or a plain message
            body = data.decode("utf-8", "replace")
            if body.lstrip()[:1] in ("{", '"'):
                try:
                    body = json.loads(body)
                except ValueError:
                    pass
            raise _server_error(body, data)
        return self._object_text(data)

    def _object_text(self, data: bytes) -> Optional[str]:
        """The text of one JSON line or SSE data field."""
        try:
            obj = _loads(data)
        except ValueError as exc:
            obj = self._parse_slowly(data, exc)
            if obj is _BLANK:
                return None
        return self._text_of(obj, data)

    def _parse_slowly(self, line: bytes, exc: ValueError) -> Any:
        """Blank data, invalid UTF-8 (under ``errors``), and JSON that only
        the standard library's full parser accepts (surrounding whitespace,
        NaN, huge integers, lone surrogates)."""
        if not line.strip():
            return _BLANK
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            if self._errors == "strict":
                raise
            text = line.decode("utf-8", self._errors)
        if text[:1] == "\ufeff":  # a BOM opening a JSON-lines stream
            text = text[1:]
        try:
            return json.loads(text)
        except ValueError:
            raise TextStreamError(f"invalid JSON in the stream: {line[:200]!r}: {exc}", line) from exc

    def _detect(self, part: BytesLike) -> Iterable[str]:
        self._held.append(part)
        probe = self._probe + bytes(part)
        if not self._past_bom:  # a BOM may open the stream (and may itself arrive in pieces)
            if len(probe) < 3 and _BOM.startswith(probe):
                self._probe = probe
                return []
            self._past_bom = True
            if probe[:3] == _BOM:
                probe = probe[3:]
        probe = self._probe = probe.lstrip(b" \t\r\n")
        if not probe:
            return []
        if probe[:1] == b"{":
            return self._replay("jsonl")
        for field in _SSE_FIELDS:
            if probe[: len(field)] == field:
                return self._replay("sse")
            if len(probe) < len(field) and field.startswith(probe):
                return []  # could still become this field: wait for more bytes
        return self._replay("text")

    def _replay(self, framing: str, final: bool = False) -> Iterable[str]:
        # Only the last held part can hold texts or errors: the ones before it
        # were whitespace, a BOM or the start of an SSE field name.
        self._framing = framing
        held, self._held = self._held, []
        texts = [self.feed(part) for part in held]
        if final:
            texts.append(self.close())
        return chain.from_iterable(texts)


def _then_raise(texts: List[str], error: Exception) -> Iterator[str]:
    yield from texts
    raise error


def text_stream(parts: Iterable[BytesLike], format: str = "auto", *, errors: str = "strict") -> Iterator[str]:
    """Yield the generated text, token by token, from an LLM container's stream.

    ``parts`` is any iterable of bytes-like chunks cut anywhere (for example
    ``fastsmr.payload_parts(response["Body"])``). ``format`` is ``"auto"``
    (detect from the first bytes), ``"tgi"``, ``"lmi"``, ``"openai"`` or
    ``"raw"`` (see the module documentation for each). Empty texts and
    special tokens are not yielded. Invalid UTF-8 is handled by ``errors``
    as in ``bytes.decode``. An error object written by the server raises
    :class:`ModelServerError` with the server's message; content that does
    not fit the format raises :class:`TextStreamError`. After an OpenAI
    ``data: [DONE]`` the rest of the stream is read and ignored.

    >>> list(fastsmr.text_stream([b'data:{"token":{"text":"Hel","special":false}}\\n\\n',
    ...                           b'data:{"token":{"text":"lo","special":false}}\\n\\n']))
    ['Hel', 'lo']
    """
    decoder = TextDecoder(format, errors)  # bad arguments fail here, not at the first next()
    # map() and chain() run the per-part and per-text loops in C; after
    # [DONE], feed() returns nothing, so the rest of the stream is drained.
    return chain(chain.from_iterable(map(decoder.feed, parts)), _last_texts(decoder))


def _last_texts(decoder: TextDecoder) -> Iterator[str]:
    yield from decoder.close()  # runs only once every part has been fed

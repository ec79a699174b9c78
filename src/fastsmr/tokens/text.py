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
  or ``choices[].text``, ending at ``data: [DONE]`` (whitespace around
  ``[DONE]`` is allowed, as around a JSON value). A delta's other fields, as
  the OpenAI API reference lists them for ``ChatCompletionChunk`` (``role``;
  ``tool_calls``, ``function_call`` and ``refusal``) and as reasoning
  servers add them: ``role`` and empty or null fields are framing (the
  first chunk carries the role alone; SGLang writes every field, null or
  not); ``tool_calls``, ``function_call`` and ``refusal`` raise
  :class:`TextStreamError` naming the field, since they are no text of the
  answer (``fastsmr.sse_events`` and ``json.loads(event.data)`` give the
  chunks whole). A reasoning model's thinking comes in ``reasoning``
  (vLLM's reasoning parsers; docs.vllm.ai, "Reasoning Outputs": the field
  "used to be called ``reasoning_content``") or ``reasoning_content``
  (SGLang's, docs.sglang.io, "Reasoning Parser"), before the answer in
  ``content``: with ``reasoning="raise"`` (the default) it raises
  :class:`TextStreamError` naming the field, ``"skip"`` yields the answer
  alone, ``"include"`` yields the thinking as text too, in stream order
  (one text where a delta carries both names, as vLLM's did while it moved
  from one to the other).
* ``"raw"`` — raw bytes decoded as UTF-8.
* ``"auto"`` (default) — decided from the first bytes that are not
  whitespace: an SSE field (``data:``, ``event:``, ``id:``, ``retry:``, or a
  ``:`` comment) means Server-Sent Events, ``{`` means JSON lines, anything
  else raw text; SSE and JSON-lines objects of any of the schemas above are
  then understood. Pass the format explicitly for raw text that may begin
  with ``{`` or ``data:``.

Every byte of the stream ends up as text, as framing the format defines
(SSE comments, ``event:``/``id:``/``retry:`` fields and blank lines, blank
JSON lines, a byte-order mark at the start, ``data: [DONE]``, special tokens,
the final summary of TGI, LMI and OpenAI usage chunks, metadata fields of the
schema's objects), or in an error: content that fits the format in no such
way raises :class:`TextStreamError` with the format, the byte offset and the
bytes found, and an error that the server wrote into the stream raises
:class:`ModelServerError` after the text before it.

In-band errors, as the servers write them (read in their sources):

* TGI ``generate_stream``: ``data:{"error": "...", "error_type": "generation"}``
  (router/src/server.rs, ``impl From<InferError> for Event``); TGI's OpenAI
  routes: ``data:{"error": {"message": "...", "http_status_code": 422}}``
  (router/src/infer/mod.rs, ``into_openai_event``).
* vLLM and SGLang: ``data: {"error": {"message", "type", "param", "code"}}``
  (older vLLM and SGLang add ``"object": "error"``), then ``data: [DONE]``;
  vLLM turns an engine's ``finish_reason "error"`` into such an object.
* LMI / DJL Serving: a rolling-batch failure makes the frontend write
  ``{"code": 424, "error": "..."}`` with no line end, in place of the last
  chunk (engines/python/.../Request.java, ``addResponse``), in its JSON-lines
  and its SSE output alike; its formatters otherwise end a failed
  generation with a token whose ``details`` (or, in the chat schema, the
  choice) has ``finish_reason: "error"`` (djl_python/output_formatter.py).
* Any OpenAI-compatible chunk whose choice has ``finish_reason: "error"``
  (with the message in a top-level ``error`` object when the server gives one).
"""

from __future__ import annotations

import codecs
import json
import sys
from functools import partial
from itertools import chain
from json.scanner import make_scanner
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Literal, Optional, Tuple, cast

from .errors import ModelServerError, TextDecodeError, TextStreamError
from .lines import BytesLike
from .parts import check_parts, part_bytes
from .sse import NOT_A_FIELD, SSEParser, data_offset, not_a_field

_scan_once = make_scanner(cast(Any, json.JSONDecoder()))  # typeshed types the argument as make_scanner itself


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
    except RecursionError:  # nested deeper than the scanner follows: the slow path says so
        raise ValueError("nested too deeply") from None
    if end != len(text):
        raise ValueError("data after the JSON value")
    return obj


_fast_loads: Optional[Callable[[bytes], Any]]
try:  # a faster parser when the user has it; never required
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - depends on the environment
    _fast_loads = None
else:
    _fast_loads = _orjson_loads

__all__ = [
    "FORMATS", "Format", "REASONING", "Reasoning", "ModelServerError", "TextDecodeError", "TextStreamError",
    "TextDecoder", "text_stream",
]

#: What ``format=`` takes (see the module docstring); anything else raises ValueError.
Format = Literal["auto", "tgi", "lmi", "openai", "raw"]
FORMATS: Tuple[Format, ...] = ("auto", "tgi", "lmi", "openai", "raw")
#: What ``reasoning=`` takes (see ``text_stream``); anything else raises ValueError.
Reasoning = Literal["raise", "skip", "include"]
REASONING: Tuple[Reasoning, ...] = ("raise", "skip", "include")

# Both raise ValueError (UnicodeDecodeError and orjson's error are ValueErrors).
_loads: Callable[[bytes], Any] = _fast_loads or _std_loads
_SSE_FIELDS = (b"data:", b"event:", b"id:", b"retry:", b":")
_BOM = b"\xef\xbb\xbf"
_BLANK = object()  # what the slow parser returns for whitespace-only data
_JSON_SPACE = b" \t\r\n"  # the whitespace JSON allows around a value (RFC 8259, section 2)
_EMPTY: Tuple[Any, ...] = (None, "", [], {})
_NO_LINES: List[bytes] = []  # never changed: TextDecoder.feed's JSON lines before it has any  # delta fields that carry nothing
_LMI_ERROR_KEYS = frozenset(("code", "error", "message"))  # {"code": 424, "error": "..."} from LMI's frontend


class _ChunkFailed(Exception):
    """A chunk that reports a failed generation and still carries text: the
    text is delivered, then ``error`` is raised."""

    def __init__(self, text: str, error: ModelServerError) -> None:
        super().__init__(text)
        self.text = text
        self.error = error


# -- the schemas: the text of one decoded JSON object ----------------------------------


def _first(obj: Dict[str, Any], *keys: str) -> Any:
    """The first of ``keys`` that ``obj`` has a value (not None) for."""
    for key in keys:
        value = obj.get(key)
        if value is not None:
            return value
    return None


class _TooDeep(ValueError):
    """JSON nested deeper than Python's recursion limit lets its parser follow."""


def _json(data: Any) -> Any:
    """``json.loads``, with a ValueError for JSON nested too deeply to parse (not a RecursionError)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise _TooDeep(f"JSON nested too deeply to parse (Python's recursion limit is {sys.getrecursionlimit()})") from None


def _message(value: Any) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    try:
        return json.dumps(value, ensure_ascii=False)
    except RecursionError:  # orjson parses deeper than json.dumps writes
        return f"(a JSON {type(value).__name__} nested too deeply to show)"


def _is_error(obj: Dict[str, Any]) -> bool:
    """Whether a JSON object is an error object, of any server's shape (see _server_error)."""
    return (
        obj.get("error") is not None
        or obj.get("object") == "error"
        or ("code" in obj and obj.keys() <= _LMI_ERROR_KEYS)
    )


def _server_error(body: Any, line: bytes, *, finish_reason: Optional[str] = None) -> ModelServerError:
    """The exception for an error object, whichever server's shape it has."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            # OpenAI-compatible (vLLM, SGLang): {"error": {"message", "type", "param", "code"}};
            # TGI's OpenAI routes: {"error": {"message", "http_status_code"}};
            # LMI's 3p schema: {"error": {"error_msg", "error_code"}}.
            return ModelServerError(
                _message(_first(error, "message", "error_msg")),
                error_type=_first(error, "type", "error_type"),
                code=_first(error, "code", "http_status_code", "error_code"),
                finish_reason=finish_reason,
                body=body,
                line=line,
            )
        # TGI: {"error": "...", "error_type": "..."}; LMI: {"code": 424, "error": "..."};
        # older vLLM and SGLang: {"object": "error", "message", "type", "code"}.
        return ModelServerError(
            _message(error if error is not None else body.get("message")),
            error_type=_first(body, "error_type", "type"),
            code=body.get("code"),
            finish_reason=finish_reason,
            body=body,
            line=line,
        )
    return ModelServerError(_message(body), finish_reason=finish_reason, body=body, line=line)


def _unrecognised(obj: Any, line: bytes, expected: str) -> TextStreamError:
    if isinstance(obj, dict):
        shape = f"object with keys {sorted(obj)[:8]}"
        if "choices" in obj:
            hint = 'OpenAI-compatible chunks are format="openai"'
        elif "token" in obj or "outputs" in obj:
            hint = 'Token objects are format="tgi" (Server-Sent Events) or "lmi" (JSON lines)'
        else:
            hint = ""
    else:
        shape, hint = type(obj).__name__, ""
    return TextStreamError(f"a JSON {shape}, not {expected}", line, hint=hint)


def _token_text(obj: Any, line: bytes) -> Optional[str]:
    """TGI / LMI token objects (and LMI's older ``outputs`` lines)."""
    if obj.__class__ is dict:
        token = obj.get("token")
        if token.__class__ is dict:
            if obj.get("details"):  # only on the last object: LMI reports a failed generation here
                details = obj["details"]
                if details.__class__ is dict and details.get("finish_reason") == "error":
                    special = token.get("special") or token.get("special_token")
                    text = token.get("text")
                    # LMI's jsonlines tokens carry the message; its TGI-compatible ones do not.
                    error = ModelServerError(
                        _message(token.get("error_msg")), finish_reason="error", body=obj, line=line
                    )
                    raise _ChunkFailed("" if special or text.__class__ is not str else text, error)
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
            if outputs.__class__ is list and outputs and all(output.__class__ is str for output in outputs):
                if len(outputs) == 1:
                    only: str = outputs[0]
                    return only
                raise TextStreamError(
                    f"an outputs line of {len(outputs)} sequences; text_stream reads one", line,
                    hint="Send one input per request",
                )
    raise _unrecognised(obj, line, 'a token object ({"token": {"text": ...}})')


def _openai_text(obj: Any, line: bytes, reasoning: str = "raise") -> Optional[str]:
    """OpenAI-compatible chat (``delta.content``) and completion (``text``) chunks;
    ``reasoning`` is what to do with a reasoning model's thinking (see ``text_stream``)."""
    if obj.__class__ is dict:
        choices = obj.get("choices")
        if choices.__class__ is list:
            # The usual chunk: one choice, not the last, its text and nothing else.
            if len(choices) == 1:
                choice = choices[0]
                if choice.__class__ is dict and not choice.get("finish_reason") and choice.get("index", 0) == 0:
                    delta = choice.get("delta")
                    if delta.__class__ is dict:
                        text = delta.get("content")
                        # vLLM writes the content alone, TGI with the role.
                        if text.__class__ is str and (len(delta) == 1 or len(delta) == 2 and "role" in delta):
                            return text
                    elif delta is None:
                        text = choice.get("text")
                        if text.__class__ is str:
                            return text
            return _openai_chunk_text(obj, choices, line, reasoning)
        if _is_error(obj):
            raise _server_error(obj, line)
    raise _unrecognised(obj, line, 'an OpenAI chunk ({"choices": [...]})')


def _openai_chunk_text(obj: Dict[str, Any], choices: List[Any], line: bytes, reasoning: str) -> Optional[str]:
    """Any other OpenAI-compatible chunk, every field accounted for."""
    if not choices:  # a usage chunk, or another summary of the stream
        if _is_error(obj):
            raise _server_error(obj, line)
        return None
    if len(choices) > 1 or choices[0].__class__ is not dict or choices[0].get("index", 0) != 0:
        indexes = [choice.get("index") if choice.__class__ is dict else choice for choice in choices]
        raise TextStreamError(
            f"a chunk of choices {indexes}; text_stream follows one choice (index 0), and the others would be lost",
            line,
            hint="Request one choice (n=1), or read the chunks with fastsmr.sse_events",
        )
    choice = choices[0]
    delta = choice.get("delta")
    thinking: Optional[str] = None
    if delta.__class__ is dict:
        text = delta.get("content")
        for key, value in delta.items():  # SGLang writes every field, null or not
            if value is None or key == "content" or key == "role" or value in _EMPTY:
                continue
            if key in _REASONING_FIELDS and value.__class__ is str and reasoning != "raise":
                if thinking is not None and thinking != value:  # vLLM may send both names: one text
                    raise TextStreamError(
                        "a chunk whose delta carries 'reasoning' and 'reasoning_content' that differ", line,
                        hint=_READ_CHUNKS,
                    )
                thinking = value
                continue
            raise _delta_field(key, line)
    elif delta is not None:
        raise _unrecognised(obj, line, "an OpenAI chunk with a delta object")
    elif "message" in choice:
        raise TextStreamError(
            "a whole chat completion (choices[0].message), not a streamed chunk", line,
            hint="text_stream reads streamed responses (request them with stream: true)",
        )
    else:
        text = choice.get("text")
    if text is not None and text.__class__ is not str:
        raise _unrecognised(obj, line, "an OpenAI chunk with text")
    if thinking is not None and reasoning == "include":  # the thinking comes before the answer
        text = thinking + (text or "")
    finish_reason = choice.get("finish_reason")
    if finish_reason == "error" or obj.get("error") is not None:
        # OpenRouter-style chunks give the message in a top-level "error" object.
        finish_reason = "error" if finish_reason == "error" else None
        if obj.get("error") is not None:
            error = _server_error(obj, line, finish_reason=finish_reason)
        else:
            error = ModelServerError("", finish_reason=finish_reason, body=obj, line=line)
        raise _ChunkFailed(text or "", error)
    return text


_REASONING_FIELDS = ("reasoning", "reasoning_content")
_READ_CHUNKS = "fastsmr.sse_events gives each chunk whole: json.loads(event.data)"
# What each delta field other than content and role is, by the OpenAI API
# reference (ChatCompletionChunk.choices[].delta) and vLLM's and SGLang's
# reasoning-parser documentation.
_DELTA_FIELDS = {
    "reasoning": "a reasoning model's thinking (vLLM's reasoning parsers)",
    "reasoning_content": "a reasoning model's thinking (SGLang's reasoning parsers, and older vLLM releases)",
    "tool_calls": "the tools the model calls (structured data, not text)",
    "function_call": "the function the model calls (OpenAI's older form of tool_calls)",
    "refusal": "the model's refusal, in place of an answer",
}


def _delta_field(key: str, line: bytes) -> TextStreamError:
    """The error for a delta field that ``text_stream`` does not make text of."""
    what = _DELTA_FIELDS.get(key)
    problem = f"a chunk whose delta carries {key!r}" + (f", {what}" if what else "")
    if key in _REASONING_FIELDS:
        hint = ('text_stream(..., reasoning="skip") yields the answer (delta.content) alone, reasoning="include" '
                f"the thinking too (fastsmr invoke --reasoning skip|include); {_READ_CHUNKS}")
    else:
        hint = f"text_stream yields the answer's text (delta.content) only; {_READ_CHUNKS}"
    return TextStreamError(problem, line, hint=hint)


def _any_text(obj: Any, line: bytes, reasoning: str = "raise") -> Optional[str]:
    if obj.__class__ is dict:
        if "choices" in obj:
            return _openai_text(obj, line, reasoning)
        if "token" in obj or "outputs" in obj or _is_error(obj):
            return _token_text(obj, line)
    raise _unrecognised(obj, line, "a token object or an OpenAI chunk")


# format -> (framing, text of one decoded object)
_SCHEMAS = {"tgi": ("sse", _token_text), "lmi": ("jsonl", _token_text), "openai": ("sse", _openai_text)}


class TextDecoder:
    """Incremental ``text_stream``: ``feed`` returns the texts a chunk completes.

    ``done`` becomes true at an OpenAI ``data: [DONE]``; from then on
    ``feed`` reads its input only to check that it is framing (the caller
    may feed it the rest of the stream; anything else raises). ``offset``
    is the stream offset of the first byte it is fed, for a decoder that
    takes over a stream in its middle (the offsets its errors give are then
    the whole stream's).
    """

    def __init__(
        self, format: Format = "auto", errors: str = "strict", reasoning: Reasoning = "raise", *, offset: int = 0
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
        if reasoning not in REASONING:
            raise ValueError(f"unknown reasoning {reasoning!r}; expected one of {', '.join(REASONING)}")
        codecs.lookup_error(errors)  # an unknown handler fails here, not mid-stream
        self._format = format
        self._errors = errors
        self.done = False
        self._framing = ""  # "sse", "jsonl" or "text" once known; "done" after [DONE]
        self._text_of: Callable[[Any, bytes], Optional[str]] = _any_text
        self._held: List[bytes] = []  # parts received while "auto" is still deciding
        self._probe = b""  # the stream's first bytes after any BOM and whitespace, for deciding
        self._past_bom = False
        self._sse = SSEParser(raw=True, format=format)
        # JSON lines are split here rather than by LineSplitter: an error
        # names the line's offset, which needs the raw lengths of the lines.
        self._fed = offset  # bytes of the stream before the current part (JSON lines, raw text)
        self._sse._fed = offset
        # The bytes of the event the SSE parser holds, from its first line (at
        # stream offset _event_at), to name the offset of a byte of its data.
        self._event: List[bytes] = []
        self._event_at = 0
        self._tail: List[bytes] = []  # pieces of the JSON line still being received
        self._tail_len = 0
        self._started = False  # a line is complete: a BOM is no longer possible
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors)
        if format == "raw":
            self._framing = "text"
        elif format != "auto":
            self._framing, self._text_of = _SCHEMAS[format]
        if reasoning != "raise" and self._text_of in (_openai_text, _any_text):
            self._text_of = partial(self._text_of, reasoning=reasoning)

    def feed(self, part: BytesLike) -> Iterable[str]:
        """The texts that ``part`` completes, in order. Consume them before the
        next feed: when the part holds an error after some texts, the returned
        iterable gives those texts and then raises the error."""
        framing = self._framing
        out: List[str] = []
        offset = None  # of the event or line being read, for errors
        found, line, start = _NO_LINES, b"", 0  # the JSON lines read, for the offset of an error in one
        if part.__class__ is not bytes:
            part = part_bytes(part)
        if TYPE_CHECKING:  # the check above, which pyright does not follow
            assert isinstance(part, bytes)
        try:
            if framing == "sse":
                sse = self._sse
                events = sse.feed(part)
                for event, data, offset in events:
                    if event:  # an "event:" field (perhaps "error"), or a line that is no field
                        text = self._event_text(event, data, offset)
                        if self.done:  # a named event's [DONE] ends the text as a plain one does
                            done = cast(List[Any], events)  # the raw parser's events are a list
                            self._after_done(done[done.index((event, data, offset)) + 1 :])
                            break
                    else:  # the per-token path, inlined
                        try:
                            obj = _loads(data)
                        except ValueError:  # [DONE], blank data, or JSON needing the slow path
                            text = self._event_text(event, data, offset)
                            if self.done:
                                done = cast(List[Any], events)  # the raw parser's events are a list
                                self._after_done(done[done.index((event, data, offset)) + 1 :])
                                break
                        else:
                            text = self._text_of(obj, data)
                    if text:
                        out.append(text)
                if sse._block is not None:  # None: no event is open (the usual token part)
                    self._hold_event(part)
            elif framing == "jsonl":
                fed = self._fed
                self._fed = fed + len(part)
                found = part.split(b"\n")
                rest = found.pop()
                tail = self._tail
                if not found:
                    if rest:
                        tail.append(rest)
                        self._tail_len += len(rest)
                    return out
                start = fed - self._tail_len  # where the first of the lines begins
                if tail:
                    tail.append(found[0])
                    found[0] = b"".join(tail)
                    tail.clear()
                self._tail_len = len(rest)
                if rest:
                    tail.append(rest)
                if not self._started:
                    self._started = True
                    if found[0][:3] == _BOM:
                        found[0] = found[0][3:]
                        start += 3
                for line in found:
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
                self._fed += len(part)
                text = self._utf8.decode(part)
                if text:
                    out.append(text)
            elif framing == "done":
                self._after_done(self._sse.feed(part))
            else:
                return self._detect(part)
        except Exception as exc:
            if framing == "jsonl":
                offset = _line_offset(found, line, start)
            elif framing == "text" and isinstance(exc, UnicodeDecodeError):
                exc = self._not_utf8(exc, out)
            if isinstance(exc, TextDecodeError):
                self._locate(exc, offset, part)
            return self._fail(out, exc, offset)
        return out

    def close(self) -> Iterable[str]:
        """End of stream: flush what is buffered (a final line or event without
        its terminator, an incomplete UTF-8 sequence under ``errors``); the
        texts, then the error if the rest is not what the format allows."""
        framing = self._framing
        if not framing:  # the stream was too short to tell: it is text
            return self._replay("text", final=True)
        out: List[str] = []
        offset = None
        try:
            if framing == "done":
                self._after_done(self._sse.close())
            elif framing == "sse":
                events = self._sse.close()
                for event, data, offset in events:
                    text = self._event_text(event, data, offset)
                    if self.done:
                        done = cast(List[Any], events)  # the raw parser's events are a list
                        self._after_done(done[done.index((event, data, offset)) + 1 :])
                        break
                    if text:
                        out.append(text)
            elif framing == "jsonl":
                if self._tail:
                    line = b"".join(self._tail)
                    offset = self._fed - self._tail_len
                    self._tail.clear()
                    self._tail_len = 0
                    if not self._started and line[:3] == _BOM:
                        line = line[3:]
                        offset += 3
                    self._started = True
                    text = self._object_text(line)
                    if text:
                        out.append(text)
            else:
                text = self._utf8.decode(b"", True)
                if text:
                    out.append(text)
        except Exception as exc:
            if framing == "text" and isinstance(exc, UnicodeDecodeError):
                exc = self._not_utf8(exc, out)
            if isinstance(exc, TextDecodeError):
                self._locate(exc, offset, b"\n\n")  # what the SSE parser's close() fed
            return self._fail(out, exc, offset)
        return out

    def _hold_event(self, part: bytes) -> None:
        """Keep the bytes of the event the SSE parser holds open after ``part``, if any."""
        sse = self._sse
        block = sse._block
        fed = sse._fed
        if block is None or block >= fed:
            self._event = []
        elif self._event and block < fed - len(part):  # the same event, begun in an earlier part
            self._event.append(part)
        else:
            self._event = [part[block - fed :]]
            self._event_at = block

    def _not_utf8(self, exc: UnicodeDecodeError, out: List[str]) -> TextDecodeError:
        """Raw text: the text before the bytes that are not UTF-8 goes to ``out``; the error names them."""
        data = exc.object
        # The bytes decoded are those the decoder held (the start of a character
        # cut by the last part's end) and this part: they end at _fed.
        out.append(data[: exc.start].decode("utf-8"))
        # Named "raw" whether or not "auto" decided it: what failed is the same (and
        # a decoder that takes over a stream "auto" read as raw text reads it as "raw").
        return TextDecodeError(
            data, exc.start, exc.end, exc.reason, format="raw", offset=self._fed - len(data) + exc.start
        )

    def _locate(self, exc: TextDecodeError, offset: Optional[int], part: bytes) -> None:
        """The stream offset of the bytes that are not UTF-8 in a JSON line or
        an event's data (``offset``: where it starts; ``part``: the part being fed)."""
        if exc.offset is not None or offset is None:
            return
        if self._framing == "jsonl":
            exc.offset = offset + exc.start
            exc.problem += f" in the line at byte {offset}"
            return
        # Server-Sent Events: the data is the event's data: values, whose bytes
        # are found in the event's own (held from earlier parts, and this part).
        base = self._sse._fed - len(part)
        held = b"".join(self._event)
        if not (held and self._event_at + len(held) == base and self._event_at <= offset):
            held = b""  # no event held open up to this part: it starts in this part
        at = base - len(held)
        if offset < at:
            return  # never: the event's bytes are held from its first line
        event = (held + part)[offset - at :]
        bom = offset == 0 and event[:3] == _BOM
        found = data_offset(event[3:] if bom else event, exc.start)
        if found is not None:
            exc.offset = offset + (3 if bom else 0) + found
            exc.problem += f" in the data of the event at byte {offset}"

    def _fail(self, out: List[str], exc: Exception, offset: Optional[int]) -> Iterable[str]:
        """Deliver ``out`` (and a failing chunk's own text), then raise ``exc``
        with the stream's format and the offset of what failed."""
        if isinstance(exc, _ChunkFailed):  # it has no subclasses
            if exc.text:
                out.append(exc.text)
            exc = exc.error
        if isinstance(exc, TextStreamError):
            if not exc.format:
                exc.format = self._format
            if exc.offset is None:
                exc.offset = offset
            if self._format == "auto" and not exc.hint and not isinstance(exc, ModelServerError):
                exc.hint = (
                    f"Format \"auto\" read the stream as {_FRAMINGS[self._framing]} from its first bytes; "
                    "pass the format if it is another"
                )
        if not out:
            raise exc from None
        return _then_raise(out, exc)  # the texts before the error are delivered first

    def _event_text(self, event: Any, data: bytes, offset: int) -> Optional[str]:
        """The text of one SSE event, for everything but the common case."""
        if event is NOT_A_FIELD or event == "error":  # its data is an error object or a plain message
            raise self._event_error(event, data, offset)
        if data.strip(_JSON_SPACE) == b"[DONE]":  # whitespace around it, as around a JSON value
            self.done = True
            self._framing = "done"
            return None
        return self._object_text(data)

    def _after_done(self, events: Iterable[Any]) -> None:
        """What may follow ``data: [DONE]``: framing only (blank events, [DONE] again)."""
        for event, data, offset in events:
            if event is NOT_A_FIELD or event == "error":
                error = self._event_error(event, data, offset)
            else:
                stripped = data.strip(_JSON_SPACE)
                if not stripped or stripped == b"[DONE]":
                    continue
                try:
                    obj = _json(data)
                except ValueError:
                    obj = None
                if isinstance(obj, dict) and _is_error(obj):
                    error = _server_error(obj, data)
                else:
                    error = TextStreamError("an event after data: [DONE]", data)
            error.offset = offset
            raise error

    def _event_error(self, event: Any, data: bytes, offset: int) -> TextStreamError:
        """The error that an error event, or a line that is no field, raises."""
        if event is NOT_A_FIELD:
            return self._not_sse(data, offset)
        body = data.decode("utf-8", "replace")
        if body.lstrip()[:1] in ("{", '"'):
            try:
                body = _json(body)
            except ValueError:
                pass
        return _server_error(body, data)

    def _not_sse(self, line: bytes, offset: int) -> TextStreamError:
        """The error for a line of an SSE stream that is no field: an error
        object that the server wrote without ``data:`` (LMI's frontend does),
        or content in another format."""
        if line[:1] == b"{":
            try:
                obj = _json(line)
            except ValueError:
                obj = None
            if isinstance(obj, dict) and _is_error(obj):
                server_error = _server_error(obj, line)
                server_error.offset = offset
                return server_error
        error = not_a_field(line, self._format, offset)
        if line[:1] == b"{" and self._format != "auto":
            error.hint = 'The stream looks like JSON lines: format="lmi" (or "auto") reads them'
        return error

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
        if not line.strip(_JSON_SPACE):
            return _BLANK
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as bad:
            if self._errors == "strict":  # its offset in the stream is found by the caller
                raise TextDecodeError(line, bad.start, bad.end, bad.reason, line=line) from None
            text = line.decode("utf-8", self._errors)
        try:
            return _json(text)
        except _TooDeep as deep:
            what = "an event whose data is" if self._framing == "sse" else "a line of"
            raise TextStreamError(f"{what} {deep}", line) from None
        except ValueError as slow:
            exc = slow
            what = "an event whose data is not JSON" if self._framing == "sse" else "a line that is not JSON"
            hint = ""
            if self._format == "lmi" and line.lstrip()[:1] in (b"d", b"e", b"i", b"r", b":"):
                hint = 'The stream looks like Server-Sent Events: format="tgi", "openai" or "auto" reads them'
            raise TextStreamError(f"{what} ({exc})", line, hint=hint) from None

    def _detect(self, part: bytes) -> Iterable[str]:
        self._held.append(part)
        probe = self._probe + part
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


_FRAMINGS = {"sse": "Server-Sent Events", "done": "Server-Sent Events", "jsonl": "JSON lines", "text": "raw text"}


def _line_offset(lines: List[bytes], line: bytes, start: int) -> int:
    """The stream offset of ``line``, one of ``lines`` (split on LF), the first of which begins at ``start``."""
    for i, candidate in enumerate(lines):
        # Identity finds the line itself; an equal line before it (empty and
        # one-byte lines are shared objects) would have failed first.
        if candidate is line:
            return start + sum(len(before) + 1 for before in lines[:i])
    return start


def _then_raise(texts: List[str], error: Exception) -> Iterator[str]:
    yield from texts
    raise error


def text_stream(
    parts: Iterable[BytesLike], format: Format = "auto", *, errors: str = "strict", reasoning: Reasoning = "raise"
) -> Iterator[str]:
    """Yield the generated text, token by token, from an LLM container's stream.

    ``parts`` is any iterable of bytes-like chunks cut anywhere (for example
    ``fastsmr.payload_parts(response["Body"])``; passing ``response["Body"]``
    itself raises ``TypeError`` saying so). ``format`` is ``"auto"`` (detect
    from the first bytes), ``"tgi"``, ``"lmi"``, ``"openai"`` or ``"raw"``
    (see the module documentation for each). Empty texts and special tokens
    are not yielded. Bytes that are not UTF-8 are handled by ``errors`` as in
    ``bytes.decode``; under ``"strict"`` they raise :class:`TextDecodeError`
    (a ``TextStreamError`` and a ``UnicodeDecodeError``) naming their stream
    offset, after the text before them. ``reasoning`` says what becomes of a
    reasoning model's thinking in OpenAI-compatible chunks (see the module
    documentation): ``"raise"`` (:class:`TextStreamError` naming the field),
    ``"skip"`` or ``"include"``. An error the server wrote into the stream raises
    :class:`ModelServerError` (its message, type and code) after the text
    before it; content that fits the format in no way raises
    :class:`TextStreamError` naming the format, the byte offset and the bytes
    found. After an OpenAI ``data: [DONE]`` the rest of the stream is read
    and must be framing only.

    >>> list(fastsmr.text_stream([b'data:{"token":{"text":"Hel","special":false}}\\n\\n',
    ...                           b'data:{"token":{"text":"lo","special":false}}\\n\\n']))
    ['Hel', 'lo']
    """
    check_parts(parts, "text_stream")
    decoder = TextDecoder(format, errors, reasoning)  # bad arguments fail here, not at the first next()
    # map() and chain() run the per-part and per-text loops in C; after
    # [DONE], feed() only checks the rest, so the stream is drained.
    return chain(chain.from_iterable(map(decoder.feed, parts)), _last_texts(decoder))


def _last_texts(decoder: TextDecoder) -> Iterator[str]:
    yield from decoder.close()  # runs only once every part has been fed

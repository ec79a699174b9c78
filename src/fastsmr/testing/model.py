"""The pretend model behind the local endpoint: deterministic text and the
byte formats real SageMaker LLM containers stream it in.

The text mixes ASCII words with multi-byte UTF-8 (accents, CJK, Cyrillic,
Greek, emoji) so that a client which decodes part by part instead of
incrementally gets caught.

>>> from fastsmr.testing import model
>>> model.generate_tokens(4, seed=1) == model.generate_tokens(4, seed=1)
True
>>> b"".join(model.render_stream("raw", ["Hi", " there"])).decode()
'Hi there'
"""

from __future__ import annotations

import json
import random
from itertools import islice
from typing import Any, Dict, Iterable, Iterator, List, Sequence

__all__ = [
    "FORMATS",
    "CONTENT_TYPES",
    "generate_tokens",
    "generate_text",
    "iter_tokens",
    "render_stream",
    "render_error",
    "render_response",
    "response_content_type",
]

#: Output formats the endpoint can speak, as ``text_stream`` names them.
FORMATS = ("tgi", "lmi", "openai", "raw")

#: The ``X-Amzn-SageMaker-Content-Type`` each container format answers with.
CONTENT_TYPES = {
    "tgi": "text/event-stream",
    "lmi": "application/jsonlines",
    "openai": "text/event-stream",
    "raw": "text/plain; charset=utf-8",
}

# Tokens carry their leading space the way BPE vocabularies do. About one in
# four is multi-byte UTF-8, up to 4-byte sequences (emoji).
_VOCABULARY = (
    " the", " a", " stream", " of", " tokens", " model", " decoder", " fast",
    " event", " message", " byte", " payload", " client", " server", " and",
    " is", " to", " in", " it", " that", " with", " for", " on", " each",
    " header", " checksum", " buffer", " chunk", " line", " part", " text",
    " café", " naïve", " über", " façade", " jalapeño", " déjà", " vu",
    " 東京", " 日本語", " 流式", " Привет", " мир", " ελληνικά", " π", " ≈",
    " 🚀", " ✓", " 🙂", "…", "—", " Ω", " ß",
    ",", ".", ";", ":", "!", "?", "\n", "\n\n", " (", ")", " \"", "\"",
)


def iter_tokens(seed: int = 0) -> Iterator[str]:
    """The endless token sequence for ``seed``; every response is a prefix of it.

    >>> from itertools import islice
    >>> list(islice(iter_tokens(3), 5)) == generate_tokens(5, seed=3)
    True
    """
    choice = random.Random(seed).choice
    while True:
        yield choice(_VOCABULARY)


def generate_tokens(count: int, seed: int = 0) -> List[str]:
    """``count`` pseudo-random tokens, the same for the same ``seed`` everywhere.

    >>> len(generate_tokens(10))
    10
    """
    if count < 0:
        raise ValueError(f"token count must be >= 0, got {count}")
    return list(islice(iter_tokens(seed), count))


def generate_text(count: int, seed: int = 0) -> str:
    """The text a client should reassemble from a stream of ``count`` tokens.

    >>> generate_text(3, seed=7) == "".join(generate_tokens(3, seed=7))
    True
    """
    return "".join(generate_tokens(count, seed))


def _token_id(token: str) -> int:
    # Stable ids so TGI/LMI output is deterministic; offset past special ids.
    return 100 + _VOCABULARY.index(token) if token in _VOCABULARY else 99


def _dumps(obj: object) -> bytes:
    # Real containers emit compact JSON with non-ASCII characters unescaped,
    # which is what puts multi-byte UTF-8 on the wire.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def render_stream(fmt: str, tokens: Iterable[str], *, finish: bool = True) -> Iterator[bytes]:
    """The container's output for each token, in the streaming format ``fmt``.

    Yields one bytes object per token, then (when ``finish``) whatever the
    format sends after the last token: TGI's end-of-sequence special token
    carrying ``generated_text``; OpenAI's ``finish_reason`` chunk and
    ``data: [DONE]``. LMI and raw text send nothing more.

    >>> list(render_stream("lmi", ["Hi"]))
    [b'{"token":{"id":99,"text":"Hi","log_prob":-0.25}}\\n']
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "raw":
        for token in tokens:
            yield token.encode("utf-8")
    elif fmt == "lmi":
        for token in tokens:
            yield _dumps({"token": {"id": _token_id(token), "text": token, "log_prob": -0.25}}) + b"\n"
    elif fmt == "tgi":
        generated = []
        for token in tokens:
            generated.append(token)
            event: Dict[str, Any] = {
                "token": {"id": _token_id(token), "text": token, "logprob": -0.25, "special": False},
                "generated_text": None,
                "details": None,
            }
            yield b"data:" + _dumps(event) + b"\n\n"
        if finish:
            event = {
                "token": {"id": 2, "text": "</s>", "logprob": -0.01, "special": True},
                "generated_text": "".join(generated),
                "details": None,
            }
            yield b"data:" + _dumps(event) + b"\n\n"
    elif fmt == "openai":
        for index, token in enumerate(tokens):
            delta = {"role": "assistant", "content": token} if index == 0 else {"content": token}
            yield b"data: " + _dumps(_chat_chunk(delta, None)) + b"\n\n"
        if finish:
            yield b"data: " + _dumps(_chat_chunk({}, "length")) + b"\n\ndata: [DONE]\n\n"


def render_error(fmt: str) -> bytes:
    """The in-band error a container of format ``fmt`` writes when generation
    fails mid-stream, as the servers write it: TGI's error event
    (router/src/server.rs), the error line LMI's frontend writes in place of
    the last chunk, without a line end (engines/python/.../Request.java),
    and vLLM's error object followed by ``[DONE]``
    (vllm/entrypoints/openai, ``create_streaming_error_response``).

    >>> render_error("lmi")
    b'{"code":424,"error":"exception occurred during rolling batch inference"}'
    """
    if fmt == "tgi":
        error: Dict[str, Any] = {"error": "Request failed during generation: Server error: CUDA out of memory",
                                 "error_type": "generation"}
        return b"data:" + _dumps(error) + b"\n\n"
    if fmt == "lmi":
        return _dumps({"code": 424, "error": "exception occurred during rolling batch inference"})
    if fmt == "openai":
        error = {"error": {"message": "Internal server error", "type": "InternalServerError", "param": None, "code": 500}}
        return b"data: " + _dumps(error) + b"\n\ndata: [DONE]\n\n"
    raise ValueError(f"format {fmt!r} has no in-band errors; expected tgi, lmi or openai")


def _chat_chunk(delta: Dict[str, str], finish_reason: "str | None") -> Dict[str, Any]:
    return {
        "id": "chatcmpl-fastsmr",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fastsmr-pseudo",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def render_response(fmt: str, tokens: Sequence[str]) -> bytes:
    """The container's whole (non-streaming) answer, for ``invoke_endpoint``.

    >>> render_response("lmi", ["Hi", "!"])
    b'{"generated_text":"Hi!"}'
    """
    text = "".join(tokens)
    if fmt == "raw":
        return text.encode("utf-8")
    if fmt == "lmi":
        return _dumps({"generated_text": text})
    if fmt == "tgi":
        return _dumps([{"generated_text": text}])
    if fmt == "openai":
        return _dumps(
            {
                "id": "chatcmpl-fastsmr",
                "object": "chat.completion",
                "created": 1700000000,
                "model": "fastsmr-pseudo",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "logprobs": None,
                        "finish_reason": "length",
                    }
                ],
                "usage": {"prompt_tokens": 8, "completion_tokens": len(tokens), "total_tokens": 8 + len(tokens)},
            }
        )
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def response_content_type(fmt: str, streaming: bool) -> str:
    """The content type the container declares for ``fmt``.

    >>> response_content_type("tgi", streaming=False)
    'application/json'
    """
    if streaming or fmt == "raw":
        return CONTENT_TYPES[fmt]
    return "application/json"

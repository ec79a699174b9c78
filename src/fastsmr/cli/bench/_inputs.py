"""The bytes the decoder cases feed every competitor: deterministic, built with fastsmr.encode.

>>> from fastsmr.cli.bench._inputs import token_messages, chunked
>>> messages = token_messages(3)
>>> all(150 <= len(m) - 16 - 89 <= 300 for m in messages)  # payload sizes
True
>>> b"".join(chunked(b"".join(messages), 100)) == b"".join(messages)
True
"""

from __future__ import annotations

import json
import random
from typing import Any, Dict, List

import fastsmr

__all__ = [
    "token_messages", "endpoint_messages", "converse_messages", "large_payload_message", "large_messages",
    "empty_message_reads", "tgi_parts", "openai_parts", "chunked",
]

# The headers SageMaker Runtime sends with every PayloadPart (89 bytes encoded).
_PAYLOAD_PART = {
    ":event-type": "PayloadPart",
    ":content-type": "application/octet-stream",
    ":message-type": "event",
}
_WORDS = " the of and to in is was for on that with as by at from café 東京 🚀".split(" ")


def token_messages(count: int, seed: int = 1) -> List[bytes]:
    """``count`` PayloadPart messages carrying TGI server-sent events, payloads of 150-300 bytes.

    >>> len(token_messages(5))
    5
    """
    rng = random.Random(seed)
    out = []
    for i in range(count):
        size = rng.randint(150, 300)
        token = {"id": 100 + i % 30000, "text": " " + rng.choice(_WORDS), "logprob": -0.25, "special": False}
        event = json.dumps({"token": token, "generated_text": None, "details": None}, ensure_ascii=False)
        body = b"data:" + event.encode()
        # Pad inside the JSON-free tail so every payload stays a valid event.
        body += b" " * max(0, size - len(body) - 2) + b"\n\n"
        out.append(fastsmr.encode(_PAYLOAD_PART, body))
    return out


def endpoint_messages(count: int) -> List[bytes]:
    """What the local endpoint's ``tgi`` endpoint streams for ``count`` tokens, as
    PayloadPart messages (without TGI's final end-of-sequence event).

    >>> len(endpoint_messages(3))
    3
    """
    from fastsmr.testing import generate_tokens, render_stream

    return [fastsmr.encode(_PAYLOAD_PART, body) for body in render_stream("tgi", generate_tokens(count), finish=False)]


def converse_messages(count: int, seed: int = 2) -> List[bytes]:
    """A Bedrock ``ConverseStream`` response: messageStart, ``count`` contentBlockDelta
    events, contentBlockStop, messageStop and metadata, JSON payloads with the
    ``p`` padding field Bedrock adds to each event.

    >>> len(converse_messages(4))
    8
    """
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

    def event(kind: str, body: Dict[str, Any]) -> bytes:
        body["p"] = letters[: rng.randint(1, len(letters))]
        headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
        return fastsmr.encode(headers, json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())

    out = [event("messageStart", {"role": "assistant"})]
    for _ in range(count):
        text = "".join(" " + rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))
        out.append(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}}))
    out.append(event("contentBlockStop", {"contentBlockIndex": 0}))
    out.append(event("messageStop", {"stopReason": "end_turn"}))
    usage = {"inputTokens": 12, "outputTokens": count, "totalTokens": 12 + count}
    out.append(event("metadata", {"usage": usage, "metrics": {"latencyMs": 1234}}))
    return out


def large_payload_message(size: int, seed: int = 3) -> bytes:
    """One message whose payload is ``size`` random bytes (a large Lambda or S3 Select part).

    >>> len(large_payload_message(1000)) > 1000
    True
    """
    payload = random.Random(seed).getrandbits(8 * size).to_bytes(size, "little") if size else b""
    return fastsmr.encode({":event-type": "PayloadChunk", ":message-type": "event"}, payload)


def large_messages(count: int, size: int, seed: int = 18) -> List[bytes]:
    """``count`` messages whose payloads are ``size`` random bytes each, distinct objects.

    >>> [len(m) for m in large_messages(2, 100)]
    [158, 158]
    """
    rng = random.Random(seed)
    headers = {":event-type": "Chunk", ":message-type": "event"}
    return [fastsmr.encode(headers, rng.getrandbits(8 * size).to_bytes(size, "little")) for _ in range(count)]


def empty_message_reads(count: int, read: int = 65536) -> List[bytes]:
    """``count`` empty 16-byte messages (the most messages per byte a peer can send),
    in reads of whole messages of about ``read`` bytes; the full reads are one object.

    >>> reads = empty_message_reads(5000)
    >>> len(reads), sum(map(len, reads)) == 16 * 5000
    (2, True)
    """
    empty = fastsmr.encode({})
    per_read = read // len(empty)
    full, rest = divmod(count, per_read)
    block = empty * per_read
    return [block] * full + ([empty * rest] if rest else [])


# Words of the text helpers' streams: multi-byte UTF-8 included.
_TEXT_WORDS = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".", " Ünï", "cödé",
               " 数据", " 🚀"]


def tgi_parts(count: int) -> List[bytes]:
    """A Text Generation Inference stream of ``count`` tokens, one server-sent event per part.

    >>> tgi_parts(1)[0][:24]
    b'data:{"index":1,"token":'
    """
    parts = []
    for i in range(count):
        event = {
            "index": i + 1,
            "token": {"id": 1000 + i, "text": _TEXT_WORDS[i % len(_TEXT_WORDS)], "logprob": -0.25, "special": False},
            "generated_text": None,
            "details": None,
        }
        parts.append(b"data:" + json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n")
    return parts


def openai_parts(count: int) -> List[bytes]:
    """An OpenAI-compatible chat completion stream of ``count`` tokens, one chunk per part, then ``[DONE]``.

    >>> openai_parts(1)[-1]
    b'data: [DONE]\\n\\n'
    """
    parts = []
    for i in range(count):
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": _TEXT_WORDS[i % len(_TEXT_WORDS)]}, "logprobs": None,
                         "finish_reason": None}],
        }
        parts.append(b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n")
    return parts + [b"data: [DONE]\n\n"]


def chunked(data: bytes, size: int) -> List[bytes]:
    """``data`` cut into ``size``-byte chunks, as a socket would deliver it.

    >>> chunked(b"abcde", 2)
    [b'ab', b'cd', b'e']
    """
    return [data[i : i + size] for i in range(0, len(data), size)]

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
from typing import List

import fastsmr

__all__ = ["token_messages", "converse_messages", "large_payload_message", "chunked"]

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


def converse_messages(count: int, seed: int = 2) -> List[bytes]:
    """A Bedrock ``ConverseStream`` response: messageStart, ``count`` contentBlockDelta
    events, contentBlockStop, messageStop and metadata, JSON payloads with the
    ``p`` padding field Bedrock adds to each event.

    >>> len(converse_messages(4))
    8
    """
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

    def event(kind: str, body: dict) -> bytes:
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


def chunked(data: bytes, size: int) -> List[bytes]:
    """``data`` cut into ``size``-byte chunks, as a socket would deliver it.

    >>> chunked(b"abcde", 2)
    [b'ab', b'cd', b'e']
    """
    return [data[i : i + size] for i in range(0, len(data), size)]

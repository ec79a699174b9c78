"""Token streams as the model servers write them, and ways to cut them into parts."""

from __future__ import annotations

import asyncio
import json
import pathlib
from typing import Any, List, Optional, Tuple

from hypothesis import strategies as st

import fastsmr
import fastsmr.aio

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "tokens"


#: What a text helper yielded, and the error that ended it (None: the stream ended).
Outcome = Tuple[List[str], Optional[BaseException]]
#: The errors a text helper may end with; anything else propagates and fails the test.
EXPECTED = (fastsmr.TextStreamError, TypeError, UnicodeDecodeError)


def outcome(parts, format: str = "auto", **options: Any) -> Outcome:
    """``fastsmr.text_stream(parts, format, **options)`` run to its end."""
    got: List[str] = []
    try:
        for text in fastsmr.text_stream(parts, format, **options):
            got.append(text)
    except EXPECTED as error:
        return got, error
    return got, None


def aio_outcome(parts, format: str = "auto", **options: Any) -> Outcome:
    """``fastsmr.aio.text_stream`` over ``parts`` as an async generator, run to its end."""
    async def agen():
        for part in parts:
            await asyncio.sleep(0)
            yield part

    async def run() -> Outcome:
        got: List[str] = []
        try:
            async for text in fastsmr.aio.text_stream(agen(), format, **options):
                got.append(text)
        except EXPECTED as error:
            return got, error
        return got, None

    return asyncio.run(run())

def cut(data: bytes, points) -> List[bytes]:
    """``data`` split at the given offsets (duplicates give empty parts)."""
    bounds = [0, *sorted(points), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@st.composite
def chunked(draw, data: bytes):
    """``data`` cut at arbitrary offsets, the parts as bytes, bytearray or memoryview."""
    points = draw(st.lists(st.integers(0, len(data)), max_size=16))
    kinds = st.sampled_from([bytes, bytearray, memoryview])
    return [draw(kinds)(part) for part in cut(data, points)]


def sizes(data: bytes, *sizes: int) -> List[List[bytes]]:
    """``data`` whole, byte by byte, and in parts of each of ``sizes`` bytes."""
    return [[data], [bytes([b]) for b in data]] + [[data[i : i + n] for i in range(0, len(data), n)] for n in sizes]


# -- serialisers: each writes a token list the way its server does, one unit (an
# event or a line) per item, so that tests can put something between them.


def tgi_units(tokens: List[str], end: str = "\n", space: str = "") -> List[bytes]:
    events = []
    for i, token in enumerate(tokens):
        events.append({"index": i + 1, "token": {"id": i, "text": token, "logprob": -0.5, "special": False},
                       "generated_text": None, "details": None})
    # The end-of-sequence token is special; the final event repeats the whole text.
    events.append({"token": {"id": 2, "text": "</s>", "logprob": -0.1, "special": True},
                   "generated_text": "".join(tokens), "details": {"finish_reason": "eos_token"}})
    return [f"data:{space}{json.dumps(e, ensure_ascii=False)}{end}{end}".encode() for e in events]


def lmi_units(tokens: List[str], end: str = "\n") -> List[bytes]:
    lines = [{"token": {"id": [i], "text": t, "log_prob": -0.5}} for i, t in enumerate(tokens)]
    lines[-1]["generated_text"] = "".join(tokens)
    lines[-1]["details"] = {"finish_reason": "length", "generated_tokens": len(tokens)}
    return [(json.dumps(line, ensure_ascii=False) + end).encode() for line in lines]


def openai_chat_units(tokens: List[str], end: str = "\n") -> List[bytes]:
    def chunk(delta, finish=None):
        return {"id": "c", "object": "chat.completion.chunk", "model": "m",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": t}) for t in tokens]
    chunks.append(chunk({}, "stop"))
    units = [f"data: {json.dumps(c, ensure_ascii=False)}{end}{end}".encode() for c in chunks]
    return units + [f"data: [DONE]{end}{end}".encode()]


def openai_completion_units(tokens: List[str], end: str = "\n") -> List[bytes]:
    chunks = [{"id": "c", "object": "text_completion", "choices": [{"index": 0, "text": t, "finish_reason": None}]}
              for t in tokens]
    units = [f"data: {json.dumps(c, ensure_ascii=False)}{end}{end}".encode() for c in chunks]
    return units + [f"data: [DONE]{end}{end}".encode()]


def tgi(tokens: List[str], end: str = "\n", space: str = "") -> bytes:
    return b"".join(tgi_units(tokens, end, space))


def lmi(tokens: List[str], end: str = "\n") -> bytes:
    return b"".join(lmi_units(tokens, end))


def openai_chat(tokens: List[str], end: str = "\n") -> bytes:
    return b"".join(openai_chat_units(tokens, end))


def openai_completion(tokens: List[str], end: str = "\n") -> bytes:
    return b"".join(openai_completion_units(tokens, end))


# name -> (units, the format that reads them)
SERIALISERS = {
    "tgi": (tgi_units, "tgi"),
    "lmi": (lmi_units, "lmi"),
    "openai-chat": (openai_chat_units, "openai"),
    "openai-completion": (openai_completion_units, "openai"),
}

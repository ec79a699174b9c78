"""The C text fast path (csrc/text.c) and its handover give exactly what ``text_stream`` gives.

The C backend's reader makes the text of the usual token events in C and
hands a stream over to the tokens layer's ``TextDecoder`` where it meets
anything else. Here the fast path runs alone (``TextEvents``, no sockets),
with ``fastsmr.mux._text.resume`` taking over as the reader does, against
``text_stream`` on the same parts: the same Server-Sent Events, and the same
exception (class and message, byte offsets included) — for every format and
for ``"auto"``, for every ``reasoning=`` value, on the fixtures, on generated
streams full of unusual content, and whatever the part boundaries. The reader-level tests
(tests/mux/test_relay.py) check the same on both backends through sockets.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest
from hypothesis import given, strategies as st

from fastsmr.mux._text import resume, sse_text
from fastsmr.testing import generate_tokens, render_stream
from fastsmr.tokens.text import text_stream
from support import model_output

pytestmark = pytest.mark.c_extension
_codec_c = pytest.importorskip("fastsmr.codec._codec_c", reason="the C extension is not installed")
FORMATS = ["auto", "tgi", "lmi", "openai", "raw"]
REASONING = ["raise", "skip", "include"]
FIXTURES = sorted((Path(__file__).resolve().parents[1] / "support" / "fixtures" / "tokens").glob("*.*"))
FIXTURES = [path for path in FIXTURES if path.suffix != ".md"]
Outcome = Tuple[bytes, Optional[Tuple[type, str]]]


@pytest.fixture
def events():
    return _codec_c.TextEvents


def oracle(parts: List[bytes], fmt: str, reasoning: str = "raise") -> Outcome:
    """text_stream's texts as the reader frames them, and its exception."""
    out = []
    try:
        for text in text_stream(parts, fmt, reasoning=reasoning):  # type: ignore[arg-type]
            out.append(sse_text(text))
    except Exception as error:
        return b"".join(out), (type(error), str(error))
    return b"".join(out), None


def fast(text_events: Any, parts: List[bytes], fmt: str, counts: Optional[List[int]] = None,
         reasoning: str = "raise") -> Outcome:
    """The fast path, then a TextDecoder from the handover on, as the reader runs them.
    ``counts`` gets how many events the fast path made, and where it handed over."""
    out = []
    maker = text_events(fmt)
    decoder = None
    made = 0

    def take_over(handover: Any) -> None:
        nonlocal decoder
        decoder, texts = resume(fmt, handover, reasoning)  # type: ignore[arg-type]
        for text in texts:
            out.append(sse_text(text))

    try:
        for i, part in enumerate(parts):
            if decoder is None:
                events, handover = maker.feed(part)
                made += events.count(b"\n\n")
                out.append(events)
                if handover is not None:
                    if counts is not None:
                        counts.append(i)
                    take_over(handover)
            else:
                for text in decoder.feed(part):
                    out.append(sse_text(text))
        if decoder is None:
            events, handover = maker.finish()
            out.append(events)
            if handover is not None:
                if counts is not None:
                    counts.append(len(parts))
                take_over(handover)
        if decoder is not None:
            for text in decoder.close():
                out.append(sse_text(text))
    except Exception as error:
        return b"".join(out), (type(error), str(error))
    finally:
        if counts is not None:
            counts.insert(0, made)
    return b"".join(out), None


def cuts(data: bytes) -> List[List[bytes]]:
    rng = random.Random(len(data))
    return [[data], [data[i : i + 1] for i in range(len(data))]] + [model_output.cut(data, rng) for _ in range(6)]


@pytest.mark.parametrize("fixture", FIXTURES, ids=[p.name for p in FIXTURES])
@pytest.mark.parametrize("fmt", FORMATS)
def test_fixtures_whole_and_cut_anywhere(events, fixture, fmt):
    data = fixture.read_bytes()
    for parts in cuts(data):
        assert fast(events, parts, fmt) == oracle(parts, fmt)


@given(st.randoms(use_true_random=False))
def test_generated_streams_in_every_format(rng):
    data = model_output.output(rng)
    for fmt in FORMATS:
        parts = model_output.cut(data, rng)
        reasoning = rng.choice(REASONING)
        assert fast(_codec_c.TextEvents, parts, fmt, reasoning=reasoning) == oracle(parts, fmt, reasoning)


REASONING_FIXTURES = [path for path in FIXTURES if "reasoning" in path.name]


@pytest.mark.parametrize("fixture", REASONING_FIXTURES, ids=[p.name for p in REASONING_FIXTURES])
@pytest.mark.parametrize("fmt", ["auto", "openai"])
@pytest.mark.parametrize("reasoning", REASONING)
def test_reasoning_streams_whole_and_cut_anywhere(events, fixture, fmt, reasoning):
    """vLLM's and SGLang's thinking: the fast path hands over at its first delta,
    and the decoder that reads on raises, skips or includes it as text_stream does."""
    data = fixture.read_bytes()
    for parts in cuts(data):
        counts: List[int] = []
        got = fast(events, parts, fmt, counts, reasoning)
        assert got == oracle(parts, fmt, reasoning)
        assert len(counts) == 2  # handed over (at the thinking; the role chunk before it has no text)
        if reasoning == "raise":
            assert got[1] is not None and "a reasoning model's thinking" in got[1][1]
        else:
            answer_events = oracle(parts, fmt, "skip")[0].count(b"\n\n")
            assert got[1] is None and answer_events >= 2
            thoughts = data.count(b'"reasoning":"') + data.count(b'"reasoning_content":"')  # one delta each
            assert got[0].count(b"\n\n") == answer_events + (thoughts if reasoning == "include" else 0)
    thinking = "".join(text_stream([data], fmt, reasoning="include"))
    answer = "".join(text_stream([data], fmt, reasoning="skip"))
    assert thinking.endswith(answer) and len(thinking) > len(answer)  # the thinking comes first


@pytest.mark.parametrize("reasoning", REASONING)
def test_empty_reasoning_fields_stay_on_the_fast_path(events, reasoning):
    """Null and empty thinking (SGLang writes every field) carries nothing, whatever ``reasoning`` says."""
    chunk = (b'data: {"choices":[{"index":0,"delta":{"role":null,"content":%s,"reasoning_content":null,'
             b'"reasoning":"","tool_calls":null},"finish_reason":null}]}\n\n')
    parts = [chunk % b'"%d"' % i for i in range(5)]
    counts: List[int] = []
    assert fast(events, parts, "openai", counts, reasoning) == oracle(parts, "openai", reasoning)
    assert counts == [5]  # five texts made in C, no handover


@pytest.mark.parametrize("fmt", ["tgi", "lmi", "openai", "raw"])
@pytest.mark.parametrize("read_as", ["named", "auto"])
def test_the_usual_stream_is_made_in_c_to_its_end(events, fmt, read_as):
    """Not a vacuous fast path: every token of the endpoint's streams is made in C;
    only OpenAI's closing ``data: [DONE]`` goes to Python."""
    parts = list(render_stream(fmt, generate_tokens(40, seed=5)))
    counts: List[int] = []
    got = fast(events, parts, fmt if read_as == "named" else "auto", counts)
    assert got == oracle(parts, fmt)
    made, *handed_over = counts
    assert made == 40
    assert handed_over == ([len(parts) - 1] if fmt == "openai" else [])


def test_a_handover_after_texts_keeps_the_error_offsets_of_the_whole_stream(events):
    tokens = [b'data:{"token":{"text":"%d","special":false}}\n\n' % i for i in range(3)]
    bad = b'data:{"error":"out of memory","error_type":"generation"}\n\n'
    parts = tokens + [bad]
    counts: List[int] = []
    got = fast(events, parts, "tgi", counts)
    assert got == oracle(parts, "tgi")
    assert counts == [3, 3]  # three texts made in C, handed over at the error event
    assert got[0] == b"".join(sse_text(str(i)) for i in range(3))
    assert "out of memory" in got[1][1]


@pytest.mark.parametrize("first", range(0x80, 0x100))
def test_raw_utf8_held_and_refused_as_pythons_decoder_does(events, first):
    """Every lead byte, with every second byte, cut after each byte."""
    for second in (0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF):
        tail = bytes([first, second, 0x80, 0x80])
        for cut_at in range(1, 4):
            parts = [b"ok" + tail[:cut_at], tail[cut_at:] + b"!"]
            for fmt in ("raw", "auto"):
                assert fast(events, parts, fmt) == oracle(parts, fmt), (parts, fmt)


def test_text_is_escaped_as_json_dumps_escapes_it(events):
    texts = [chr(c) for c in range(0x80)] + ["\u00e9", "\u2028", "\u2029", "\ufeff", "\U0001f600", "\x7f"]
    escaped = [json.dumps(t, ensure_ascii=True) for t in texts] + [json.dumps(t, ensure_ascii=False) for t in texts]
    parts = [b'data:{"token":{"text":%s}}\n\n' % e.encode() for e in escaped]
    got = fast(events, parts, "tgi")
    assert got == (b"".join(sse_text(t) for t in texts + texts if t), None)
    assert fast(events, [t.encode() for t in texts], "raw") == oracle([t.encode() for t in texts], "raw")


def test_argument_errors(events):
    with pytest.raises(ValueError, match="unknown text format"):
        events("jsonl")
    maker = events("tgi")
    maker.feed(b"nonsense\n")
    with pytest.raises(RuntimeError, match="handed over"):
        maker.feed(b"more")

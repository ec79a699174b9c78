"""text_stream at the edges of its formats: ``[DONE]`` and JSON padded with
whitespace, bytes that are not UTF-8, JSON nested past Python's recursion
limit, and the delta fields of reasoning models and tool calls.

Each case runs on both backends and with both JSON parsers, whole, byte by
byte and cut at every offset; the expected texts and offsets are positions
found in the stream written out here."""

from __future__ import annotations

import json
import pickle
from typing import Any, Dict, List, Optional

import pytest

import fastsmr
import fastsmr.aio
from fastsmr import ModelServerError, TextStreamError
from fastsmr.tokens import text as _text
from fastsmr.tokens.errors import TextDecodeError
from support.token_streams import FIXTURES, aio_outcome, outcome, sizes

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture(params=["stdlib", "orjson"])
def json_parser(request, monkeypatch) -> str:
    """Once with the standard library's parser and once with orjson (if installed)."""
    if request.param == "orjson":
        monkeypatch.setattr(_text, "_loads", pytest.importorskip("orjson").loads)
    else:
        monkeypatch.setattr(_text, "_loads", _text._std_loads)
    return request.param


def every_cut(stream: bytes) -> List[List[bytes]]:
    """The stream whole, byte by byte, in 5-byte parts, and cut in two at every offset."""
    return sizes(stream, 5) + [[stream[:i], stream[i:]] for i in range(1, len(stream))]


def chat(delta: Dict[str, Any], finish: Optional[str] = None) -> bytes:
    chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


HI = chat({"content": "Hi"})


# -- [DONE] and JSON with whitespace around them ---------------------------------------


@pytest.mark.parametrize("done", [b"data:  [DONE]", b"data: [DONE]  ", b"data:\t[DONE]", b"data: \t [DONE] \t",
                                  b"data:  [DONE]\r"])
@pytest.mark.parametrize("format", ["openai", "auto"])
def test_done_with_whitespace_around_it_ends_the_text(json_parser, done, format):
    stream = HI + done + b"\n\n"
    for parts in every_cut(stream):
        assert outcome(parts, format) == (["Hi"], None)
    late = stream + HI  # what follows must be framing, as after a plain data: [DONE]
    for parts in sizes(late, 7):
        got, error = outcome(parts, format)
        assert got == ["Hi"] and type(error) is TextStreamError
        assert "an event after data: [DONE]" in str(error) and error.offset == len(stream)
    assert outcome(sizes(stream + b": bye\n\ndata:  [DONE] \n\n", 3)[2], format) == (["Hi"], None)


@pytest.mark.parametrize("padded", [b"data: \x0c[DONE]", b"data: \xc2\xa0[DONE]", b"data: [DONE]\x0b", b"data: [ DONE ]"])
def test_done_padded_with_what_json_does_not_allow_is_not_framing(json_parser, padded):
    # Form feed, vertical tab and no-break space are no JSON whitespace (RFC 8259, section 2).
    stream = HI + padded + b"\n\n"
    for parts in sizes(stream, 3):
        got, error = outcome(parts, "openai")
        assert got == ["Hi"] and type(error) is TextStreamError, error
        assert error.offset == len(HI) and error.line == padded[6:]
        assert "an event whose data is not JSON" in str(error)


def test_json_with_whitespace_around_it_reads_as_json_would(json_parser):
    text = {"choices": [{"index": 0, "delta": {"content": "x"}}]}
    body = json.dumps(text).encode()
    for pad in (b" ", b"\t", b" \t  "):
        assert outcome([b"data:" + pad + body + pad + b"\n\n"], "openai") == (["x"], None)
        assert outcome([pad + b'{"token": {"text": "y"}}' + pad + b"\n"], "lmi") == (["y"], None)
        assert outcome([b"data:" + pad + b"\n\n" + HI], "openai") == (["Hi"], None)  # blank data is framing
    for pad in (b"\x0c", b"\x0b", b"\xc2\xa0"):
        got, error = outcome([b"data: " + pad + body + b"\n\n"], "openai")
        assert got == [] and type(error) is TextStreamError and error.offset == 0
        got, error = outcome([b"data: " + pad + b"\n\n"], "openai")  # no blank data either
        assert got == [] and type(error) is TextStreamError and "not JSON" in str(error)
        got, error = outcome([b'{"token": {"text": "a"}}\n' + pad + b'{"token": {"text": "y"}}\n'], "lmi")
        assert got == ["a"] and type(error) is TextStreamError and error.offset == 25
        assert "a line that is not JSON" in str(error)
    for pad in (b"\x0c", b"\x0b", b"\xc2\xa0"):  # what json.loads says of the same bytes
        with pytest.raises(ValueError):
            json.loads(pad + body)


# -- bytes that are not UTF-8 ------------------------------------------------------------


def test_raw_text_delivers_the_text_before_bytes_that_are_not_utf8(json_parser):
    good = "héllo wörld, ça va ? 😀 ".encode()
    stream = good + b"\xff" + b"never text"
    for format in ("raw", "auto"):
        for parts in every_cut(stream):
            got, error = outcome(parts, format)
            assert "".join(got) == good.decode(), parts
            assert type(error) is TextDecodeError and isinstance(error, UnicodeDecodeError)
            assert (error.offset, error.found, error.format, error.reason) == (len(good), b"\xff", "raw", "invalid start byte")
            assert str(error).startswith(f"raw stream, byte {len(good)}: not UTF-8 (invalid start byte): b'\\xff'. ")
            assert 'errors="replace"' in str(error)
            assert error.object[error.start : error.end] == b"\xff"  # UnicodeDecodeError's own fields agree


@pytest.mark.parametrize(
    "stream, offset, found, reason",
    [
        (b"ok \xe2\x82", 3, b"\xe2\x82", "unexpected end of data"),  # cut short by the end of the stream
        (b"ab\xe2\x28cd", 2, b"\xe2", "invalid continuation byte"),
        ("é€".encode() + b"\xf0\x9f\x98", 5, b"\xf0\x9f\x98", "unexpected end of data"),
        (b"x" * 70000 + b"\xc3\xa9\xed\xa0\x80", 70002, b"\xed", "invalid continuation byte"),  # a surrogate
    ],
)
def test_raw_text_errors_name_the_stream_offset_whatever_the_parts(stream, offset, found, reason):
    for parts in sizes(stream, 2, 3, 4096) + [[stream[:i], stream[i:]] for i in range(1, min(len(stream), 12))]:
        got, error = outcome(parts, "raw")
        assert "".join(got) == stream[:offset].decode()
        assert type(error) is TextDecodeError and (error.offset, error.found, error.reason) == (offset, found, reason)


def test_the_error_survives_pickling():  # multiprocessing workers hand errors back this way
    error = outcome([b"ok ", b"\xe2\x28"], "raw")[1]
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is TextDecodeError and str(again) == str(error)
    assert (again.offset, again.found, again.start, again.end, again.object) == (3, b"\xe2", 0, 1, b"\xe2(")


def test_a_character_split_across_parts_is_text():
    text = "a é € 😀 z"
    stream = text.encode()
    for parts in every_cut(stream):
        assert "".join(outcome(parts, "raw")[0]) == text
        assert outcome(parts, "raw")[1] is None


SSE_BAD = (
    b'data: {"token":{"text":"A","special":false}}\r\n\r\n'
    b'id: 7\r\n: a comment\r\nevent: message\r\n'
    b'data: {"token":{"text":"\xc3\xa9\xff","special":false}}\r\n\r\n'
)
MULTI_LINE_BAD = b'data: {"token":{"text":"A"}}\n\ndata:{"token":\ndata:  {"text": "ok"}, "x": "\xfe"}\n\n'
LMI_BAD = b'\xef\xbb\xbf{"token": {"text": "A"}}\r\n\r\n{"token": {"text": "B\xc3"}}\r\n'


def not_utf8(stream: bytes, format: str, unit: bytes, bad: bytes, before: List[str]):
    """A case: the stream, its format, where the line or event holding the bad bytes starts, where they are."""
    return pytest.param(stream, format, stream.index(unit), stream.index(bad), before, id=f"{format}-{len(stream)}")


@pytest.mark.parametrize(
    "stream, format, unit, bad, before",
    [
        not_utf8(SSE_BAD, "tgi", b"id: 7", b"\xff", ["A"]),
        not_utf8(SSE_BAD + b"data: more\n\n", "auto", b"id: 7", b"\xff", ["A"]),
        not_utf8(MULTI_LINE_BAD, "tgi", b'data:{"token":\n', b"\xfe", ["A"]),
        not_utf8(b'\xef\xbb\xbfdata:{"token":{"text":"\xff"}}\n\n', "tgi", b"\xef", b"\xff", []),  # the BOM is the event's
        not_utf8(b'data: {"token":{"text":"A"}}\n\ndata: {"token":{"text":"\xff"}}', "tgi", b'data: {"token":{"text":"\xff',
                 b"\xff", ["A"]),  # the last event, without its blank line
        not_utf8(LMI_BAD, "lmi", b'{"token": {"text": "B', b"\xc3", ["A"]),
        not_utf8(LMI_BAD, "auto", b'{"token": {"text": "B', b"\xc3", ["A"]),
        not_utf8(LMI_BAD[:-2], "lmi", b'{"token": {"text": "B', b"\xc3", ["A"]),  # the last line, without its line end
    ],
)
def test_json_that_is_not_utf8_names_the_bytes_and_their_stream_offset(json_parser, stream, format, unit, bad, before):
    what = "line" if stream.startswith(LMI_BAD[:10]) else "data of the event"
    for parts in every_cut(stream):
        got, error = outcome(parts, format)
        assert got == before, parts
        assert type(error) is TextDecodeError and isinstance(error, UnicodeDecodeError), (parts, error)
        assert (error.offset, error.found, error.format) == (bad, stream[bad : bad + 1], format), parts
        assert str(error).startswith(
            f"{format} stream, byte {bad}: not UTF-8 ({error.reason}): {error.found!r} in the {what} at byte {unit}: "
        ), parts
    assert aio_outcome(sizes(stream, 3)[2], format)[1].offset == bad


def test_replace_reads_on_past_bytes_that_are_not_utf8():
    assert outcome([SSE_BAD], "tgi", errors="replace") == (["A", "é\ufffd"], None)
    assert outcome([LMI_BAD], "lmi", errors="replace") == (["A", "B\ufffd"], None)
    assert outcome([b"a\xffb"], "raw", errors="ignore") == (["ab"], None)


# -- JSON nested past Python's recursion limit ------------------------------------------

DEEP = b"[" * 100_000


@pytest.mark.parametrize(
    "stream, format, at, before, line, what",
    [
        (b"data:" + DEEP + b"\n\n", "tgi", 0, [], DEEP, "an event whose data is"),
        (HI + b"data: " + DEEP + b"\n\n", "openai", len(HI), ["Hi"], DEEP, "an event whose data is"),
        (HI + b'data: {"choices": ' + DEEP + b"\n\n", "auto", len(HI), ["Hi"], b'{"choices": ' + DEEP,
         "an event whose data is"),
        (b'{"token": {"text": "A"}}\n' + DEEP + b"\n", "lmi", 25, ["A"], DEEP, "a line of"),
        (b'{"token": {"text": "A"}}\n{"token": ' + DEEP, "auto", 25, ["A"], b'{"token": ' + DEEP, "a line of"),  # at the end
    ],
)
def test_json_nested_too_deeply_is_a_text_stream_error(json_parser, stream, format, at, before, line, what):
    for parts in sizes(stream, 4096, 70000):
        got, error = outcome(parts, format)
        assert got == before
        assert type(error) is TextStreamError, error
        assert (error.format, error.offset, error.line) == (format, at, line)
        assert str(error).startswith(
            f"{format} stream, byte {at}: {what} JSON nested too deeply to parse (Python's recursion limit is "
        )


@pytest.mark.parametrize(
    "stream, format, kind, at, before",
    [
        # an error event whose data does not parse: its data is the message
        (b'event: error\ndata: {"error": ' + DEEP + b"\n\n", "tgi", ModelServerError, 0, []),
        (HI + b'data: [DONE]\n\ndata: {"error": ' + DEEP + b"\n\n", "openai", TextStreamError, len(HI) + 14, ["Hi"]),
        (b'data: {"token": {"text": "A"}}\n\n{"error": ' + DEEP + b"\n\n", "tgi", TextStreamError, 32, ["A"]),
        # orjson parses 1,000 levels, more than json.dumps then writes for the message; json.loads parses fewer
        (b'data: {"error": ' + b"[" * 1000 + b"]" * 1000 + b"}\n\n", "tgi", (ModelServerError, TextStreamError), 0, []),
    ],
)
def test_deep_json_in_error_events_and_after_done_is_never_a_crash(json_parser, stream, format, kind, at, before):
    for parts in sizes(stream, 4096):
        got, error = outcome(parts, format)
        assert got == before and isinstance(error, kind) and type(error) in (ModelServerError, TextStreamError), error
        assert error.offset == at
        assert 0 < len(str(error)) < 1000  # a message of 100,000 characters is cut when shown
        if isinstance(error, ModelServerError) and isinstance(error.body, dict):
            # json.dumps writes it, or, deeper than the stack lets it go, says so
            assert error.message.startswith("[[[[") or error.message == "(a JSON list nested too deeply to show)"


# -- reasoning models, tool calls and other delta fields --------------------------------

VLLM_THINKING = "Okay, compare 9.11 and 9.8: 9.8 is 9.80."
ANSWER = "\n\n9.8 is greater."
SGLANG_THINKING, SGLANG_ANSWER = "The user wants a greeting in French.", "Bonjour !"


@pytest.mark.parametrize(
    "name, field, thinking, answer",
    [
        ("vllm_reasoning_chat.sse", "reasoning", VLLM_THINKING, ANSWER),
        ("sglang_reasoning_chat.sse", "reasoning_content", SGLANG_THINKING, SGLANG_ANSWER),
    ],
)
@pytest.mark.parametrize("format", ["openai", "auto"])
def test_reasoning_streams(name, field, thinking, answer, format):
    stream = (FIXTURES / name).read_bytes()
    first = stream.index(b"\n\ndata: ") + 2  # the first chunk gives the role; the thinking starts in the second
    assert b'"%s":"' % field.encode() in stream[first : stream.index(b"\n\n", first)]
    for parts in sizes(stream, 7, 64):
        got, error = outcome(parts, format)
        assert got == [] and type(error) is TextStreamError
        assert (error.format, error.offset) == (format, first)
        assert f"a chunk whose delta carries {field!r}, a reasoning model's thinking" in str(error)
        assert 'reasoning="skip"' in str(error) and 'reasoning="include"' in str(error)
        assert "fastsmr.sse_events" in str(error) and "json.loads(event.data)" in str(error)
        got, error = outcome(parts, format, reasoning="skip")
        assert ("".join(got), error) == (answer, None)
        got, error = outcome(parts, format, reasoning="include")
        assert ("".join(got), error) == (thinking + answer, None)
    parts = sizes(stream, 7)[2]
    for reasoning in ("skip", "include"):  # the async twin reads the same
        assert aio_outcome(parts, format, reasoning=reasoning) == outcome(parts, format, reasoning=reasoning)


def test_both_reasoning_names_in_one_delta_are_one_text():
    # vLLM sent both names while it moved from one to the other.
    stream = chat({"role": "assistant"}) + chat({"reasoning": "think", "reasoning_content": "think"}) + chat({"content": "!"})
    assert outcome([stream], "openai", reasoning="include") == (["think", "!"], None)
    assert outcome([stream], "openai", reasoning="skip") == (["!"], None)
    differ = chat({"reasoning": "a", "reasoning_content": "b"})
    got, error = outcome([HI + differ], "openai", reasoning="include")
    assert got == ["Hi"] and type(error) is TextStreamError and error.offset == len(HI)
    assert "'reasoning' and 'reasoning_content' that differ" in str(error)
    # thinking and answer in one delta: the thinking first
    assert outcome([chat({"reasoning": "so ", "content": "yes"})], "openai", reasoning="include") == (["so yes"], None)


@pytest.mark.parametrize(
    "delta, what",
    [
        ({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]},
         "'tool_calls', the tools the model calls (structured data, not text)"),
        ({"function_call": {"name": "f", "arguments": "{}"}},
         "'function_call', the function the model calls (OpenAI's older form of tool_calls)"),
        ({"refusal": "I can't help with that."}, "'refusal', the model's refusal, in place of an answer"),
        ({"audio": {"id": "a1"}}, "'audio'"),
    ],
)
def test_delta_fields_that_are_no_text_raise_naming_the_field(delta, what):
    stream = HI + chat(delta) + b"data: [DONE]\n\n"
    for reasoning in ("raise", "skip", "include"):
        for parts in sizes(stream, 9):
            got, error = outcome(parts, "openai", reasoning=reasoning)
            assert got == ["Hi"] and type(error) is TextStreamError and error.offset == len(HI)
            assert f"openai stream, byte {len(HI)}: a chunk whose delta carries {what}: " in str(error)
            assert "fastsmr.sse_events gives each chunk whole: json.loads(event.data)" in str(error)


def test_role_only_and_empty_deltas_are_framing():
    stream = (chat({"role": "assistant"}) + chat({"role": "assistant", "content": ""}) + HI
              + chat({"content": None, "reasoning": None, "reasoning_content": "", "tool_calls": []})
              + chat({}, "stop") + b"data: [DONE]\n\n")
    for reasoning in ("raise", "skip", "include"):
        assert outcome(sizes(stream, 5)[2], "openai", reasoning=reasoning) == (["Hi"], None)


def test_reasoning_takes_three_values():
    with pytest.raises(ValueError, match=r"unknown reasoning 'hide'; expected one of raise, skip, include"):
        fastsmr.text_stream([], reasoning="hide")
    with pytest.raises(ValueError, match="unknown reasoning"):
        fastsmr.aio.text_stream(_no_parts(), reasoning="hide")
    # the token formats carry no reasoning field: the argument changes nothing there
    assert outcome([b'data:{"token":{"text":"a"}}\n\n'], "tgi", reasoning="include") == (["a"], None)


async def _no_parts():
    return
    yield b""  # pragma: no cover - an async generator that yields nothing

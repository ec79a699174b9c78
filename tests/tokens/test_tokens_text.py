"""fastsmr.text_stream: the text of TGI, LMI, OpenAI-compatible and raw streams,
whatever the chunking, with either JSON parser."""

from __future__ import annotations

from typing import Iterator, List

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fastsmr
from fastsmr import ModelServerError, TextStreamError
from fastsmr.tokens import text as _text
from support.token_streams import FIXTURES, SERIALISERS, chunked, cut, tgi

# text_stream has one implementation; it runs on both backends all the same.
pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture(params=["stdlib", "orjson"])
def json_parser(request, monkeypatch) -> str:
    """Run once with the standard library's parser and once with orjson (if installed)."""
    if request.param == "orjson":
        orjson = pytest.importorskip("orjson")
        monkeypatch.setattr(_text, "_loads", orjson.loads)
    else:
        monkeypatch.setattr(_text, "_loads", _text._std_loads)
    return request.param


# The fixtures only swap a function or a module: nothing needs resetting per example.
per_parser = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def texts(parts, format="auto", **kwargs) -> List[str]:
    return list(fastsmr.text_stream(parts, format, **kwargs))


tokens_strategy = st.lists(st.text(max_size=6), min_size=1, max_size=12)
line_ends = st.sampled_from(["\n", "\r\n", "\r"])


# -- round trips -------------------------------------------------------------------


@per_parser
@pytest.mark.parametrize("name", sorted(SERIALISERS))
@given(data=st.data(), tokens=tokens_strategy, end=line_ends)
def test_any_chunking_gives_back_the_text(json_parser, name, data, tokens, end):
    units, format = SERIALISERS[name]
    if name == "lmi" and end == "\r":
        end = "\n"  # JSON lines end in LF or CRLF; a lone CR is an SSE line end only
    stream = b"".join(units(tokens, end))
    parts = data.draw(chunked(stream))
    assert "".join(texts(parts, format)) == "".join(tokens)
    assert "".join(texts(parts)) == "".join(tokens)  # auto-detected


@given(data=st.data(), text=st.text())
def test_raw_text_any_chunking(data, text):
    stream = text.encode()
    parts = data.draw(chunked(stream))
    assert "".join(texts(parts, "raw")) == text


@given(data=st.data(), text=st.text(min_size=1))
def test_raw_text_auto_detected(data, text):
    significant = text.lstrip(" \t\r\n\ufeff")
    looks_structured = significant[:1] == "{" or any(
        f.startswith(significant[: len(f)]) or significant.startswith(f)
        for f in ("data:", "event:", "id:", "retry:", ":")
    )
    assume(not looks_structured)
    parts = data.draw(chunked(text.encode()))
    assert "".join(texts(parts)) == text


@given(data=st.data(), stream=st.binary(max_size=40), errors=st.sampled_from(["replace", "ignore", "surrogateescape", "backslashreplace"]))
def test_raw_text_errors_like_bytes_decode(data, stream, errors):
    parts = data.draw(chunked(stream))
    assert "".join(texts(parts, "raw", errors=errors)) == stream.decode("utf-8", errors)


def boundaries(stream: bytes) -> List[int]:
    """Offsets of every interesting kind: inside "data:", inside CRLF, inside a UTF-8 sequence."""
    points = set()
    for needle, offsets in ((b"data:", (1, 3, 5, 6)), (b"\r\n", (1,)), (b"\n\n", (1,))):
        start = stream.find(needle)
        while start >= 0:
            points.update(start + o for o in offsets)
            start = stream.find(needle, start + 1)
    points.update(i for i, byte in enumerate(stream) if 0x80 <= byte < 0xC0)  # continuation bytes
    return sorted(points)


@pytest.mark.parametrize(
    "name, end",
    # JSON lines end in LF or CRLF; a lone CR is an SSE line end only.
    [(name, end) for name in sorted(SERIALISERS) for end in ("\n", "\r\n", "\r") if (name, end) != ("lmi", "\r")],
)
def test_every_interesting_single_cut(json_parser, name, end):
    tokens = ["Grüße", " 日本語", "", " 🚀\n", "x"]
    units, format = SERIALISERS[name]
    stream = b"".join(units(tokens, end))
    points = boundaries(stream)
    assert points
    for point in points:
        assert "".join(texts(cut(stream, [point]), format)) == "".join(tokens), point
    assert "".join(texts([bytes([b]) for b in stream], format)) == "".join(tokens)
    assert "".join(texts(cut(stream, points))) == "".join(tokens)


def test_tgi_space_after_colon_and_special_tokens():
    stream = tgi(["a", "b"], space=" ")
    assert texts([stream]) == ["a", "b"]


# -- hand-written fixtures from the formats' documentation -----------------------------

FIXTURE_TEXTS = {
    "tgi_generate_stream.sse": ("tgi", ["Bonjour", ",", " ça", " va", " ?", "\n", "日本", "語", "も話せます", " 🚀"]),
    "lmi_rolling_batch.jsonl": ("lmi", ["Deep", " learning", " is", " a", " subset", " of", " machine", " learning",
                                        " — ", "深層学習", "."]),
    "openai_chat_completions.sse": ("openai", ["Hello", "!", " Viele", " Grüße", " 👋\n\n", "¿Qué tal?"]),
    "openai_completions_crlf.sse": ("openai", ["Once", " upon", " a", " time", ",", " in", " Zürich", "…"]),
}


@pytest.mark.parametrize("name", sorted(FIXTURE_TEXTS))
def test_fixture_streams(json_parser, name):
    format, expected = FIXTURE_TEXTS[name]
    stream = (FIXTURES / name).read_bytes()
    assert texts([stream], format) == expected
    assert texts([stream]) == expected
    assert "".join(texts([bytes([b]) for b in stream])) == "".join(expected)
    for size in (3, 7, 64):
        parts = [stream[i:i + size] for i in range(0, len(stream), size)]
        assert "".join(texts(parts)) == "".join(expected)


def test_fixture_raw_text():
    stream = (FIXTURES / "raw_text.txt").read_bytes()
    assert "".join(texts([stream[i:i + 5] for i in range(0, len(stream), 5)])) == stream.decode()


def test_tgi_generated_text_is_not_repeated():
    stream = (FIXTURES / "tgi_generate_stream.sse").read_bytes()
    assert "".join(texts([stream])) == "Bonjour, ça va ?\n日本語も話せます 🚀"


# -- errors written by the server --------------------------------------------------------


def consume_until_error(stream: bytes, format="auto"):
    got = []
    with pytest.raises(ModelServerError) as info:
        for text in fastsmr.text_stream([stream[i:i + 9] for i in range(0, len(stream), 9)], format):
            got.append(text)
    return got, info.value


def test_tgi_error_object(json_parser):
    got, error = consume_until_error((FIXTURES / "tgi_error.sse").read_bytes())
    assert got == ["The", " answer"]  # the tokens before the error are delivered first
    assert error.message.startswith("Request failed during generation: Server error: CUDA out of memory")
    assert error.error_type == "generation"
    assert "CUDA out of memory" in str(error) and isinstance(error, TextStreamError)


@pytest.mark.parametrize("name, before", [("tgi_error.sse", ["The", " answer"]), ("lmi_error.jsonl", ["Once", " upon"])])
def test_texts_before_an_error_in_the_same_part_are_delivered(json_parser, name, before):
    got = []
    with pytest.raises(ModelServerError):
        for text in fastsmr.text_stream([(FIXTURES / name).read_bytes()]):
            got.append(text)
    assert got == before


def test_error_surfaces_before_the_next_part_is_read(json_parser):
    def parts():
        yield (FIXTURES / "tgi_error.sse").read_bytes()
        raise AssertionError("the stream was read past the error")

    got = []
    with pytest.raises(ModelServerError):
        for text in fastsmr.text_stream(parts()):
            got.append(text)
    assert got == ["The", " answer"]


def test_lmi_error_line(json_parser):
    got, error = consume_until_error((FIXTURES / "lmi_error.jsonl").read_bytes())
    assert got == ["Once", " upon"]
    assert (error.finish_reason, error.message) == ("error", "")  # this capture carries no message
    assert "finish_reason 'error'" in str(error) and "the server gave no message" in str(error)
    assert error.body["details"]["finish_reason"] == "error"


def test_openai_error_object(json_parser):
    got, error = consume_until_error((FIXTURES / "openai_error.sse").read_bytes(), "openai")
    assert got == []
    assert error.message == "The decoder prompt (length 9011) is longer than the maximum model length of 8192."
    assert (error.error_type, error.code) == ("BadRequestError", 400)


@pytest.mark.parametrize(
    "stream, message, error_type, code",
    [
        (b'{"error": "invoke handler failure", "code": 424}\n', "invoke handler failure", None, 424),
        (b'data: {"object": "error", "message": "overloaded", "type": "ServiceUnavailable", "code": 503}\n\n',
         "overloaded", "ServiceUnavailable", 503),
        (b'data:{"error":{"message":"Input validation error","http_status_code":422}}\n\n',
         "Input validation error", None, 422),
        (b"event: error\ndata: upstream closed\n\n", "upstream closed", None, None),
        (b'event: error\ndata: {"message": "rate limited", "type": "throttling"}\n\n', "rate limited", "throttling", None),
    ],
)
def test_error_shapes(json_parser, stream, message, error_type, code):
    with pytest.raises(ModelServerError) as info:
        texts([stream])
    assert (info.value.message, info.value.error_type, info.value.code) == (message, error_type, code)


# -- content that does not fit ------------------------------------------------------


@pytest.mark.parametrize(
    "stream, format, match",
    [
        (b'data: {"token": {"text": "a"}\n\n', "tgi", "an event whose data is not JSON"),
        (b'{"choices": []}\n', "lmi", "token object"),
        (b'data: {"token": {"text": "a"}}\n\n', "openai", "OpenAI chunk"),
        (b"data: [1, 2]\n\n", "auto", "a JSON list, not"),
        (b'{"unexpected": true}\n', "auto", r"keys \['unexpected'\]"),
        (b'data: {"token": {"text": 5}}\n\n', "tgi", "token object"),
        (b'data: {"choices": [{"index": 0, "delta": {"content": 5}}]}\n\n', "openai", "OpenAI chunk"),
        (b'data: {"token": {"text": "a"}}\n\ndata: {"tok', "auto", "not JSON"),  # cut inside the last event
    ],
)
def test_content_that_does_not_fit(json_parser, stream, format, match):
    with pytest.raises(TextStreamError, match=match) as info:
        texts([stream], format)
    assert not isinstance(info.value, ModelServerError)
    assert info.value.line and info.value.format == format
    assert info.value.offset == stream.rindex(b"data:" if b"data:" in stream else b"{")
    assert f"{format} stream, byte {info.value.offset}: " in str(info.value)


def test_invalid_utf8_in_json_follows_errors(json_parser):
    stream = b'data: {"token": {"text": "a\xff"}}\n\n'
    with pytest.raises(UnicodeDecodeError):
        texts([stream])
    assert texts([stream], errors="replace") == ["a\ufffd"]
    assert texts([b'{"token": {"text": "\xe2\x82"}}\n'], errors="ignore") == []


def test_invalid_utf8_in_raw_text_is_strict_by_default():
    with pytest.raises(UnicodeDecodeError):
        texts([b"ok \xff"], "raw")
    with pytest.raises(UnicodeDecodeError):  # a sequence cut short by the end of the stream
        texts([b"ok \xe2\x82"], "raw")
    assert texts([b"ok \xe2\x82"], "raw", errors="replace") == ["ok ", "\ufffd"]


def test_json_only_the_stdlib_accepts(json_parser):
    # NaN and lone surrogates are outside strict JSON; servers still send them.
    stream = b'data: {"token": {"text": "\\ud83d", "logprob": NaN}}\n\n'
    assert texts([stream]) == ["\ud83d"]


def test_docstring_examples():
    import doctest

    import fastsmr.aio

    for module in (fastsmr.tokens.lines, fastsmr.tokens.sse, fastsmr.tokens.text, fastsmr.tokens.errors,
                   fastsmr.tokens.parts, fastsmr.aio):
        result = doctest.testmod(module, extraglobs={"fastsmr": fastsmr})
        assert result.attempted and not result.failed, module


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown format 'vllm'"):
        fastsmr.text_stream([], "vllm")
    with pytest.raises(LookupError):
        fastsmr.text_stream([], errors="no-such-handler")


# -- stream shapes -----------------------------------------------------------------


def test_done_stops_text_and_drains_the_rest():
    consumed = []

    def parts() -> Iterator[bytes]:
        for part in (b'data: {"choices":[{"index":0,"text":"a"}]}\n\ndata: [DONE]\n\n', b": keep-alive\n\n",
                     b"data:\n\ndata: [DONE]\n\n", b"\n"):
            consumed.append(part)
            yield part

    assert texts(parts()) == ["a"]
    assert len(consumed) == 4


def test_content_after_done_raises():
    stream = b'data: {"choices":[{"index":0,"text":"a"}]}\n\ndata: [DONE]\n\ndata: {"choices":[{"index":0,"text":"late"}]}\n\n'
    got = []
    with pytest.raises(TextStreamError, match=r"after data: \[DONE\]") as info:
        for text in fastsmr.text_stream([stream]):
            got.append(text)
    assert got == ["a"]
    assert info.value.offset == stream.index(b'data: {"choices":[{"index":0,"text":"late"}]}')


def test_usage_chunks_and_empty_deltas_are_framing():
    stream = (b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"A","tool_calls":[]}}]}\n\n'
              b'data: {"choices":[],"usage":{"completion_tokens":1}}\n\n'
              b'data: {"choices":[{"index":0,"delta":{"tool_calls":[]},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
    assert texts([stream]) == ["A"]


def test_null_error_fields_are_not_errors():
    assert texts([b'data: {"token": {"text": "a"}, "error": null}\n\n']) == ["a"]
    assert texts([b'{"outputs": ["b"], "error": null}\n']) == ["b"]


def test_lmi_outputs_lines():
    assert texts([b'{"outputs": ["This"]}\n{"outputs": [" works"]}\n']) == ["This", " works"]


def test_blank_lines_keepalives_and_bom():
    stream = b'\xef\xbb\xbf\n: ping\n\ndata:\n\ndata: {"token":{"text":"a"}}\n\n\n'
    assert texts([stream]) == ["a"]
    assert texts([b'\xef\xbb\xbf{"token":{"text":"b"}}\n\n  \n'], "lmi") == ["b"]


def test_last_event_or_line_without_terminator_is_kept():
    assert texts([b'data: {"token":{"text":"a"}}']) == ["a"]
    assert texts([b'{"token":{"text":"a"}}']) == ["a"]


def test_detection_waits_for_enough_bytes():
    assert texts([b"d", b"a", b"t", b"a", b':{"token":{"text":"x"}}\n\n']) == ["x"]
    assert texts([b"d", b"o", b"g"]) == ["d", "o", "g"]
    assert texts([b"da"]) == ["da"]  # the stream ended before it could be anything but text
    assert texts([b"   ", b"\n"]) == ["   ", "\n"]
    assert texts([]) == []


def test_bytes_like_parts():
    stream = tgi(["é", "x"])
    assert texts([bytearray(stream[:7]), memoryview(stream[7:])]) == ["é", "x"]

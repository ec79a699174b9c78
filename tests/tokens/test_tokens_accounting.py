"""Every byte a token helper receives ends up as text, as framing its format
defines, or in an error: never an empty or shortened answer without one.

Each rule runs on both backends, with parts cut anywhere; the expected values
are written out (texts, offsets as positions found in the stream, the
servers' fields)."""

from __future__ import annotations

import array
import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastsmr
import fastsmr.aio
from fastsmr import ModelServerError, TextStreamError
from fastsmr.testing import generate_text
from support.token_streams import FIXTURES, SERIALISERS, aio_outcome, chunked, outcome, sizes

pytestmark = pytest.mark.usefixtures("backend")



LMI_LINES = (
    b'{"token": {"id": [1], "text": "A", "log_prob": -0.1}}\n'
    b'{"token": {"id": [2], "text": "B", "log_prob": -0.1}}\n'
)


# -- the cases of issue 13 ------------------------------------------------------------


@pytest.mark.parametrize("format", ["tgi", "openai"])
def test_lmi_json_lines_read_as_sse_raise_naming_format_offset_and_bytes(format):
    first_line = LMI_LINES.split(b"\n")[0]
    for parts in sizes(LMI_LINES, 3, 7, 64):
        got, error = outcome(parts, format)
        assert got == []
        assert type(error) is TextStreamError
        assert (error.format, error.offset, error.line) == (format, 0, first_line)
        assert str(error).startswith(
            f"{format} stream, byte 0: a line that is no Server-Sent Events field "
            "(data, event, id, retry) or comment: b'{\"token\": {\"id\": [1], \"text\": \"A\""
        )
        assert 'format="lmi"' in str(error)  # says which format reads it


@pytest.mark.parametrize("format", ["lmi", "auto"])
def test_lmi_json_lines_read_as_lmi(format):
    for parts in sizes(LMI_LINES, 3, 7):
        assert outcome(parts, format) == (["A", "B"], None)


def test_lmi_error_line_with_an_empty_message_says_what_failed():
    stream = LMI_LINES + b'{"error":"","code":424}'
    for parts in sizes(stream, 5, 64):
        got, error = outcome(parts, "lmi")
        assert got == ["A", "B"]
        assert type(error) is ModelServerError
        assert (error.message, error.code, error.error_type, error.finish_reason) == ("", 424, None, None)
        assert (error.format, error.offset) == ("lmi", len(LMI_LINES))
        assert str(error) == f"model server error: the server gave no message (code 424; lmi stream, byte {len(LMI_LINES)})"


@pytest.mark.parametrize("body", [{"code": 424}, {"code": 424, "error": None}, {"code": 500, "message": "boom"}])
def test_lmi_error_lines_without_an_error_string(body):
    got, error = outcome([LMI_LINES + json.dumps(body).encode()], "lmi")
    assert got == ["A", "B"]
    assert type(error) is ModelServerError and error.code == body["code"]
    assert error.message == body.get("message", "") and str(error).startswith("model server error: ")


# -- parts must be bytes-like -----------------------------------------------------------

NOT_BYTES_LIKE = [
    (None, "NoneType"), (123, "int"), ("text", "str"), ({"PayloadPart": {"Bytes": b"x"}}, "dict"), (1.5, "float"),
    ([10], "list"),
]


@pytest.mark.parametrize("bad, name", NOT_BYTES_LIKE)
def test_a_part_that_is_not_bytes_like_is_a_type_error_after_the_texts_before_it(bad, name):
    first = b'data:{"token":{"text":"a"}}\n\n'
    for helper, expected in (
        (lambda parts: fastsmr.text_stream(parts), ["a"]),
        (lambda parts: fastsmr.text_stream(parts, "raw"), [first.decode()]),
        (lambda parts: fastsmr.sse_events(parts), [fastsmr.SSEEvent("message", '{"token":{"text":"a"}}')]),
        (lambda parts: fastsmr.lines(parts), [b'data:{"token":{"text":"a"}}', b""]),
    ):
        got = []
        with pytest.raises(TypeError, match=rf"^a part must be bytes-like \(bytes, bytearray, memoryview\), got {name}\b"):
            for item in helper([first, bad, b"never read\n"]):
                got.append(item)
        assert got == expected


@pytest.mark.parametrize("bad, name", NOT_BYTES_LIKE)
def test_async_twins_refuse_the_same_parts(bad, name):
    async def agen():
        yield b"\n"
        yield bad

    async def run(helper):
        return [item async for item in helper(agen())]

    for helper in (fastsmr.aio.lines, fastsmr.aio.sse_events, fastsmr.aio.text_stream):
        with pytest.raises(TypeError, match=rf"got {name}\b"):
            asyncio.run(run(helper))


def test_every_buffer_is_a_part():
    stream = b'data:{"token":{"text":"\xc3\xa9"}}\n\n'
    parts = [bytearray(stream[:4]), memoryview(stream[4:9]), array.array("B", stream[9:20]), memoryview(stream)[20:]]
    assert outcome(parts) == (["é"], None)


def test_event_dicts_name_payload_parts():
    got, error = outcome([{"PayloadPart": {"Bytes": b"x"}}])
    assert type(error) is TypeError and "fastsmr.payload_parts(response['Body'])" in str(error)


def test_a_botocore_event_stream_as_parts_names_payload_parts(client):
    from botocore.eventstream import EventStream

    for helper, name in ((fastsmr.text_stream, "text_stream"), (fastsmr.lines, "lines"), (fastsmr.sse_events, "sse_events")):
        body = client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=b"{}")["Body"]
        assert isinstance(body, EventStream)
        with pytest.raises(TypeError) as info:
            helper(body)  # at the call, before anything is read
        assert str(info.value) == (
            f"fastsmr.{name}() takes the payload bytes of a stream, not a botocore event stream: "
            f"use fastsmr.{name}(fastsmr.payload_parts(response['Body']))"
        )


def test_the_same_body_unwrapped_gives_its_text(client):
    response = client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=b"{}", CustomAttributes="fastsmr-tokens=7")
    body = response["Body"]
    assert "".join(fastsmr.text_stream(fastsmr.payload_parts(body))) == generate_text(7)


def test_a_wrapped_or_installed_event_stream_as_parts_names_payload_parts(client):
    body = fastsmr.wrap(client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=b"{}")["Body"])
    with pytest.raises(TypeError, match=r"use fastsmr\.text_stream\(fastsmr\.payload_parts\(response\['Body'\]\)\)"):
        fastsmr.text_stream(body)
    fastsmr.install()
    try:
        body = client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=b"{}")["Body"]
        with pytest.raises(TypeError, match=r"fastsmr\.payload_parts"):
            fastsmr.text_stream(body)
    finally:
        fastsmr.uninstall()


def test_an_aiobotocore_stream_as_parts_names_aio_payload_parts(aio_client):
    async def main():
        async with aio_client() as client:
            response = await client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=b"{}")
            body = response["Body"]
            errors = []
            for helper in (fastsmr.aio.text_stream, fastsmr.aio.lines, fastsmr.aio.sse_events, fastsmr.text_stream):
                with pytest.raises(TypeError) as info:
                    helper(body)
                errors.append(str(info.value))
            text = "".join([t async for t in fastsmr.aio.text_stream(fastsmr.aio.payload_parts(body))])
            return errors, text

    errors, text = asyncio.run(main())
    assert errors[0] == (
        "fastsmr.aio.text_stream() takes the payload bytes of a stream, not an aiobotocore event stream: "
        "use fastsmr.aio.text_stream(fastsmr.aio.payload_parts(response['Body']))"
    )
    assert "use fastsmr.aio.lines(fastsmr.aio.payload_parts(" in errors[1]
    assert "use fastsmr.aio.sse_events(fastsmr.aio.payload_parts(" in errors[2]
    assert errors[3].startswith("fastsmr.text_stream() takes the payload bytes of a stream, not an aiobotocore")
    assert "use fastsmr.aio.text_stream(fastsmr.aio.payload_parts(" in errors[3]
    assert text


# -- in-band errors: a failing-generation capture for each schema ---------------------

# name -> (format, texts before the error, where the failing line or event starts, the error's fields)
FAILURES = {
    "tgi_error.sse": ("tgi", ["The", " answer"], b'data:{"error"', dict(
        message="Request failed during generation: Server error: CUDA out of memory. Tried to allocate 2.00 GiB",
        error_type="generation", code=None, finish_reason=None)),
    "tgi_chat_error.sse": ("openai", ["Sure", "!", " Here", " is", " a", " haiku", ":\n\n", "Herbst", "wind"],
                           b'data:{"error"', dict(
        message="Request failed during generation: Server error: CUDA out of memory. Tried to allocate 1.50 GiB",
        error_type=None, code=422, finish_reason=None)),
    "vllm_chat_error.sse": ("openai", ["The", " capital", " of", " Japan", " is", " 東京"], b'data: {"error"', dict(
        message="Internal server error", error_type="InternalServerError", code=500, finish_reason=None)),
    "vllm_completion_error.sse": ("openai", [" 1", ",", " 1", ",", " 2", ",", " 3", ",", " 5"], b'data: {"error"', dict(
        message="Internal server error", error_type="InternalServerError", code=500, finish_reason=None)),
    "openai_error.sse": ("openai", [], b'data: {"error"', dict(
        message="The decoder prompt (length 9011) is longer than the maximum model length of 8192.",
        error_type="BadRequestError", code=400, finish_reason=None)),
    "sglang_chat_error.sse": ("openai", ["Bonjour", " !", " Comment", " puis", "-je"], b'data: {"error"', dict(
        message="The request was aborted: out of memory for the KV cache.", error_type="SERVICE_UNAVAILABLE", code=503,
        finish_reason=None)),
    "lmi_error.jsonl": ("lmi", ["Once", " upon"], b'{"token": {"id": -1', dict(
        message="", error_type=None, code=None, finish_reason="error")),
    "lmi_rolling_batch_error.jsonl": ("lmi", ["The", " quick", " brown"], b'{"token": {"id": -1', dict(
        message="exception occurred during rolling batch inference", error_type=None, code=None, finish_reason="error")),
    "lmi_frontend_error.jsonl": ("lmi", ["The", " quick", " brown"], b'{"code":424', dict(
        message="exception occurred during rolling batch inference", error_type=None, code=424, finish_reason=None)),
    "lmi_tgi_compat_error.sse": ("tgi", ["The", " quick", " brown"], b'data: {"token": {"id": -1', dict(
        message="", error_type=None, code=None, finish_reason="error")),
    "lmi_chat_error.sse": ("openai", ["Es", " war", " einmal"], b'data: {"id": "chatcmpl-140234879912784", "object": '
                           b'"chat.completion.chunk", "created": 1718032100, "choices": [{"index": 0, "delta": {"content": ""}',
                           dict(message="", error_type=None, code=None, finish_reason="error")),
    "lmi_chat_frontend_error.sse": ("openai", ["Es", " war", " einmal"], b'{"code":424', dict(
        message="exception occurred during rolling batch inference", error_type=None, code=424, finish_reason=None)),
}


def test_every_failing_capture_is_listed():
    failing = {path.name for path in FIXTURES.iterdir() if "error" in path.name}
    assert failing == set(FAILURES)


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_in_band_error_after_the_text_before_it(name):
    format, before, marker, fields = FAILURES[name]
    stream = (FIXTURES / name).read_bytes()
    offset = stream.index(marker)
    for read_as in (format, "auto"):
        for parts in sizes(stream, 3, 7, 64):
            got, error = outcome(parts, read_as)
            assert got == before, (read_as, len(parts))
            assert type(error) is ModelServerError, (read_as, error)
            assert {key: getattr(error, key) for key in fields} == fields
            assert (error.format, error.offset) == (read_as, offset)
            assert error.line.startswith(marker.partition(b"data:")[2].lstrip() or marker)
            assert error.body is not None
            described = str(error)
            assert described.startswith("model server error: ")
            assert (fields["message"] or "the server gave no message") in described
            if fields["code"] is not None:
                assert f"code {fields['code']}" in described
            if fields["finish_reason"]:
                assert "finish_reason 'error'" in described
            assert f"{read_as} stream, byte {offset}" in described
    assert aio_outcome(sizes(stream, 5)[2], format)[0] == before


def test_the_failing_chunks_own_text_is_delivered_first():
    chat = (b'data: {"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}\n\n'
            b'data: {"choices":[{"index":0,"delta":{"content":"b"},"finish_reason":"error"}],'
            b'"error":{"code":502,"message":"upstream died"}}\n\n')
    completion = (b'data: {"choices":[{"index":0,"text":"a","finish_reason":null}]}\n\n'
                  b'data: {"choices":[{"index":0,"text":"b","finish_reason":"error"}]}\n\n')
    lmi = (b'{"token": {"id": 1, "text": "a", "log_prob": -1}}\n'
           b'{"token": {"id": 2, "text": "b", "log_prob": -1, "error_msg": "cut"}, "details": {"finish_reason": "error"}}\n')
    for stream, fields in (
        (chat, dict(message="upstream died", code=502, finish_reason="error")),
        (completion, dict(message="", code=None, finish_reason="error")),
        (lmi, dict(message="cut", code=None, finish_reason="error")),
    ):
        for parts in sizes(stream, 4):
            got, error = outcome(parts)
            assert got == ["a", "b"] and type(error) is ModelServerError
            assert {key: getattr(error, key) for key in fields} == fields
            assert error.offset == stream.index(b"\n", stream.index(b'"a"')) + (2 if stream is not lmi else 1)


def test_error_events_and_error_objects_after_done():
    stream = b'data: {"choices":[{"index":0,"text":"a"}]}\n\ndata: [DONE]\n\ndata: {"error": {"message": "late"}}\n\n'
    got, error = outcome([stream])
    assert got == ["a"] and type(error) is ModelServerError and error.message == "late"
    assert error.offset == stream.index(b'data: {"error"')


def test_done_in_a_named_event_ends_the_text_whatever_the_cut():
    # An "event:" field before data: [DONE] changes nothing: what follows must be
    # framing, whether it comes in the same part or a later one.
    head = b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\nevent: done\ndata: [DONE]\n\n'
    late = b'data: {"choices":[{"index":0,"delta":{"content":"late"}}]}\n\n'
    for format in ("openai", "auto"):
        for parts in sizes(head + late, 7, 64):
            got, error = outcome(parts, format)
            assert got == ["a"] and type(error) is TextStreamError, (parts, got, error)
            assert "after data: [DONE]" in str(error) and error.offset == len(head)
        for parts in sizes(head + b": bye\n\n", 7):
            assert outcome(parts, format) == (["a"], None)


# -- content that fits the format in no way: any format, any part boundaries ----------

# Units that no format's framing or schema accounts for, by the framing they are put in.
SSE_JUNK = [
    (b"hello world\n\n", TextStreamError),  # plain text: no field
    (b'{"token": {"text": "x"}}\n\n', TextStreamError),  # a JSON line without data:
    (b"data: not json\n\n", TextStreamError),
    (b'data: {"unexpected": 1}\n\n', TextStreamError),
    (b"data: [1, 2]\n\n", TextStreamError),
    (b'data: {"choices":[{"index":1,"delta":{"content":"other choice"}}]}\n\n', TextStreamError),
    (b'data: {"choices":[{"index":0,"delta":{"content":null,"tool_calls":[{"id":"t"}]}}]}\n\n', TextStreamError),
    (b'data: {"error": "boom", "error_type": "generation"}\n\n', ModelServerError),
    (b'{"code":424,"error":"boom"}\n', ModelServerError),  # LMI's frontend, without data:
    (b"event: error\ndata: boom\n\n", ModelServerError),
]
JSONL_JUNK = [
    (b"hello world\n", TextStreamError),
    (b'data: {"token": {"text": "x"}}\n', TextStreamError),
    (b'{"unexpected": 1}\n', TextStreamError),
    (b"[1, 2]\n", TextStreamError),
    (b'{"outputs": ["a", "b"]}\n', TextStreamError),
    (b'{"code":424,"error":"boom"}\n', ModelServerError),
    (b'{"error": "boom", "error_type": "generation"}\n', ModelServerError),
]
SCHEMA_JUNK = {  # the other schema: only the format named rejects it ("auto" reads both)
    "tgi": b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n',
    "openai": b'data: {"token": {"text": "x"}}\n\n',
}


@pytest.mark.parametrize("name", sorted(SERIALISERS))
@pytest.mark.parametrize("read_as", ["named", "auto"])
@given(data=st.data(), tokens=st.lists(st.text(max_size=5), min_size=1, max_size=8))
def test_junk_anywhere_raises_at_its_offset(name, read_as, data, tokens):
    units, format = SERIALISERS[name]
    stream_units = units(tokens)
    junk_choices = JSONL_JUNK if format == "lmi" else SSE_JUNK
    if read_as == "named" and format in SCHEMA_JUNK:
        junk_choices = junk_choices + [(SCHEMA_JUNK[format], TextStreamError)]
    junk, kind = data.draw(st.sampled_from(junk_choices))
    # At the very start, "auto" would read the junk's own format: it goes after the first unit there.
    at = data.draw(st.integers(0 if read_as == "named" else 1, len(stream_units)))
    before = b"".join(stream_units[:at])
    stream = before + junk + b"".join(stream_units[at:])
    texts_before = "".join(outcome([before], format)[0])
    got, error = outcome(data.draw(chunked(stream)), format if read_as == "named" else "auto")
    assert type(error) is kind, error
    assert "".join(got) == texts_before
    assert error.offset == len(before)
    assert error.format == (format if read_as == "named" else "auto")
    assert str(error)


# Bytes that make every kind of line: fields, JSON of every schema, [DONE], blanks.
PIECES = [b"\n", b"\r\n", b"\r", b"data:", b"data: ", b": ping", b"event: error", b"id: 1", b"[DONE]", b" ", b"x",
          b'{"token":{"text":"t"}}', b'{"choices":[{"index":0,"text":"c"}]}', b'{"error":"e"}', b'{"code":424}',
          b"\xef\xbb\xbf", b"\xc3\xa9", b"{"]


@pytest.mark.parametrize("format", ["auto", "tgi", "lmi", "openai", "raw"])
@given(data=st.data(), pieces=st.lists(st.sampled_from(PIECES), max_size=30))
def test_any_bytes_any_parts_same_outcome(format, data, pieces):
    # Texts, and an error with the same offset, whatever the part boundaries.
    stream = b"".join(pieces)
    whole_texts, whole_error = outcome([stream], format)
    got, error = outcome(data.draw(chunked(stream)), format)
    assert type(error) is type(whole_error)
    if isinstance(error, TextStreamError):
        assert (error.offset, error.line, str(error)) == (whole_error.offset, whole_error.line, str(whole_error))
        assert "".join(got) == "".join(whole_texts)
    elif error is None:
        assert "".join(got) == "".join(whole_texts)
        if format == "raw":
            assert "".join(got) == stream.decode()


def test_offsets_are_the_streams_whatever_the_cut():
    # CRLFs cut between CR and LF, a blank line's included: the event still starts after the LF.
    stream = b'data: {"token":{"text":"a"}}\r\n\r\n: c\r\n\r\ndata: bad\r\n\r\n'
    for i in range(len(stream) + 1):
        got, error = outcome([stream[:i], stream[i:]])
        assert got == ["a"] and (error.offset, error.line) == (stream.index(b"data: bad"), b"bad"), i
    lmi = b'{"token":{"text":"a"}}\r\n\xef\xbb\xbf\r\n{"token":{"text":"b"}}\r\n\r\nbad\r\n'
    for i in range(len(lmi) + 1):
        got, error = outcome([lmi[:i], lmi[i:]], "lmi")
        assert got == ["a"] and error.offset == lmi.index(b"\xef"), i  # a BOM is framing at the start only


# -- framing is accounted for; auto-detection never gives an empty answer ---------------


def test_framing_is_not_content():
    stream = (b"\xef\xbb\xbf: keep-alive\n\nretry: 1000\nid: 7\nevent: message\ndata: {\"token\":{\"text\":\"a\"}}\n\n"
              b":\n\n\ndata:\n\ndata: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\n"
              b"data: {\"token\":{\"text\":\"</s>\",\"special\":true},\"generated_text\":\"a\"}\n\ndata: [DONE]\n\n: bye\n\n")
    for parts in sizes(stream, 1, 5):
        assert outcome(parts) == (["a"], None)


@pytest.mark.parametrize(
    "stream",
    [b": a smiley :)\nand then plain text\n", b"id: 5 is the answer\nreally\n", b"data: plain words\n\n",
     b"{not json}\n", b'{"a": 1}\n'],
)
def test_auto_detection_raises_rather_than_answering_nothing(stream):
    for parts in sizes(stream, 1, 4):
        got, error = outcome(parts)
        assert got == [] and type(error) is TextStreamError
        assert 'Format "auto" read the stream as' in str(error) and "pass the format" in str(error)
        texts, error = outcome(parts, "raw")  # named, the format reads it all
        assert "".join(texts) == stream.decode() and error is None


def test_a_whole_response_is_not_a_stream():
    whole = b'{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"}}]}'
    got, error = outcome([whole])
    assert got == [] and type(error) is TextStreamError and "not a streamed chunk" in str(error)


def test_reasoning_content_is_not_dropped_silently():
    stream = b'data: {"choices":[{"index":0,"delta":{"reasoning_content":"thinking","content":null}}]}\n\n'
    got, error = outcome([stream])
    assert got == [] and type(error) is TextStreamError and "'reasoning_content'" in str(error)


# -- the async twins account the same way -----------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".sse", ".jsonl", ".txt")))
def test_async_twin_same_outcome(name):
    parts = sizes((FIXTURES / name).read_bytes(), 7)[2]
    sync_texts, sync_error = outcome(parts)
    async_texts, async_error = aio_outcome(parts)
    assert async_texts == sync_texts
    assert type(async_error) is type(sync_error)
    assert str(async_error) == str(sync_error)


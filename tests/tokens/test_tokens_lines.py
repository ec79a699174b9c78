"""fastsmr.lines and fastsmr.sse_events: whatever the chunking, the same result
as a straightforward reference over the whole stream."""

from __future__ import annotations

import io
import re
from typing import List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastsmr
from fastsmr import SSEEvent


def cut(data: bytes, points) -> List[bytes]:
    """``data`` split at the given offsets (duplicates give empty parts)."""
    bounds = [0, *sorted(points), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@st.composite
def chunked(draw, data: bytes):
    """``data`` cut at arbitrary offsets, the parts as bytes, bytearray or memoryview."""
    points = draw(st.lists(st.integers(0, len(data)), max_size=12))
    kinds = st.sampled_from([bytes, bytearray, memoryview])
    return [draw(kinds)(part) for part in cut(data, points)]


# Bytes rich in what matters here: line ends, colons, spaces, multi-byte UTF-8.
stream_bytes = st.lists(
    st.sampled_from([b"\n", b"\r", b"\r\n", b"a", b"data", b":", b" ", b"\xc3\xa9", b"\xf0\x9f\x9a\x80", b"\x00", b"{}"]),
    max_size=40,
).map(b"".join)


# -- lines ---------------------------------------------------------------------


def reference_lines(data: bytes, keepends: bool) -> List[bytes]:
    """BytesIO's readline splits on b"\\n" only, exactly the contract of lines()."""
    out = []
    for line in io.BytesIO(data):
        if not keepends:
            line = line[:-1] if line.endswith(b"\n") else line
            line = line[:-1] if line.endswith(b"\r") else line
        out.append(line)
    return out


# The backend fixture only selects a module: nothing in it needs resetting per example.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data(), stream_bytes, st.booleans())
def test_lines_matches_reference_for_any_chunking(backend, data, stream, keepends):
    parts = data.draw(chunked(stream))
    assert list(fastsmr.lines(parts, keepends=keepends)) == reference_lines(stream, keepends)


@pytest.mark.parametrize("keepends", [False, True])
def test_lines_every_single_cut(backend, keepends):
    stream = b'data:{"t":"\xc3\xa9"}\r\n\r\nline two\nlast\r'
    expected = reference_lines(stream, keepends)
    for i in range(len(stream) + 1):
        assert list(fastsmr.lines([stream[:i], stream[i:]], keepends=keepends)) == expected
    assert list(fastsmr.lines([bytes([b]) for b in stream], keepends=keepends)) == expected


def test_lines_examples(backend):
    assert list(fastsmr.lines([b'{"a": 1}\r\n{"b"', b': 2}\n', b"tail"])) == [b'{"a": 1}', b'{"b": 2}', b"tail"]
    assert list(fastsmr.lines([b"a\r", b"\nb\n"])) == [b"a", b"b"]  # CRLF split across parts
    assert list(fastsmr.lines([b"a\r", b"\nb\n"], keepends=True)) == [b"a\r\n", b"b\n"]
    assert list(fastsmr.lines([b"\n\n"])) == [b"", b""]
    assert list(fastsmr.lines([b"x\ry\n"])) == [b"x\ry"]  # a lone CR is not a line end
    assert list(fastsmr.lines([])) == []
    assert list(fastsmr.lines([b"", b""])) == []


def test_lines_is_lazy(backend):
    def parts():
        yield b"first\nsec"
        raise RuntimeError("the stream broke")

    it = fastsmr.lines(parts())
    assert next(it) == b"first"
    with pytest.raises(RuntimeError, match="broke"):
        next(it)


def test_lines_large_part_split_in_windows(backend):
    # Parts above the window size are split lazily a window at a time; a CRLF
    # and a multi-byte character straddle the window boundaries here.
    from fastsmr.tokens.lines import _WINDOW

    body = b"".join(b"line %d \xc3\xa9\r\n" % i for i in range(20000))
    body = b"x" * (_WINDOW - 1) + b"\r\n" + body + b"no end\r"
    for keepends in (False, True):
        assert list(fastsmr.lines([body[:5], body[5:]], keepends=keepends)) == reference_lines(body, keepends)


def test_lines_long_line_across_many_parts(backend):
    # A line spread over many parts is joined once, not re-copied per part.
    parts = [b"x" * 1000] * 5000 + [b"\nend"]
    out = list(fastsmr.lines(parts))
    assert out == [b"x" * 5_000_000, b"end"]


# -- sse_events ----------------------------------------------------------------


def reference_sse(data: bytes) -> List[Tuple[str, str, str, Optional[int]]]:
    """The WHATWG event-stream interpretation, step by step over the decoded stream."""
    text = data.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    # Only terminated lines count: an unterminated last line is never processed.
    lines = re.split(r"\r\n|\r|\n", text)[:-1]
    events = []
    data_buffer, event_type, last_id, retry = "", "", "", None
    for line in lines:
        if line == "":
            if data_buffer == "":
                event_type = ""
                continue
            if data_buffer.endswith("\n"):
                data_buffer = data_buffer[:-1]
            events.append((event_type or "message", data_buffer, last_id, retry))
            data_buffer, event_type = "", ""
            continue
        if line.startswith(":"):
            continue
        if ":" in line:
            name, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            name, value = line, ""
        if name == "event":
            event_type = value
        elif name == "data":
            data_buffer += value + "\n"
        elif name == "id":
            if "\0" not in value:
                last_id = value
        elif name == "retry":
            if value and all(c in "0123456789" for c in value):
                retry = int(value)
    return events


field_lines = st.lists(
    st.tuples(
        st.sampled_from(["data", "event", "id", "retry", ":", "dat", "data ", "", "\ufeffdata"]),
        st.sampled_from([":", ": ", ":  ", ""]),
        st.sampled_from(["", "x", "a b", "日本", "12", "1a", "\0", ":", " lead", "🚀"]),
        st.sampled_from(["\n", "\r", "\r\n"]),
    ),
    max_size=25,
)


@given(st.data(), field_lines, st.booleans())
def test_sse_matches_reference_for_any_chunking(data, lines, bom):
    stream = ("\ufeff" if bom else "") + "".join(name + sep + value + end for name, sep, value, end in lines)
    encoded = stream.encode()
    expected = reference_sse(encoded)
    parts = data.draw(chunked(encoded))
    assert [tuple(e) for e in fastsmr.sse_events(parts)] == expected


@given(st.data(), stream_bytes)
def test_sse_matches_reference_on_arbitrary_bytes(data, stream):
    # Invalid UTF-8 included: fields decode with U+FFFD as the standard says.
    parts = data.draw(chunked(stream))
    assert [tuple(e) for e in fastsmr.sse_events(parts)] == reference_sse(stream)


def events(*parts: bytes) -> List[SSEEvent]:
    return list(fastsmr.sse_events(parts))


def test_sse_data_lines_join_with_newline():
    assert events(b"data: first\ndata\ndata:  two spaces\n\n") == [SSEEvent("message", "first\n\n two spaces", "", None)]


def test_sse_blank_data_dispatches_empty_event():
    assert events(b"data:\n\n") == [SSEEvent("message", "")]
    assert events(b"data\n\n") == [SSEEvent("message", "")]


def test_sse_event_without_data_is_not_dispatched_and_type_resets():
    assert events(b"event: ping\n\ndata: x\n\n") == [SSEEvent("message", "x")]
    assert events(b"event: add\ndata: 1\n\ndata: 2\n\n") == [SSEEvent("add", "1"), SSEEvent("message", "2")]


def test_sse_comments_and_unknown_fields_are_ignored():
    assert events(b": keep-alive\nfoo: bar\ndata: x\n:\n\n") == [SSEEvent("message", "x")]


def test_sse_id_persists_and_nul_ids_are_ignored():
    got = events(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\0\ndata: c\n\nid\ndata: d\n\n")
    assert [(e.data, e.id) for e in got] == [("a", "1"), ("b", "1"), ("c", "1"), ("d", "")]


def test_sse_retry_takes_digits_only():
    got = events(b"retry: 3000\ndata: a\n\nretry: 10s\ndata: b\n\nretry:\ndata: c\n\nretry: 250\ndata: d\n\n")
    assert [e.retry for e in got] == [3000, 3000, 3000, 250]


def test_sse_line_ends_of_every_kind():
    for end in (b"\n", b"\r", b"\r\n"):
        assert events(b"data: a" + end + b"data: b" + end + end) == [SSEEvent("message", "a\nb")]


def test_sse_cr_at_chunk_end_pairs_with_lf_in_next_chunk():
    # Without pairing, the LF would be read as a blank line and dispatch early.
    assert events(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n") == [SSEEvent("message", "a\nb")]
    assert events(b"data: a\r", b"", b"\ndata: b\r\n\r\n") == [SSEEvent("message", "a\nb")]


def test_sse_bom_only_at_stream_start():
    assert events(b"\xef\xbb", b"\xbfdata: a\n\n") == [SSEEvent("message", "a")]
    # A second BOM is part of the field name, so the line is an unknown field.
    assert events(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n") == []


def test_sse_unterminated_event_is_discarded():
    assert events(b"data: a\n\ndata: b\n") == [SSEEvent("message", "a")]
    assert events(b"data: a\n\ndata: b") == [SSEEvent("message", "a")]


def test_sse_invalid_utf8_is_replaced():
    assert events(b"data: \xff\xfe ok\n\n") == [SSEEvent("message", "\ufffd\ufffd ok")]


def test_sse_event_type_fields():
    (event,) = events(b"event: token\nid: 7\nretry: 5\ndata: {}\n\n")
    assert (event.event, event.data, event.id, event.retry) == ("token", "{}", "7", 5)

"""fastsmr.sse_events: whatever the chunking, the same events (and the same
error, at the same offset) as a straightforward reference over the whole stream."""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastsmr
from fastsmr import SSEEvent, TextStreamError
from support.token_streams import chunked

# sse_events has one implementation; it runs on both backends all the same.
pytestmark = pytest.mark.usefixtures("backend")

# Bytes rich in what matters here: line ends, colons, spaces, multi-byte UTF-8.
stream_bytes = st.lists(
    st.sampled_from([b"\n", b"\r", b"\r\n", b"a", b"data", b":", b" ", b"\xc3\xa9", b"\xf0\x9f\x9a\x80", b"\x00", b"{}"]),
    max_size=40,
).map(b"".join)


SSEOutcome = Tuple[List[Tuple[str, str, str, Optional[int]]], Optional[Tuple[int, bytes]]]


def reference_sse(data: bytes) -> SSEOutcome:
    """The WHATWG event-stream interpretation, step by step over the whole
    stream, with fastsmr's two departures: the last line and event are read
    even without their line end and blank line, and a line that is no field
    ends the stream with an error, returned as its ``(offset, line)``."""
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    base = len(data) - len(body)
    lines, start = [], 0
    for end in re.finditer(rb"\r\n|\r|\n", body):
        lines.append((base + start, body[start : end.start()]))
        start = end.end()
    if start < len(body):
        lines.append((base + start, body[start:]))
    lines.append((len(data), b""))  # the end of the stream dispatches what is pending
    events = []
    data_lines: List[bytes] = []
    event_type, last_id, retry = "", "", None
    for offset, line in lines:
        if line == b"":
            if data_lines:
                events.append((event_type or "message", b"\n".join(data_lines).decode("utf-8", "replace"), last_id, retry))
            data_lines, event_type = [], ""
            continue
        if line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"event":
            event_type = value.decode("utf-8", "replace")
        elif name == b"data":
            data_lines.append(value)
        elif name == b"id":
            if b"\0" not in value:
                last_id = value.decode("utf-8", "replace")
        elif name == b"retry":
            if value and all(c in b"0123456789" for c in value):
                retry = int(value)
        else:
            return events, (offset, line)
    return events, None


def sse_outcome(parts) -> SSEOutcome:
    got = []
    try:
        for event in fastsmr.sse_events(parts):
            got.append(tuple(event))
    except TextStreamError as error:
        assert error.format == "sse" and str(error).startswith(f"sse stream, byte {error.offset}: ")
        return got, (error.offset, error.line)
    return got, None


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
    parts = data.draw(chunked(encoded))
    assert sse_outcome(parts) == reference_sse(encoded)


@given(st.data(), stream_bytes)
def test_sse_matches_reference_on_arbitrary_bytes(data, stream):
    # Invalid UTF-8 included: fields decode with U+FFFD as the standard says.
    parts = data.draw(chunked(stream))
    assert sse_outcome(parts) == reference_sse(stream)


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


def test_sse_comments_are_ignored_and_other_lines_raise():
    assert events(b": keep-alive\ndata: x\n:\n\n") == [SSEEvent("message", "x")]
    stream = b"data: x\n\nfoo: bar\ndata: y\n\n"
    assert sse_outcome([stream]) == ([("message", "x", "", None)], (stream.index(b"foo"), b"foo: bar"))
    with pytest.raises(TextStreamError, match=r"^sse stream, byte 9: a line that is no Server-Sent Events field"):
        events(stream)


def test_sse_json_lines_raise_rather_than_give_nothing():
    stream = b'{"token": {"id": [1], "text": "A", "log_prob": -0.1}}\n'
    assert sse_outcome([stream]) == ([], (0, stream[:-1]))
    assert sse_outcome([stream[:9], stream[9:]]) == ([], (0, stream[:-1]))


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
    # A second BOM is part of the field name, so the line is no field.
    assert sse_outcome([b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n"]) == ([], (3, b"\xef\xbb\xbfdata: a"))


def test_sse_unterminated_event_is_dispatched_at_the_end():
    assert events(b"data: a\n\ndata: b\n") == [SSEEvent("message", "a"), SSEEvent("message", "b")]
    assert events(b"data: a\n\ndata: b") == [SSEEvent("message", "a"), SSEEvent("message", "b")]
    assert events(b"data: a\r") == [SSEEvent("message", "a")]
    assert events(b"event: x\nid: 1") == []  # no data: nothing to dispatch


def test_sse_offsets_count_the_streams_own_bytes():
    # CRLFs, a CR at the end of one part with its LF at the start of the next, a BOM.
    stream = b"\xef\xbb\xbfdata: a\r\n\r\n: c\r\rdata: b\r\n\r\nbad\r\n"
    expected = ([("message", "a", "", None), ("message", "b", "", None)], (stream.index(b"bad"), b"bad"))
    for i in range(len(stream) + 1):
        assert sse_outcome([stream[:i], stream[i:]]) == expected, i
    assert sse_outcome([bytes([b]) for b in stream]) == expected


def test_sse_not_bytes_like_parts():
    with pytest.raises(TypeError, match="got NoneType"):
        events(b"data: a\n\n", None)
    got = []
    with pytest.raises(TypeError, match="got int"):
        for event in fastsmr.sse_events([b"data: a\n\n", 5]):
            got.append(event)
    assert got == [SSEEvent("message", "a")]


def test_sse_invalid_utf8_is_replaced():
    assert events(b"data: \xff\xfe ok\n\n") == [SSEEvent("message", "\ufffd\ufffd ok")]


def test_sse_event_type_fields():
    (event,) = events(b"event: token\nid: 7\nretry: 5\ndata: {}\n\n")
    assert (event.event, event.data, event.id, event.retry) == ("token", "{}", "7", 5)

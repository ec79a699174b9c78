"""Mistakes the type checkers must report: each line marked ``# E`` is an error, and no other line.

tests/test_typing.py runs mypy --strict and pyright on this file and compares
the lines they report with the marks.
"""

from __future__ import annotations

import fastsmr
import fastsmr.mux

fastsmr.Decoder(1024)  # E: the limits are keyword-only
fastsmr.Decoder(max_payload_length="1 MiB")  # E: a limit is an int of bytes
fastsmr.encode({":event-type": "PayloadPart"}, "text")  # E: a str payload is not bytes-like
list(fastsmr.text_stream([b"data: {}\n\n"], "vllm"))  # E: not one of the formats
fastsmr.mux.Reader().add(object(), text="openai", reasoning="hide")  # E: not one of the reasoning values
message = fastsmr.decode(b"")[0]
event_type: str = message.event_type  # E: it may be None
message.payload = b"changed"  # E: a decoded message is read-only
fastsmr.payload_parts(b"raw bytes")  # E: it takes an event stream, not its bytes
fastsmr.wrap([message])  # E: nor a list of messages
fastsmr.crc32("123456789")  # E: a checksum of text needs its bytes

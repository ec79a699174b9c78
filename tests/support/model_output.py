"""Model servers' output streams, usual and unusual, for differential tests of the text paths.

``output(rng)`` builds one stream's bytes: TGI and OpenAI-compatible
Server-Sent Events, LMI JSON lines or raw text, with the variations real
servers and broken ones produce — escapes of every kind, special tokens,
``details`` and ``finish_reason`` values, error objects, extra and repeated
keys, reasoning models' thinking, comments and other SSE fields, CRLF and
lone CR line ends, a BOM, ``[DONE]``, invalid UTF-8, a cut anywhere.
``cut(data, rng)`` splits it into parts at random places. Both draw from a
``random.Random`` (hypothesis supplies one), so a failing case replays from
its seed.
"""

from __future__ import annotations

import json
import random
from typing import Callable, List

TEXTS = ["a", "", " héllo", "\n", '"q"', "\\", "\x00\x1f\x7f", "😀", "\u2028", "tab\tx", "/", "\ud83d\ude00", "end"]


def _json_text(rng: random.Random) -> str:
    text = rng.choice(TEXTS)
    value = json.dumps(text, ensure_ascii=rng.random() < 0.3)
    roll = rng.random()
    if roll < 0.1:
        value = value.replace("/", "\\/")
    elif roll < 0.15:
        value = '"\\ud800"'  # a lone surrogate: Python's parser takes it, the fast path must not
    elif roll < 0.2:
        value = '"\\u00e9\\u20AC\\uD83D\\uDE00"'
    return value


def _tgi_object(rng: random.Random) -> str:
    token = {"id": rng.choice(["1", "-2", "1.5e3", "0"]), "text": _json_text(rng), "logprob": "-0.25",
             "special": rng.choice(["false"] * 6 + ["true", "null", "1", '"x"'])}
    if rng.random() < 0.1:
        del token["special"]
    if rng.random() < 0.1:
        token["special_token"] = rng.choice(["true", "false"])
    if rng.random() < 0.05:
        token["text"] = rng.choice(["null", "3", "[]"])
    if rng.random() < 0.05:
        del token["text"]
    items = [f'"{k}":{v}' for k, v in token.items()]
    if rng.random() < 0.05:
        items.append(items[0])  # a repeated key: Python keeps the last
    if rng.random() < 0.03:
        items.append('"te\\u0078t":"zz"')  # an escaped key, "text" once decoded
    rng.shuffle(items)
    body = "{" + ",".join(items) + "}"
    if rng.random() < 0.03:
        body = rng.choice(["null", "[]", '"x"'])
    top = {"token": body, "generated_text": "null",
           "details": rng.choice(["null"] * 8 + ["false", "{}", '{"finish_reason":"length"}', '{"finish_reason":"error"}',
                                                 '"x"', '{"finish_reason":null,"finish_reason":"error"}'])}
    if rng.random() < 0.05:
        top["error"] = '"boom"'
    roll = rng.random()
    if roll < 0.05:
        top = {"error": '"the model failed"', "error_type": '"generation"'}
    elif roll < 0.07:
        top = {"outputs": '["x"]'}
    elif roll < 0.09:
        top = {"code": "424", "error": '""'}
    text = "{" + ",".join(f'"{k}":{v}' for k, v in top.items()) + "}"
    roll = rng.random()
    if roll < 0.05:
        text = " " + text + " \t"
    elif roll < 0.07:
        text = text[:-1]
    elif roll < 0.09:
        text = text.replace("-0.25", "NaN", 1)
    elif roll < 0.1:
        text = text.replace("-0.25", "1" * 300, 1)
    return text


def _openai_object(rng: random.Random) -> str:
    delta = rng.choice(['{"content":%s}', '{"role":"assistant","content":%s}', '{"content":%s,"tool_calls":[]}',
                        '{"content":%s,"x":1}', '{"content":%s,"reasoning_content":null}', "{}", "null",
                        # a reasoning model's thinking (vLLM's, SGLang's, both names at once, with the answer)
                        '{"reasoning":%s}', '{"role":null,"content":null,"reasoning_content":%s,"tool_calls":null}',
                        '{"reasoning":%s,"reasoning_content":%s}', '{"reasoning":%s,"content":%s}',
                        '{"reasoning":"","content":%s}', '{"reasoning":%s,"reasoning":null}'])
    while "%s" in delta:  # (both reasoning names may carry the same text, as vLLM writes them)
        value = _json_text(rng)
        delta = delta.replace("%s", value, 1 if rng.random() < 0.7 else -1)
    choice = ['"index":' + rng.choice(["0"] * 8 + ["1", "null", "0.0", "false"]), '"delta":' + delta,
              '"finish_reason":' + rng.choice(["null"] * 6 + ['"stop"', '"error"', '""', "1"]), '"logprobs":null']
    if delta == "null" or rng.random() < 0.1:
        choice.append('"text":' + _json_text(rng))
    if rng.random() < 0.05:
        choice = [c for c in choice if not c.startswith('"delta"')]
    if rng.random() < 0.03:
        choice.append('"message":{}')
    rng.shuffle(choice)
    one = "{" + ",".join(choice) + "}"
    choices = rng.choice([f"[{one}]"] * 10 + ["[]", f"[{one},{one}]", "null", "[1]"])
    top = ['"id":"x"', '"object":' + rng.choice(['"chat.completion.chunk"'] * 9 + ['"error"']), '"choices":' + choices]
    if rng.random() < 0.05:
        top.append('"error":{"message":"bad","type":"internal","code":500}')
    if rng.random() < 0.05:
        top.append('"usage":{"prompt_tokens":1}')
    rng.shuffle(top)
    return "{" + ",".join(top) + "}"


def _event(rng: random.Random, data: str) -> str:
    space = rng.choice([" "] * 5 + [""])
    event = f"data:{space}{data}\n"
    roll = rng.random()
    if roll < 0.03:
        event = "event: error\n" + event
    elif roll < 0.06:
        event = "event: message\n" + event
    elif roll < 0.08:
        event = "id: 5\n" + event
    elif roll < 0.1:
        event = ": keep-alive\n" + event
    elif roll < 0.11:
        event = "retry: 10\n" + event
    elif roll < 0.12:
        event = event + "data: {}\n"
    elif roll < 0.13:
        event = "garbage\n" + event
    elif roll < 0.14:
        event = "data\n"
    end = "\n"
    if rng.random() < 0.1:
        event = event.replace("\n", "\r\n")
        end = "\r\n"
    if rng.random() < 0.02:
        end = "\r"
    out = event + end
    if rng.random() < 0.02:
        out += "data: [DONE]\n\n"
    if rng.random() < 0.02:
        out += "\n"
    return out


def output(rng: random.Random) -> bytes:
    """One model server's output stream."""
    kind = rng.choice(["tgi", "openai", "lmi", "raw"])
    count = rng.randint(0, 12)
    if kind == "raw":
        data = "".join(rng.choice(TEXTS) for _ in range(count)).encode("utf-8", "surrogatepass")
        if rng.random() < 0.2:
            at = rng.randint(0, len(data))
            data = data[:at] + rng.choice([b"\xff", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0", b"{", b"data:"]) + data[at:]
        if rng.random() < 0.1:
            data = b"\xef\xbb\xbf" + data
        if rng.random() < 0.1:
            data = b" \n" + data
        return data
    make: Callable[[random.Random], str] = _tgi_object if kind == "tgi" else _openai_object
    text = ""
    for _ in range(count):
        if kind == "lmi":
            line = _tgi_object(rng) if rng.random() < 0.8 else _openai_object(rng)
            text += line + rng.choice(["\n"] * 8 + ["\r\n", "\n\n", "\n \n"])
        else:
            text += _event(rng, make(rng))
    if kind == "openai" and rng.random() < 0.7:
        text += "data: [DONE]\n\n"
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.1:
        data = b"\xef\xbb\xbf" + data
    if rng.random() < 0.05:
        data = b"\n" + data
    if rng.random() < 0.1 and data:
        data = data[: rng.randint(0, len(data))]
    if rng.random() < 0.05:
        at = rng.randint(0, len(data))
        data = data[:at] + rng.choice([b"\xff", b"\r", b"\n", b"x"]) + data[at:]
    return data


def cut(data: bytes, rng: random.Random) -> List[bytes]:
    """``data`` in parts of random sizes (one to thousands of bytes)."""
    parts = []
    at = 0
    while at < len(data):
        size = rng.choice([1, 2, 5, 30, 100, 300, 10000])
        parts.append(data[at : at + size])
        at += size
    return parts

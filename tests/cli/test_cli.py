"""The ``fastsmr`` command, run as a subprocess: output and exit codes."""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import uuid

import pytest

import fastsmr
from fastsmr.cli.demo import make_client
from fastsmr.cli import main
from fastsmr.testing import FORMATS, generate_text, generate_tokens, render_stream

TIMEOUT = 120


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """An environment with no AWS configuration at all: nothing may depend on it."""
    home = tmp_path_factory.mktemp("home")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    clean.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONIOENCODING="utf-8",
    )
    return clean


def run(env, *args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "fastsmr", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=TIMEOUT,
    )


def out(result) -> str:
    return result.stdout.decode("utf-8")


def err(result) -> str:
    """stderr without boto3's warning that it will drop this Python (3.9), which is boto3's, not ours."""
    lines = result.stderr.decode("utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        if "PythonDeprecationWarning: Boto3 will no longer support Python" in line:
            del lines[i : i + 2]  # the warning and the source line Python shows with it
            break
    return "".join(lines)


# --- help and usage -----------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["demo"], ["serve"], ["invoke"], ["decode"]])
def test_help(env, command):
    result = run(env, *command, "--help")
    assert result.returncode == 0
    assert out(result).startswith(f"usage: fastsmr {' '.join(command)}".rstrip())
    assert "exit codes:" in out(result)
    assert "130" in out(result)


def test_version(env):
    result = run(env, "--version")
    assert result.returncode == 0
    assert out(result).strip() == f"fastsmr {fastsmr.__version__}"


def test_no_command_is_usage_error(env):
    result = run(env)
    assert result.returncode == 2
    assert "usage: fastsmr" in err(result)


def test_unknown_option_is_usage_error(env):
    result = run(env, "decode", "--frobnicate", "x")
    assert result.returncode == 2
    assert "unrecognized arguments" in err(result)


def one_line(result) -> str:
    """stderr, which must be exactly one line without a traceback."""
    text = err(result)
    assert text.endswith("\n") and text.count("\n") == 1, text
    return text


@pytest.mark.parametrize(
    "args, message",
    [
        (["serve", "--port", "99999"], "fastsmr serve: argument --port: 99999 is not a port: 1-65535, or 0 for any free one"),
        (["serve", "--port", "-1"], "fastsmr serve: argument --port: -1 is not a port"),
        (["serve", "--port", "http"], "fastsmr serve: argument --port: 'http' is not a port number"),
        (["serve", "--tokens", "-5"], "fastsmr serve: --tokens must be between 0 and 10000000, got -5"),
        (["serve", "--fail-after", "-1"], "fastsmr serve: --fail-after must be >= 0, got -1"),
        (["serve", "--format", "xml"], "fastsmr serve: argument --format: invalid choice: 'xml'"),
        (["invoke", "tgi", "--body", "{}", "--endpoint-url", "notaurl"],
         "fastsmr invoke: argument --endpoint-url: 'notaurl' is not an http:// or https:// URL"),
        (["invoke", "tgi", "--body", "{}", "--endpoint-url", "ftp://127.0.0.1:21"],
         "fastsmr invoke: argument --endpoint-url: 'ftp://127.0.0.1:21' is not an http:// or https:// URL"),
        (["invoke", "tgi", "--body", "{}", "--endpoint-url", "http://127.0.0.1:99999"],
         "fastsmr invoke: argument --endpoint-url: 'http://127.0.0.1:99999': the port must be a number from 1 to 65535"),
        (["invoke", "tgi", "--body", "{}", "--endpoint-url", "http://127.0.0.1:8080", "--region", "not a region"],
         "fastsmr invoke: --region: Provided region_name 'not a region' doesn't match a supported format."),
        (["invoke", "tgi", "--body", "{}", "--connect-timeout", "0"],
         "fastsmr invoke: argument --connect-timeout: 0 must be a number of seconds above 0"),
        (["invoke", "tgi"], "fastsmr invoke: the following arguments are required: --body"),
        (["demo", "--tokens", "0"], "fastsmr demo: argument --tokens: 0 is too small: 1 or more"),
        (["demo", "--rounds", "x"], "fastsmr demo: argument --rounds: 'x' is not a whole number"),
        (["demo", "--rate", "-1"], "fastsmr demo: argument --rate: -1 must be 0 (unpaced) or a positive number"),
        (["decode"], "fastsmr decode: the following arguments are required: FILE"),
        (["bench", "--rounds", "0"], "fastsmr bench: --rounds must be >= 1"),
        (["frobnicate"], "fastsmr: argument COMMAND: invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_exit_2_on_one_line(env, args, message):
    result = run(env, *args)
    assert result.returncode == 2
    assert one_line(result).startswith(message)
    assert result.stdout == b""


def test_the_console_script_is_the_same_command(env):
    script = os.path.join(os.path.dirname(sys.executable), "fastsmr")
    if not os.path.exists(script):
        pytest.skip("fastsmr's console script is not installed next to this interpreter")
    result = subprocess.run([script, "serve", "--port", "99999"], capture_output=True, env=env, timeout=TIMEOUT)
    assert result.returncode == 2
    assert one_line(result).startswith("fastsmr serve: argument --port: 99999 is not a port")


def test_main_in_process(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"fastsmr {fastsmr.__version__}"
    assert main(["invoke"]) == 2  # ENDPOINT_NAME and --body missing


# --- invoke -------------------------------------------------------------------------


def invoke(env, endpoint, name, *args, body='{"inputs": "Hello"}'):
    return run(env, "invoke", name, "--endpoint-url", endpoint.url, "--body", body, *args)


@pytest.mark.parametrize("fmt", FORMATS)
def test_invoke_prints_the_text(env, endpoint, fmt):
    result = invoke(env, endpoint, fmt, "--custom-attributes", "fastsmr-tokens=50; fastsmr-part-bytes=3")
    assert result.returncode == 0, err(result)
    assert out(result) == generate_text(50)
    assert err(result) == ""


def test_invoke_explicit_format(env, endpoint):
    result = invoke(env, endpoint, "raw", "--format", "raw", "--custom-attributes", "fastsmr-tokens=9")
    assert result.returncode == 0, err(result)
    assert out(result) == generate_text(9)


def test_invoke_raw_bytes(env, endpoint):
    result = invoke(env, endpoint, "tgi", "--raw", "--custom-attributes", "fastsmr-tokens=6")
    assert result.returncode == 0, err(result)
    assert result.stdout == b"".join(render_stream("tgi", generate_tokens(6)))


def test_invoke_events_as_json_lines(env, endpoint):
    result = invoke(env, endpoint, "raw", "--events", "--custom-attributes", "fastsmr-tokens=4; fastsmr-part-bytes=1")
    assert result.returncode == 0, err(result)
    events = [json.loads(line) for line in out(result).splitlines()]
    payload = b""
    for event in events:
        part = event["PayloadPart"]
        # single bytes of multi-byte characters are not text: base64
        payload += part["Bytes"].encode() if "Bytes" in part else base64.b64decode(part["Bytes_base64"])
    assert payload == generate_text(4).encode()


def test_invoke_body_from_file_and_stdin(env, endpoint, tmp_path):
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 3}}))
    result = invoke(env, endpoint, "lmi", body=f"@{body}")
    assert result.returncode == 0, err(result)
    assert out(result) == generate_text(3)
    result = run(
        env, "invoke", "openai", "--endpoint-url", endpoint.url, "--body", "-", stdin=b'{"max_tokens": 2, "messages": []}'
    )
    assert result.returncode == 0, err(result)
    assert out(result) == generate_text(2)


def test_invoke_missing_body_file(env, endpoint, tmp_path):
    result = invoke(env, endpoint, "raw", body=f"@{tmp_path / 'missing.json'}")
    assert result.returncode == 2
    assert "cannot read the body" in err(result)


def test_invoke_unknown_endpoint(env, endpoint):
    result = invoke(env, endpoint, "nope")
    assert result.returncode == 1
    assert err(result) == "fastsmr invoke: ValidationError: Endpoint nope of account 123456789012 not found.\n"


def test_invoke_model_error(env, endpoint):
    result = invoke(env, endpoint, "tgi", body="{not json")
    assert result.returncode == 1
    assert err(result).startswith("fastsmr invoke: ModelError: Received client error (400)")
    assert len(err(result).splitlines()) == 1


FOUR = f"after 4 payload parts ({len(generate_text(4).encode())} bytes)"
CUT_SHORT = "; the answer is cut short: try again, and if it recurs, see the endpoint's own output\n"


@pytest.mark.parametrize(
    "fault, message",
    [
        ("model-stream-error", r"fastsmr invoke: ModelStreamError: .+\n"),
        ("internal-stream-failure", r"fastsmr invoke: InternalStreamFailure: .+\n"),
        ("bad-crc", rf"fastsmr invoke: the stream failed {re.escape(FOUR)}: message CRC mismatch in the message at "
                    r"offset \d+: expected 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\n"),
        ("truncate", rf"fastsmr invoke: the stream failed {re.escape(FOUR)}: stream ended inside the message at "
                     r"offset \d+: \d+ bytes left over\n"),
    ],
)
def test_invoke_stream_faults(env, endpoint, fault, message):
    result = invoke(
        env, endpoint, "raw", "--custom-attributes", f"fastsmr-tokens=10; fastsmr-fault={fault}; fastsmr-fail-after=4"
    )
    assert result.returncode == 1
    assert out(result) == generate_text(4)  # what arrived before the fault was printed
    assert re.fullmatch(message, one_line(result)), err(result)


def test_invoke_reset_mid_stream_is_one_sentence(backend_env, endpoint):
    result = invoke(
        backend_env, endpoint, "raw", "--custom-attributes", "fastsmr-tokens=10; fastsmr-fault=reset; fastsmr-fail-after=4"
    )
    assert result.returncode == 1
    assert out(result) == generate_text(4)
    # The reset reaches the client as ECONNRESET or, if it reads the end of the data first, as a body cut short.
    assert re.fullmatch(
        rf"fastsmr invoke: the stream broke {re.escape(FOUR)}: the endpoint (reset the connection \(Connection reset "
        r"by peer\)|closed the connection before the end of the response \(invalid chunked transfer coding at offset "
        rf"\d+: [^;]+\)){re.escape(CUT_SHORT)}", one_line(result)), err(result)
    assert "Connection broken" not in err(result)  # urllib3's tuple, no sentence


class CutServer:
    """A server on 127.0.0.1 that answers each request with one PayloadPart of
    the body it was given, in chunked transfer coding, then (``how``) closes
    the connection before the last chunk, resets it, or goes quiet."""

    def __init__(self, how: str, payload: bytes = b"Hello ") -> None:
        self.how = how
        self.message = fastsmr.encode({":message-type": "event", ":event-type": "PayloadPart"}, payload)
        self.sent = len(b"%x\r\n" % len(self.message)) + len(self.message) + 2  # bytes of the body sent
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(TIMEOUT)
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(TIMEOUT)
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
            while len(body) < length:
                body += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
                         b"x-amzn-Invoked-Production-Variant: v\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + b"%x\r\n" % len(self.message) + self.message + b"\r\n")
            if self.how == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif self.how == "quiet":
                self.done.wait(TIMEOUT)

    def __enter__(self) -> "CutServer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.done.set()
        self.sock.close()
        self.thread.join(TIMEOUT)


CLOSED = ("the endpoint closed the connection before the end of the response (invalid chunked transfer coding at "
          "offset {sent}: the body ended before the last chunk)" + CUT_SHORT)
QUIET = ("the endpoint sent nothing for 1 s (--read-timeout); the answer is cut short: a model that pauses longer needs "
         "a larger --read-timeout\n")


@pytest.mark.parametrize("how, what, mode", [("close", CLOSED, "text"), ("close", CLOSED, "--events"),
                                             ("quiet", QUIET, "text")])
def test_invoke_connection_failures_mid_stream_are_one_sentence(backend_env, how, what, mode):
    with CutServer(how) as server:
        result = run(backend_env, "invoke", "raw", "--endpoint-url", server.url, "--body", "{}", "--read-timeout", "1",
                     *([] if mode == "text" else [mode]))
    assert result.returncode == 1
    received = "after 1 event" if mode == "--events" else "after 1 payload part (6 bytes)"
    assert one_line(result) == f"fastsmr invoke: the stream broke {received}: {what.format(sent=server.sent)}"
    assert out(result) == ('{"PayloadPart": {"Bytes": "Hello "}}\n' if mode == "--events" else "Hello ")


def test_invoke_reasoning(backend_env):
    from support.token_streams import FIXTURES

    stream = (FIXTURES / "vllm_reasoning_chat.sse").read_bytes()
    first = stream.index(b"\n\ndata: ") + 2  # the chunk after the role's: the first with thinking
    with CutServer("close", stream) as server:  # the whole stream in one part, then the connection closes
        default = run(backend_env, "invoke", "raw", "--endpoint-url", server.url, "--body", "{}")
    assert default.returncode == 1 and out(default) == ""
    assert one_line(default).startswith(
        f"fastsmr invoke: the stream failed: auto stream, byte {first}: a chunk whose delta "
        "carries 'reasoning', a reasoning model's thinking (vLLM's reasoning parsers): ")
    assert "fastsmr invoke --reasoning skip|include" in err(default)
    for reasoning, answer in (("skip", "\n\n9.8 is greater."),
                              ("include", "Okay, compare 9.11 and 9.8: 9.8 is 9.80.\n\n9.8 is greater.")):
        with CutServer("close", stream) as server:
            result = run(backend_env, "invoke", "raw", "--endpoint-url", server.url, "--body", "{}",
                         "--reasoning", reasoning)
        assert out(result) == answer  # the text, then the connection's end is reported
        assert one_line(result).startswith("fastsmr invoke: the stream broke after 1 payload part (")


def test_invoke_interrupted(env, endpoint):
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastsmr", "invoke", "raw", "--endpoint-url", endpoint.url, "--body", "{}",
         "--custom-attributes", "fastsmr-tokens=100000; fastsmr-rate=20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout.read(1)  # streaming has begun
        proc.send_signal(signal.SIGINT)
        assert proc.wait(TIMEOUT) == 130
    finally:
        proc.kill()
        proc.wait(TIMEOUT)
        proc.stdout.close()
        proc.stderr.close()


def test_decode_into_a_closed_pipe(env, tmp_path):
    data = fastsmr.encode(*MESSAGES[0]) * 20000
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastsmr", "decode", capture(tmp_path, data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    assert proc.wait(TIMEOUT) == 0
    assert proc.stderr.read() == b""
    proc.stderr.close()


def test_invoke_connection_refused(env):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run(env, "invoke", "raw", "--endpoint-url", f"http://127.0.0.1:{port}", "--body", "{}")
    assert result.returncode == 3
    assert one_line(result) == (
        f"fastsmr invoke: connection refused by 127.0.0.1:{port}: nothing listens there; start the endpoint "
        "(fastsmr serve prints its endpoint_url) or check --endpoint-url\n"
    )


def test_invoke_https_to_a_plain_http_endpoint(env, endpoint):
    # The local endpoint answers a TLS ClientHello at once, so the handshake fails now, not at a timeout.
    url = endpoint.url.replace("http://", "https://")
    result = run(env, "invoke", "raw", "--endpoint-url", url, "--body", "{}", "--connect-timeout", "30")
    assert result.returncode == 3
    message = one_line(result)
    assert message.startswith(f"fastsmr invoke: TLS handshake with {url} failed (")
    assert message.endswith("; if the endpoint speaks plain HTTP (as fastsmr serve does), use http://\n")


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_invoke_a_server_that_never_answers(env, scheme):
    # A listener that accepts (in the kernel's backlog) and never reads or writes: the
    # TLS handshake waits for --connect-timeout, a plain request for --read-timeout.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        url = f"{scheme}://127.0.0.1:{sock.getsockname()[1]}"
        result = run(env, "invoke", "raw", "--endpoint-url", url, "--body", "{}",
                     "--connect-timeout", "1", "--read-timeout", "1")
    assert result.returncode == 3
    message = one_line(result)
    assert message.startswith(f"fastsmr invoke: {url} accepted the connection but sent no response in time")
    hint = "use http://" if scheme == "https" else "not an HTTP server"
    assert hint in message


def test_invoke_without_region_anywhere(env):
    # a real endpoint, nothing configured: boto3 cannot even build the client
    result = run(env, "invoke", "some-endpoint", "--body", "{}")
    assert result.returncode == 3
    assert one_line(result) == "fastsmr invoke: no AWS region configured: pass --region, or set AWS_DEFAULT_REGION\n"


def test_invoke_without_credentials(env):
    # a region but no credentials anywhere (and no instance metadata): exit 3 before any connection
    result = run(env, "invoke", "some-endpoint", "--body", "{}", "--region", "us-east-1")
    assert result.returncode == 3
    assert one_line(result).startswith("fastsmr invoke: no AWS credentials found: configure them")


def test_invoke_unknown_profile(env):
    result = run(env, "invoke", "some-endpoint", "--body", "{}", "--profile", "nobody")
    assert result.returncode == 3
    assert one_line(result).startswith("fastsmr invoke: The config profile (nobody) could not be found")


# --- serve --------------------------------------------------------------------------


class Served:
    """``fastsmr serve`` in a child process, with its announced URL."""

    def __init__(self, env, *args):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fastsmr", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self.lines.get(timeout=TIMEOUT)
        assert first.startswith("endpoint_url: http://127.0.0.1:"), first + self.proc.stderr.read()
        self.url = first.split(": ", 1)[1].strip()

    def _read(self):
        for line in iter(self.proc.stdout.readline, ""):
            self.lines.put(line)

    def stop(self, signum=signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(TIMEOUT)
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_serve_and_invoke(env, signum):
    served = Served(env, "--tokens", "7", "--format", "openai", "--endpoint", "chat")
    try:
        result = run(env, "invoke", "chat", "--endpoint-url", served.url, "--body", "{}")
        assert result.returncode == 0, err(result)
        assert out(result) == generate_text(7)
        missing = run(env, "invoke", "tgi", "--endpoint-url", served.url, "--body", "{}")
        assert missing.returncode == 1  # only "chat" is served
    finally:
        assert served.stop(signum) == 0


def test_serve_fail_after(env, endpoint):
    served = Served(env, "--tokens", "9", "--fail-after", "3", "--error-code", "StreamBroken")
    try:
        result = run(env, "invoke", "raw", "--endpoint-url", served.url, "--body", "{}")
        assert result.returncode == 1
        assert out(result) == generate_text(3)
        assert err(result).startswith("fastsmr invoke: ModelStreamError: ")
    finally:
        assert served.stop() == 0


def test_serve_with_boto3_and_rate(env):
    served = Served(env, "--rate", "200", "--tokens", "5")
    try:
        client = make_client(served.url)
        response = client.invoke_endpoint_with_response_stream(EndpointName="lmi", Body=b"{}")
        assert len(list(response["Body"])) == 5
    finally:
        assert served.stop() == 0


def test_serve_port_in_use(env):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run(env, "serve", "--port", str(port))
    assert result.returncode == 3
    assert one_line(result) == (
        f"fastsmr serve: cannot listen on 127.0.0.1:{port}: the port is in use; stop what listens there, "
        "or try --port 0 (any free port)\n"
    )


def test_serve_on_an_address_this_machine_lacks(env):
    address = "192.0.2.1"  # TEST-NET-1 (RFC 5737): documentation only, never assigned
    result = run(env, "serve", "--host", address, "--port", "0")
    assert result.returncode == 3
    message = one_line(result)
    assert message == (
        f"fastsmr serve: cannot listen on {address}:0: {address} is not an address of this machine; "
        "try --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface)\n"
    )
    assert "--port" not in message


def test_serve_on_a_host_name_that_does_not_resolve(env):
    result = run(env, "serve", "--host", "no-such-host.invalid", "--port", "0")  # .invalid never resolves (RFC 2606)
    assert result.returncode == 3
    message = one_line(result)
    assert message.startswith("fastsmr serve: cannot listen on no-such-host.invalid:0: the host name does not resolve")
    assert message.endswith("; try --host 127.0.0.1\n")


# --- decode -------------------------------------------------------------------------


def capture(tmp_path, data: bytes):
    path = tmp_path / f"capture-{uuid.uuid4().hex}.bin"
    path.write_bytes(data)
    return str(path)


MESSAGES = [
    ({":message-type": "event", ":event-type": "PayloadPart"}, "héllo 🚀".encode()),
    ({":message-type": "event", "flag": True, "n": 7, "blob": b"\x00\xff"}, b"\xff\xfe binary"),
    ({":message-type": "exception", ":exception-type": "ModelStreamError"}, b'{"Message": "m"}'),
]


def test_decode_json_lines(env, tmp_path):
    data = b"".join(fastsmr.encode(h, p) for h, p in MESSAGES)
    result = run(env, "decode", capture(tmp_path, data))
    assert result.returncode == 0, err(result)
    records = [json.loads(line) for line in out(result).splitlines()]
    assert len(records) == 3
    assert records[0] == {
        "offset": 0,
        "headers": {":message-type": "event", ":event-type": "PayloadPart"},
        "payload": "héllo 🚀",
    }
    assert records[1]["offset"] == len(fastsmr.encode(*MESSAGES[0]))
    assert records[1]["headers"] == {
        ":message-type": "event",
        "flag": True,
        "n": 7,
        "blob": {"bytes_base64": base64.b64encode(b"\x00\xff").decode()},
    }
    assert base64.b64decode(records[1]["payload_base64"]) == b"\xff\xfe binary"
    assert "payload" not in records[1]
    assert json.loads(records[2]["payload"]) == {"Message": "m"}


def test_decode_stdin_and_empty(env, tmp_path):
    data = fastsmr.encode(*MESSAGES[0])
    result = run(env, "decode", "-", stdin=data)
    assert result.returncode == 0
    assert json.loads(out(result))["payload"] == "héllo 🚀"
    empty = run(env, "decode", capture(tmp_path, b""))
    assert (empty.returncode, empty.stdout) == (0, b"")


def test_decode_corrupt_crc(env, tmp_path):
    good = fastsmr.encode(*MESSAGES[0])
    bad = bytearray(fastsmr.encode(*MESSAGES[2]))
    bad[-1] ^= 0x01
    result = run(env, "decode", capture(tmp_path, good + bytes(bad)))
    assert result.returncode == 2
    assert len(out(result).splitlines()) == 1  # the good message came first
    assert err(result) == (
        f"fastsmr decode: malformed event stream: message CRC mismatch in the message at offset {len(good)}: "
        f"expected 0x{int.from_bytes(bad[-4:], 'big'):08x}, computed 0x{int.from_bytes(bad[-4:], 'big') ^ 1:08x}\n"
    )


def test_decode_truncated(env, tmp_path):
    data = fastsmr.encode(*MESSAGES[0])
    result = run(env, "decode", capture(tmp_path, data + data[:10]))
    assert result.returncode == 2
    assert err(result) == (
        f"fastsmr decode: malformed event stream: stream ended inside the message at offset {len(data)}: "
        "10 bytes left over\n"
    )


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)


NOT_AN_EVENT_STREAM = "is not an event stream (binary messages, each with a 12-byte prelude of lengths and a CRC): it looks like "


@pytest.mark.parametrize(
    "data, looks_like",
    [
        (b'{"generated_text": "Hello"}', "JSON (a whole response body, such as invoke_endpoint's or an error's)\n"),
        (b'  [{"generated_text": "Hello"}]\n', "JSON (a whole response body"),
        (b'{"token": 1}\n{"token": 2}\n', "JSON lines: a model server's own output, which event-stream messages "
                                          "carry as payloads (what fastsmr invoke --raw prints), not the stream around it\n"),
        (b'data: {"token": {"text": "Hi"}}\n\ndata: [DONE]\n\n', "Server-Sent Events text (data: lines): "),
        (b": keep-alive\n\n", "Server-Sent Events text (data: lines): "),
        (chunked(fastsmr.encode(*MESSAGES[0])), "an HTTP body still in chunked transfer coding (a hex size line "
                                                 "before each chunk); save it de-chunked (curl -o FILE, without --raw)\n"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n\r\n", "a whole HTTP response"),
        ("Bonjour, ça va ? Très bien. ".encode() * 3, "text\n"),
    ],
    ids=["json", "json-array", "json-lines", "sse", "sse-comment", "chunked", "http-response", "text"],
)
def test_decode_says_what_the_input_looks_like(env, tmp_path, data, looks_like):
    path = capture(tmp_path, data)
    for args, name in (([path], path), (["-"], "the input")):
        result = run(env, "decode", *args, stdin=data)
        assert result.returncode == 2
        assert result.stdout == b""
        assert err(result).startswith(f"fastsmr decode: {name} {NOT_AN_EVENT_STREAM}{looks_like}")
        assert len(err(result).splitlines()) == 1


def test_decode_binary_garbage_gets_the_decoder_message(env, tmp_path):
    result = run(env, "decode", capture(tmp_path, bytes(range(256)) * 2))
    assert result.returncode == 2
    assert err(result).startswith("fastsmr decode: malformed event stream: ")
    assert "looks like" not in err(result)


def test_decode_missing_file(env, tmp_path):
    result = run(env, "decode", str(tmp_path / "nothing.bin"))
    assert result.returncode == 2
    assert "cannot read" in err(result)


@pytest.fixture(params=["c", "python"])
def backend_env(request, env):
    """``env`` with the backend the command runs on (the extension's, or forced pure)."""
    if request.param == "python":
        return dict(env, FASTSMR_NO_EXTENSIONS="1")
    return {key: value for key, value in env.items() if key != "FASTSMR_NO_EXTENSIONS"}


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_output_that_cannot_be_written_is_one_line_naming_the_output(backend_env, endpoint, tmp_path):
    # A full disk is no unreadable input nor a broken stream: say which side failed.
    data = fastsmr.encode(*MESSAGES[0]) * 20000
    commands = (
        ["decode", capture(tmp_path, data)],
        ["invoke", "raw", "--endpoint-url", endpoint.url, "--body", "{}", "--custom-attributes", "fastsmr-tokens=50"],
    )
    for args in commands:
        with open("/dev/full", "wb") as full:
            result = subprocess.run([sys.executable, "-m", "fastsmr", *args], stdout=full, stderr=subprocess.PIPE,
                                    env=backend_env, timeout=TIMEOUT)
        assert result.returncode == 1
        assert one_line(result) == f"fastsmr {args[0]}: cannot write the output: No space left on device\n"


@pytest.mark.parametrize("closed", [0, 1])
def test_a_closed_stdin_or_stdout_is_one_line(backend_env, tmp_path, closed):
    # `fastsmr decode - <&-` and `fastsmr decode FILE >&-`: Python starts with sys.stdin or sys.stdout None.
    name = ("stdin", "stdout")[closed]
    for args in (["decode", "-" if closed == 0 else capture(tmp_path, fastsmr.encode(*MESSAGES[0]))],
                 ["invoke", "raw", "--endpoint-url", "http://127.0.0.1:9", "--body", "-"]):
        if closed == 1 and args[0] == "invoke":
            continue  # it fails to connect before it writes
        result = subprocess.run([sys.executable, "-m", "fastsmr", *args], stdin=subprocess.DEVNULL,
                                capture_output=closed == 0, stderr=subprocess.PIPE if closed else None,
                                env=backend_env, timeout=TIMEOUT, preexec_fn=lambda: os.close(closed))
        assert result.returncode == 2
        assert one_line(result).startswith(f"fastsmr {args[0]}: {name} is closed")


def test_decode_a_capture_from_the_endpoint(env, endpoint, tmp_path):
    result = invoke(env, endpoint, "tgi", "--raw", "--custom-attributes", "fastsmr-tokens=3")
    assert result.returncode == 0
    # --raw wrote payloads; build the event stream they came in and decode it
    data = b"".join(
        fastsmr.encode({":event-type": "PayloadPart", ":message-type": "event"}, part)
        for part in render_stream("tgi", generate_tokens(3))
    )
    decoded = run(env, "decode", capture(tmp_path, data))
    payloads = [json.loads(line)["payload"].encode() for line in out(decoded).splitlines()]
    assert b"".join(payloads) == result.stdout


# --- demo ---------------------------------------------------------------------------


def demo_rows(text: str):
    """The demo's table (label -> cells) and the lines that explain its rows (label -> text)."""
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:3] == ["client", "µs/token", "speedup"])
    end = lines.index("", head)
    rows = {line[:21].strip(): line[21:].split() for line in lines[head + 1 : end]}
    legend = {line[:21].strip(): line[21:].strip() for line in lines[end + 1 : lines.index("", end + 1)]}
    return rows, legend


def test_demo_quick(env):
    result = run(env, "demo", "--quick")
    assert result.returncode == 0, err(result)
    text = out(result)
    assert generate_text(20) in text  # the streamed answer
    assert "> " not in text  # no made-up question above the pseudo-text
    assert "20 tokens of the endpoint's pseudo-text (unpaced)" in text
    assert "median of 3 rounds; each round streams 2,000 tokens" in text
    rows, legend = demo_rows(text)
    assert set(rows) == set(legend) == {"stock boto3", "fastsmr (c)", "fastsmr (python)", "payload_parts (c)"}
    assert all(legend.values())  # a line says what each row measures
    assert rows["stock boto3"][1] == "1.0x"
    assert float(rows["fastsmr (python)"][0]) > 0
    low, high = rows["fastsmr (python)"][2].strip("()").split("-")
    assert float(low) <= float(rows["fastsmr (python)"][1].rstrip("x")) <= float(high)
    if fastsmr.BACKEND == "c":
        assert float(rows["fastsmr (c)"][0]) > 0
    # progress while it measures (a line per round when stderr is not a terminal)
    progress = err(result).splitlines()
    assert [line.split(" (")[0] for line in progress] == [f"measuring: {n} of 3 rounds done" for n in range(4)]


def test_demo_quick_keeps_the_options_given(env):
    result = run(env, "demo", "--quick", "--answer-tokens", "5", "--tokens", "300", "--rounds", "1")
    assert result.returncode == 0, err(result)
    text = out(result)
    assert "5 tokens of the endpoint's pseudo-text (unpaced)" in text
    assert generate_text(5) in text and generate_text(6) not in text
    assert "median of 1 round; each round streams 300 tokens" in text
    result = run(env, "demo", "--quick", "--answer-tokens", "0", "--tokens", "50", "--rounds", "1")
    assert result.returncode == 0, err(result)
    assert "pseudo-text" not in out(result)
    assert len(demo_rows(out(result))[0]) == 4


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="finds the endpoint's process in /proc (Linux)")
def test_demo_whose_endpoint_dies_says_so_on_one_line(backend_env):
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastsmr", "demo", "--quick", "--tokens", "200000", "--rounds", "20",
         "--answer-tokens", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=backend_env,
    )
    try:
        first = proc.stderr.readline()
        if b"PythonDeprecationWarning: Boto3 will no longer support Python" in first:  # boto3's, on 3.9
            proc.stderr.readline()  # the source line Python shows with it
            first = proc.stderr.readline()
        assert first.startswith(b"measuring: 0 of 20 rounds done"), first  # streaming from the endpoint
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as children:
            (server,) = children.read().split()
        os.kill(int(server), signal.SIGKILL)
        _, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
        proc.wait(TIMEOUT)
    assert proc.returncode == 1
    *progress, last = stderr.decode().splitlines()
    assert all(line.startswith("measuring: ") for line in progress)
    head = "fastsmr demo: the local endpoint (a child process) failed: "
    assert last.startswith(head), last
    # How the killed endpoint's socket goes (a FIN or a reset, inside a chunk
    # or between two) is the kernel's timing: each has its sentence.
    assert last[len(head):].startswith((
        "the endpoint closed the connection before the end of the response",
        "the endpoint reset the connection (",
        "the connection failed (",
    )), last
    assert last.endswith("; run the demo again"), last


def test_invoke_bidirectional_without_the_new_sdk_says_what_to_install(env):
    hidden = "import sys; sys.modules['aws_sdk_sagemaker_runtime_http2'] = None; from fastsmr.cli import main; "
    result = subprocess.run(
        [sys.executable, "-c", hidden + "sys.exit(main(['invoke', '--bidirectional', 'x', '--body', 'x']))"],
        capture_output=True, env=env, timeout=TIMEOUT,
    )
    assert result.returncode == 2
    assert "pip install 'fastsmr[smithy]'" in err(result) and "Python 3.12" in err(result)

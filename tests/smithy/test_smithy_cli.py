"""``fastsmr serve --bidirectional`` and ``fastsmr invoke --bidirectional``, as subprocesses."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading

import pytest

from fastsmr.testing import generate_text, generate_tokens, render_stream

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


def run(env, *args):
    return subprocess.run([sys.executable, "-m", "fastsmr", *args], capture_output=True, env=env, timeout=TIMEOUT)


class Served:
    """``fastsmr serve --bidirectional`` in a child process: its URL and CA file."""

    def __init__(self, env, *args):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fastsmr", "serve", "--bidirectional", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self.lines.get(timeout=TIMEOUT)
        assert first.startswith("endpoint_url: https://127.0.0.1:"), first + self.proc.stderr.read()
        self.url = first.split(": ", 1)[1].strip()
        second = self.lines.get(timeout=TIMEOUT)
        assert second.startswith("ca_bundle: "), second
        self.ca_bundle = second.split(": ", 1)[1].strip()

    def _read(self):
        for line in iter(self.proc.stdout.readline, ""):
            self.lines.put(line)

    def invoke(self, env, name, *args):
        return run(env, "invoke", "--bidirectional", name, "--endpoint-url", self.url, "--ca-bundle", self.ca_bundle,
                   *args)

    def stop(self, signum=signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(TIMEOUT)
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()


@pytest.fixture(scope="module")
def served(env):
    running = Served(env, "--tokens", "25")
    yield running
    assert running.stop() == 0
    assert not os.path.exists(running.ca_bundle)  # the temporary CA file goes with the server


@pytest.mark.parametrize("fmt", ["tgi", "openai", "raw"])
def test_invoke_prints_the_answer(env, served, fmt):
    result = served.invoke(env, fmt, "--body", '{"inputs": "Hello"}')
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == generate_text(25)


def test_invoke_raw_and_events(env, served):
    raw = served.invoke(env, "lmi", "--body", '{"inputs": "Hi", "parameters": {"max_new_tokens": 4}}', "--raw")
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout == b"".join(render_stream("lmi", generate_tokens(4)))
    events = served.invoke(env, "echo", "--body", "echo me", "--events")
    assert events.returncode == 0, events.stderr
    lines = [json.loads(line) for line in events.stdout.decode().splitlines()]
    assert lines == [
        {"PayloadPart": {"Bytes": "echo me", "DataType": "UTF8", "CompletionState": "PARTIAL"}},
        {"PayloadPart": {"Bytes": "", "DataType": "UTF8", "CompletionState": "COMPLETE"}},
    ]


def test_invoke_sends_a_large_body_in_parts(env, served, tmp_path):
    body = tmp_path / "body.bin"
    body.write_bytes(bytes(range(256)) * 1000)  # 256,000 bytes: four request parts
    result = served.invoke(env, "echo", "--body", f"@{body}", "--raw", "--data-type", "BINARY")
    assert result.returncode == 0, result.stderr
    assert result.stdout == body.read_bytes()


def test_invoke_errors_and_exit_codes(env, served):
    fault = served.invoke(env, "raw", "--body", '{"inputs": "x", "fastsmr": {"fault": "model-stream-error", "fail_after": 2}}')
    assert fault.returncode == 1
    assert fault.stdout.decode() == generate_text(2)
    assert fault.stderr.decode().startswith("fastsmr invoke: ModelStreamError: ")
    corrupt = served.invoke(env, "raw", "--body", '{"inputs": "x", "fastsmr": {"fault": "bad-crc", "fail_after": 2}}')
    assert corrupt.returncode == 1 and "CRC mismatch" in corrupt.stderr.decode()
    missing = served.invoke(env, "nope", "--body", "x")
    assert missing.returncode == 1 and "InputValidationError" in missing.stderr.decode()
    refused = run(env, "invoke", "--bidirectional", "raw", "--endpoint-url", "https://127.0.0.1:1",
                  "--ca-bundle", served.ca_bundle, "--body", "x")
    assert refused.returncode == 3 and "could not reach" in refused.stderr.decode()


def test_options_that_do_not_apply_are_usage_errors(env, served, tmp_path):
    misplaced = run(env, "invoke", "raw", "--ca-bundle", served.ca_bundle, "--body", "x")
    assert misplaced.returncode == 2 and "--ca-bundle goes with --bidirectional" in misplaced.stderr.decode()
    attributes = served.invoke(env, "raw", "--body", "x", "--custom-attributes", "a=b")
    assert attributes.returncode == 2
    ca_file = run(env, "serve", "--port", "0", "--ca-file", str(tmp_path / "ca.pem"))
    assert ca_file.returncode == 2 and "--ca-file goes with --bidirectional" in ca_file.stderr.decode()
    unreadable = run(env, "invoke", "--bidirectional", "raw", "--endpoint-url", served.url,
                     "--ca-bundle", str(tmp_path / "absent.pem"), "--body", "x")
    assert unreadable.returncode == 2 and "--ca-bundle" in unreadable.stderr.decode()


def test_serve_writes_the_ca_where_asked(env, tmp_path):
    ca_file = tmp_path / "local-ca.pem"
    served = Served(env, "--ca-file", str(ca_file), "--endpoint", "chat", "--format", "openai", "--tokens", "3")
    try:
        assert served.ca_bundle == str(ca_file) and ca_file.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
        result = served.invoke(env, "chat", "--body", "{}")
        assert result.returncode == 0 and result.stdout.decode() == generate_text(3)
    finally:
        assert served.stop(signal.SIGINT) == 0
    assert ca_file.exists()  # the caller's file stays

"""``fastsmr invoke`` exits 1 with the reason on every stream whose text cannot
all be shown: an in-band error of the model server, or output in another
format than the one named. Run through the command's entry point against the
local endpoint, on both backends: a few as subprocesses (the installed
command, as a user runs it), every combination in-process (the same
``fastsmr.cli.main`` the console script calls)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fastsmr.cli import main
from fastsmr.testing import generate_text, generate_tokens, render_stream

FAIL = "fastsmr-tokens=10; fastsmr-fault=generation-error; fastsmr-fail-after=4"

# format -> what the server says (its message and fields, as str(ModelServerError) shows them)
REASONS = {
    "tgi": "model server error: Request failed during generation: Server error: CUDA out of memory (type 'generation'; ",
    "lmi": "model server error: exception occurred during rolling batch inference (code 424; ",
    "openai": "model server error: Internal server error (type 'InternalServerError'; code 500; ",
}


def error_offset(fmt: str, tokens: int) -> int:
    """Where the server's error starts in the stream: after the tokens before it."""
    return len(b"".join(render_stream(fmt, generate_tokens(tokens), finish=False)))


# (endpoint, --format) pairs whose output is in another format than the one named
MISMATCHES = [("lmi", "tgi"), ("lmi", "openai"), ("tgi", "lmi"), ("openai", "lmi"), ("tgi", "openai"), ("openai", "tgi"),
              ("raw", "tgi"), ("raw", "lmi"), ("raw", "openai")]


def invoke_in_process(capsysbinary, endpoint, name, *args):
    code = main(["invoke", name, "--endpoint-url", endpoint.url, "--body", '{"inputs": "Hi"}', *args])
    captured = capsysbinary.readouterr()
    return code, captured.out.decode(), captured.err.decode()


@pytest.mark.parametrize("fmt", sorted(REASONS))
@pytest.mark.parametrize("read_as", ["auto", "named"])
@pytest.mark.parametrize("part_bytes", [0, 7])
def test_in_band_error_exits_1_with_the_servers_reason(backend, capsysbinary, endpoint, fmt, read_as, part_bytes):
    args = ["--custom-attributes", f"{FAIL}; fastsmr-part-bytes={part_bytes}"]
    if read_as == "named":
        args += ["--format", fmt]
    code, out, err = invoke_in_process(capsysbinary, endpoint, fmt, *args)
    assert code == 1
    assert out == generate_text(4)  # the text before the error was shown
    shown = fmt if read_as == "named" else "auto"
    assert err == f"fastsmr invoke: the stream failed: {REASONS[fmt]}{shown} stream, byte {error_offset(fmt, 4)})\n"


@pytest.mark.parametrize("fmt, read_as", MISMATCHES)
def test_output_in_another_format_exits_1_naming_format_offset_and_bytes(backend, capsysbinary, endpoint, fmt, read_as):
    code, out, err = invoke_in_process(capsysbinary, endpoint, fmt, "--format", read_as, "--custom-attributes", "fastsmr-tokens=5")
    assert code == 1
    assert out == ""
    first_line = b"".join(render_stream(fmt, generate_tokens(5))).split(b"\n")[0]
    if read_as != "lmi" and first_line.startswith(b"data:"):  # an SSE event's data is what does not fit
        first_line = first_line[5:].lstrip(b" ")
    assert err.startswith(f"fastsmr invoke: the stream failed: {read_as} stream, byte 0: ")
    assert repr(first_line[:24])[:-1] in err
    assert len(err.splitlines()) == 1


def test_error_after_the_last_token_still_fails(backend, capsysbinary, endpoint):
    # The error object comes after data: [DONE]: it is no framing.
    code, out, err = invoke_in_process(
        capsysbinary, endpoint, "openai", "--custom-attributes", "fastsmr-tokens=3; fastsmr-fault=generation-error; fastsmr-fail-after=9"
    )
    assert (code, out) == (1, generate_text(3))
    assert err.startswith("fastsmr invoke: the stream failed: model server error: Internal server error")


# --- the installed command, as a subprocess -------------------------------------------


@pytest.fixture(params=["c", "python"])
def command_env(request):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_EC2_METADATA_DISABLED="true", PYTHONIOENCODING="utf-8")
    if request.param == "python":
        env["FASTSMR_NO_EXTENSIONS"] = "1"
    else:
        env.pop("FASTSMR_NO_EXTENSIONS", None)
        pytest.importorskip("fastsmr.codec._codec_c")
    return env


def run(env, endpoint, name, *args):
    return subprocess.run(
        [sys.executable, "-m", "fastsmr", "invoke", name, "--endpoint-url", endpoint.url, "--body", "{}", *args],
        capture_output=True, env=env, timeout=120,
    )


def test_command_lmi_read_as_tgi(command_env, endpoint):
    # Issue 13: this printed nothing and exited 0.
    result = run(command_env, endpoint, "lmi", "--format", "tgi", "--custom-attributes", "fastsmr-tokens=5")
    assert (result.returncode, result.stdout) == (1, b"")
    assert result.stderr.decode().startswith(
        "fastsmr invoke: the stream failed: tgi stream, byte 0: a line that is no Server-Sent Events field"
    )


@pytest.mark.parametrize("fmt", ["lmi", "openai"])
def test_command_in_band_error(command_env, endpoint, fmt):
    result = run(command_env, endpoint, fmt, "--custom-attributes", FAIL)
    assert result.returncode == 1
    assert result.stdout.decode() == generate_text(4)
    assert result.stderr.decode() == (
        f"fastsmr invoke: the stream failed: {REASONS[fmt]}auto stream, byte {error_offset(fmt, 4)})\n"
    )

"""Without an optional dependency, the ImportError names the extra that installs it.

Each case runs in a child interpreter started with ``-S`` (no site-packages)
that sees only the standard library and this fastsmr, so botocore, boto3 and
aiobotocore are really absent, as in a fresh venv with fastsmr alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import fastsmr

TIMEOUT = 60


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """Runs code in an interpreter that has the standard library and fastsmr, nothing else."""
    root = tmp_path_factory.mktemp("bare")
    os.symlink(os.path.dirname(os.path.abspath(fastsmr.__file__)), root / "fastsmr")

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(root)

    def run(code: str = "", *args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-S", *(("-c", textwrap.dedent(code)) if code else args)]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=TIMEOUT)

    absent = run("""
        import importlib.util
        print([m for m in ("botocore", "boto3", "aiobotocore") if importlib.util.find_spec(m)])
        """)
    assert absent.stdout.strip() == "[]", absent.stdout + absent.stderr
    return run


def test_the_codec_needs_nothing(bare):
    done = bare("""
        import fastsmr
        (message,) = fastsmr.decode(fastsmr.encode({":event-type": "PayloadPart"}, b"hi"))
        print(message.payload, fastsmr.is_installed())
        fastsmr.uninstall()
        """)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "b'hi' False\n"


@pytest.mark.parametrize(
    "call, message",
    [
        ("fastsmr.install()", "fastsmr.install() found no AWS SDK to install into: pip install 'fastsmr[boto]' for "
                              "botocore (boto3's), or on Python 3.12+ pip install 'fastsmr[smithy]' for the new AWS SDK"),
        ("fastsmr.wrap(None)", "fastsmr.wrap() needs botocore, which is not installed: pip install 'fastsmr[boto]'"),
        ("fastsmr.payload_parts(None)",
         "fastsmr.payload_parts() needs botocore, which is not installed: pip install 'fastsmr[boto]'"),
        ("fastsmr.close_buffer(None)",
         "fastsmr.close_buffer() needs botocore, which is not installed: pip install 'fastsmr[boto]'"),
        ("fastsmr.boto.install()",
         "fastsmr.boto.install() needs botocore, which is not installed: pip install 'fastsmr[boto]'"),
        ("fastsmr.aio.payload_parts(None)",
         "fastsmr.aio.payload_parts() needs aiobotocore, which is not installed: pip install 'fastsmr[aio]'"),
        ("__import__('fastsmr.testing').testing.StreamingEndpoint().client()",
         "StreamingEndpoint.client() needs boto3, which is not installed: pip install 'fastsmr[demo]'"),
    ],
)
def test_a_missing_dependency_names_the_extra(bare, call, message):
    done = bare(f"""
        import fastsmr
        try:
            {call}
        except ImportError as exc:
            print(type(exc).__name__, exc, sep=": ")
        """)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"ModuleNotFoundError: {message}\n"


@pytest.mark.parametrize("command", [["demo", "--quick"], ["invoke", "tgi", "--body", "{}"]])
def test_commands_that_need_boto3_say_so_without_it(bare, command):
    done = bare("", "-m", "fastsmr", *command)
    assert done.returncode == 2
    assert done.stderr == f"fastsmr {command[0]}: needs boto3, which is not installed: pip install 'fastsmr[demo]'\n"


def test_aio_without_aiobotocore_but_with_botocore():
    # botocore present, aiobotocore blocked: the error still names the aio extra
    pytest.importorskip("botocore")
    code = (
        "import sys; sys.modules['aiobotocore'] = None\n"
        "import fastsmr\n"
        "try: fastsmr.aio.payload_parts(None)\n"
        "except ImportError as exc: print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.stdout == "fastsmr.aio.payload_parts() needs aiobotocore, which is not installed: pip install 'fastsmr[aio]'\n"


def test_other_import_errors_pass_through():
    from fastsmr._extras import needs

    with pytest.raises(ModuleNotFoundError) as caught:
        with needs("feature", "boto", "botocore"):
            import fastsmr_no_such_module  # noqa: F401
    assert caught.value.name == "fastsmr_no_such_module"
    assert "pip install" not in str(caught.value)


def test_docstring_examples():
    import doctest

    from fastsmr import _extras

    result = doctest.testmod(_extras)
    assert result.failed == 0 and result.attempted > 0

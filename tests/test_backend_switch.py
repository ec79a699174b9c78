"""``pytest --backend c`` (or ``--no-c-extensions``) runs the backend-parametrised tests on one backend."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))


def collected(*options: str):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", *options,
         os.path.join(TESTS, "codec", "test_codec.py"), os.path.join(TESTS, "endpoint", "test_endpoint_faults.py")],
        capture_output=True, text=True, timeout=120, cwd=os.path.dirname(TESTS),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if "::" in line]


def ids(tests, value):
    return [t for t in tests if f"[{value}]" in t or f"[{value}-" in t or f"-{value}]" in t or f"-{value}-" in t]


def test_the_backend_switch():
    every = collected()
    assert ids(every, "c") and ids(every, "python") and ids(every, "stock")
    unparametrised = [t for t in every if "[" not in t]
    for options, kept, dropped in ((["--backend", "c"], "c", "python"), (["--no-c-extensions"], "python", "c")):
        some = collected(*options)
        assert ids(some, dropped) == []
        assert ids(some, kept) == ids(every, kept)
        assert ids(some, "stock") == ids(every, "stock")  # botocore's own decoder is no backend
        assert set(unparametrised) <= set(some)


def test_an_unknown_backend_is_a_usage_error():
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "--backend", "rust",
                           os.path.join(TESTS, "codec", "test_codec.py")],
                          capture_output=True, text=True, timeout=120, cwd=os.path.dirname(TESTS))
    assert done.returncode == 4  # pytest's usage error
    assert "invalid choice: 'rust'" in done.stderr

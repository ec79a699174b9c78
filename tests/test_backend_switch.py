"""``pytest --backend c`` (or ``--no-c-extensions``) runs the backend-parametrised tests on one backend."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))


def _conftest():
    """tests/conftest.py itself ("import conftest" may give another directory's conftest)."""
    spec = importlib.util.spec_from_file_location("fastsmr_tests_conftest", os.path.join(TESTS, "conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


conftest = _conftest()


class Config:
    """What the hook reads of pytest's config, and what it reports as deselected."""

    def __init__(self, backends):
        self.backends = backends
        self.deselected = []
        self.hook = types.SimpleNamespace(pytest_deselected=lambda items: self.deselected.extend(items))

    def getoption(self, name):
        assert name == "fastsmr_backends"
        return self.backends


def item(name, **params):
    test = types.SimpleNamespace(name=name)
    if params:
        test.callspec = types.SimpleNamespace(params=params)
    return test


ITEMS = [
    item("plain"),
    item("codec[c]", backend="c"),
    item("codec[python]", backend="python"),
    item("faults[stock]", decoding="stock"),
    item("faults[c]", decoding="c"),
    item("faults[python]", decoding="python"),
    item("text[python-tgi]", backend="python", format="tgi"),
    item("format[python]", language="python"),  # a parameter that is not a backend fixture
]


@pytest.mark.parametrize(
    "backends, kept",
    [
        (None, [t.name for t in ITEMS]),
        (["c", "python"], [t.name for t in ITEMS]),
        (["c"], ["plain", "codec[c]", "faults[stock]", "faults[c]", "format[python]"]),
        (["python"], ["plain", "codec[python]", "faults[stock]", "faults[python]", "text[python-tgi]", "format[python]"]),
    ],
)
def test_the_hook_deselects_the_other_backend(backends, kept):
    items, config = list(ITEMS), Config(backends)
    conftest.pytest_collection_modifyitems(config, items)
    assert [t.name for t in items] == kept
    assert sorted(t.name for t in config.deselected) == sorted(set(t.name for t in ITEMS) - set(kept))


@pytest.mark.parametrize("options", [["--backend", "c"], ["--no-c-extensions"]])
def test_the_options_reach_the_hook(options):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", *options,
         os.path.join(TESTS, "endpoint", "test_endpoint_faults.py")],
        capture_output=True, text=True, timeout=120, cwd=os.path.dirname(TESTS),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tests = [line for line in done.stdout.splitlines() if "::" in line]
    kept, dropped = ("c", "python") if options[0] == "--backend" else ("python", "c")
    assert any(f"[{kept}-" in t for t in tests) and any("[stock-" in t for t in tests)
    assert not any(f"[{dropped}-" in t for t in tests)

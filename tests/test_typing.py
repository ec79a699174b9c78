"""The public API's types: the checkers accept a typed user program and report each marked mistake.

``tests/typing/user_program.py`` must pass ``mypy --strict`` and pyright
(its ``assert_type`` calls state what they infer); in
``tests/typing/user_errors.py`` every line marked ``# E`` must be reported,
and no other line. The type checkers come with the ``typing`` extra; without
them these tests skip (``.ci/run``'s lint stage installs them).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
from typing import Set

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TYPING = ROOT / "tests" / "typing"
PYPROJECT = ROOT / "pyproject.toml"
TIMEOUT = 300

pytestmark = pytest.mark.skipif(not PYPROJECT.exists(), reason="the checkers' settings are in the checkout's pyproject.toml")


def marked(path: pathlib.Path) -> Set[int]:
    return {number for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if re.match(r"\S.*#\s*E:", line)}


def mypy(path: pathlib.Path, tmp_path: pathlib.Path) -> Set[int]:
    api = pytest.importorskip("mypy.api", reason="mypy is not installed (pip install 'fastsmr[typing]')")
    cache = os.environ.get("MYPY_CACHE_DIR") or str(tmp_path / "mypy")  # .ci/run shares its run's cache
    out, err, _ = api.run(["--config-file", str(PYPROJECT), "--cache-dir", cache,
                           "--no-error-summary", "--show-error-codes", str(path)])
    assert not err, err
    # mypy names the file relative to the working directory when it is under it
    return {int(m.group(1)) for m in re.finditer(rf"^(?:.*/)?{re.escape(path.name)}:(\d+): error:", out, re.M)}


def pyright(path: pathlib.Path) -> Set[int]:
    found = shutil.which("basedpyright", path=os.path.dirname(sys.executable)) or shutil.which("pyright")
    if found is None:
        pytest.skip("pyright is not installed (pip install 'fastsmr[typing]')")
    # --pythonpath: this interpreter's packages (botocore's stubs), wherever pyright runs from
    done = subprocess.run([found, "--outputjson", "--pythonpath", sys.executable, "--project", str(PYPROJECT), str(path)],
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    report = json.loads(done.stdout)
    return {d["range"]["start"]["line"] + 1 for d in report["generalDiagnostics"] if d["severity"] == "error"}


@pytest.mark.parametrize("checker", ["mypy", "pyright"])
def test_the_user_program_type_checks(checker, tmp_path):
    path = TYPING / "user_program.py"
    errors = mypy(path, tmp_path) if checker == "mypy" else pyright(path)
    assert not errors, f"{checker} reports errors on lines {sorted(errors)} of {path.name}"


@pytest.mark.parametrize("checker", ["mypy", "pyright"])
def test_each_marked_mistake_is_reported(checker, tmp_path):
    path = TYPING / "user_errors.py"
    expected = marked(path)
    assert len(expected) >= 8
    errors = mypy(path, tmp_path) if checker == "mypy" else pyright(path)
    assert errors == expected, f"{checker}: missed {sorted(expected - errors)}, unexpected {sorted(errors - expected)}"

"""Every Python example in the README runs as written.

Each ```python block runs in a fresh interpreter, in an empty directory,
with no AWS configuration; a block right after ``<!-- example: needs AWS -->``
is only compiled (the README says it needs AWS and shows the local variant),
and one that imports a package this environment lacks (the new AWS SDK
before Python 3.12) is skipped, saying which.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys

import pytest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
NEEDS_AWS = "<!-- example: needs AWS -->"


def imported(tree: ast.AST):
    """The top-level packages an example imports."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module.split(".")[0]


def examples():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    found = []
    for match in re.finditer(r"^```python\n(.*?)^```$", text, re.M | re.S):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
        found.append(pytest.param(match.group(1), before == NEEDS_AWS, id=f"line-{line}"))
    return found


@pytest.mark.skipif(not os.path.exists(README), reason="the README is not next to the tests (an installed copy)")
@pytest.mark.parametrize("code, needs_aws", examples())
def test_readme_example(code, needs_aws, tmp_path):
    tree = compile(code, "README.md", "exec", ast.PyCF_ONLY_AST)
    if needs_aws:
        return
    absent = sorted(name for name in imported(tree) if importlib.util.find_spec(name) is None)
    if absent:  # e.g. the new AWS SDK's examples under Python 3.11
        pytest.skip(f"the example imports {', '.join(absent)}, which is not installed")
    pytest.importorskip("boto3")  # fastsmr.testing's client()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true", PYTHONIOENCODING="utf-8")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "an example that prints nothing shows nothing"

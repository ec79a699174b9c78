"""Every ``>>>`` example in fastsmr's docstrings runs, once per backend.

The modules are found by reading the installed package's sources: each
``.py`` file that holds an example, and the extension's stub
(``codec/_codec_c.pyi``), whose docstrings are the C backend's documentation
and run against whichever backend the case takes. An example that imports a
package this environment lacks (the new AWS SDK before Python 3.12) is left
out, and a module left with none is skipped, saying which package is missing.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import importlib.util
import pathlib
import types
from typing import Iterator, List, Set

import pytest

import fastsmr

PACKAGE = pathlib.Path(fastsmr.__file__).resolve().parent


def _name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> List[pathlib.Path]:
    """The package's .py and .pyi files that hold a ``>>>`` example."""
    return sorted(
        path for pattern in ("*.py", "*.pyi") for path in PACKAGE.rglob(pattern)
        if ">>>" in path.read_text(encoding="utf-8")
    )


def _stub_docstrings(path: pathlib.Path) -> Iterator[tuple]:
    """(qualified name, docstring, line) of the stub's module, classes and functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple]:
        doc = ast.get_docstring(node, clean=False) if isinstance(
            node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) else None
        if doc:
            yield prefix, doc, node.body[0].lineno if not isinstance(node, ast.Module) else 1
        for child in getattr(node, "body", []):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                yield from walk(child, f"{prefix}.{child.name}")

    yield from walk(tree, _name(path))


def _imported(source: str) -> Iterator[str]:
    """The top-level packages an example imports."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a continuation line's fragment: the example's first line names the import
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module.split(".")[0]


def doctests(path: pathlib.Path, backend: types.ModuleType) -> List[doctest.DocTest]:
    """The examples of one source file, with the globals they run in."""
    if path.suffix == ".pyi":
        parser = doctest.DocTestParser()
        globs = dict(vars(backend))
        return [parser.get_doctest(doc, dict(globs), name, str(path), line)
                for name, doc, line in _stub_docstrings(path)]
    module = importlib.import_module(_name(path))
    return [test for test in doctest.DocTestFinder().find(module) if test.examples]


@pytest.fixture
def stock_install_state():
    """Examples install and uninstall the drop-ins: each module starts uninstalled and leaves them as found."""
    was = fastsmr.is_installed()
    fastsmr.uninstall()
    yield
    fastsmr.uninstall()
    if was:
        fastsmr.install()


@pytest.mark.parametrize("path", sources(), ids=lambda path: _name(path) + ("[stub]" if path.suffix == ".pyi" else ""))
def test_docstring_examples(path, backend, stock_install_state, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing an example writes lands in the checkout
    try:
        tests = doctests(path, backend)
    except ImportError as exc:
        missing = exc.name or getattr(exc.__cause__, "name", None)  # fastsmr.smithy names its extra
        if missing is None or missing.split(".")[0] == "fastsmr":
            raise
        pytest.skip(f"{_name(path)} needs {missing}, which is not installed")
    absent: Set[str] = set()
    runnable = []
    for test in tests:
        missing = {name for example in test.examples if example.exc_msg is None  # not an example of the error
                   for name in _imported(example.source) if importlib.util.find_spec(name) is None}
        absent |= missing
        if not missing:
            runnable.append(test)
    if not runnable:
        pytest.skip(f"the examples of {_name(path)} import {', '.join(sorted(absent))}, which is not installed")
    report: List[str] = []
    runner = doctest.DocTestRunner(verbose=False)
    for test in runnable:
        test.globs.setdefault("fastsmr", fastsmr)  # some module docstrings' examples start after `import fastsmr`
        runner.run(test, out=report.append)
    assert runner.tries, f"{path} holds '>>>' but no example was found"
    assert not runner.failures, "".join(report)

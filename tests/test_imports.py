"""Every module imports on its own, and imports run down the layers only.

Each module is imported first thing in a fresh interpreter, so an import cycle
(which a warm ``sys.modules`` hides) fails here. The layering of
``ARCHITECTURE.md`` is read off the source with :mod:`ast`: a module may import
from its own subpackage and from the layers below it, never from a layer above
or beside it, and nothing below the command line imports the top-level
``fastsmr`` package (whose ``__init__`` imports every layer).
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

import fastsmr

PACKAGE = Path(fastsmr.__file__).resolve().parent

#: The layer of each part of the package, lowest first, and what it may import.
MAY_IMPORT: Dict[str, Tuple[str, ...]] = {
    "_warnings": (),
    "_install": ("boto", "smithy"),
    "_extras": (),
    "codec": (),
    "tokens": ("codec",),
    "boto": ("codec", "_warnings", "_extras"),
    "smithy": ("codec", "_warnings", "boto.errors"),
    "aio": ("tokens", "boto", "_extras"),
    "mux": ("codec", "tokens", "boto"),
    "testing": ("codec", "tokens", "_extras"),
    "cli": ("*",),
    "__init__": ("*",),
    "__main__": ("cli",),
}

#: Third-party packages a module needs, by module-name prefix: skipped when absent.
NEEDS = {
    "fastsmr.boto.": ("botocore", "urllib3"),
    "fastsmr.boto.aio": ("aiobotocore", "aiohttp"),
    "fastsmr.mux._boto": ("botocore", "urllib3"),
    "fastsmr.smithy": ("smithy_core",),
    "fastsmr.testing.sdk": ("smithy_http", "awscrt"),
    "fastsmr.testing.pytest_plugin": ("pytest",),
}


def _modules() -> Iterator[Tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


MODULES = list(_modules())


def _missing(module: str) -> Optional[str]:
    for prefix, requirements in NEEDS.items():
        if module == prefix.rstrip(".") or module.startswith(prefix):
            for requirement in requirements:
                if importlib.util.find_spec(requirement) is None:
                    return requirement
    return None


@pytest.mark.parametrize("module", [name for name, _ in MODULES if name != "fastsmr.__main__"])  # a script
def test_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    absent = _missing(module)
    if absent:
        pytest.skip(f"{module} needs {absent}, which is not installed")
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def _part(module: str) -> str:
    """The layer a ``fastsmr.x.y`` module belongs to: ``x`` (``__init__`` for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imported(path: Path, module: str) -> List[Tuple[int, str]]:
    """The fastsmr modules ``path`` imports in its code (docstrings' examples excluded), absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "fastsmr"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "fastsmr":
                continue
            if node.module is None or target == "fastsmr":  # "from . import x": each name is a module
                found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return found


def _allowed(source: str, target: str) -> bool:
    own, theirs = _part(source), target.split(".", 1)[1] if "." in target else "__init__"
    if own == theirs.split(".")[0]:
        return True
    rules = MAY_IMPORT[own]
    return "*" in rules or any(theirs == rule or theirs.startswith(rule + ".") for rule in rules)


def test_every_part_of_the_package_has_a_layer() -> None:
    assert {_part(name) for name, _ in MODULES} <= set(MAY_IMPORT)


@pytest.mark.parametrize("module, path", MODULES, ids=[name for name, _ in MODULES])
def test_imports_run_down_the_layers(module: str, path: Path) -> None:
    wrong = [f"line {line}: {target}" for line, target in _imported(path, module) if not _allowed(module, target)]
    assert not wrong, f"{module} ({_part(module)}) may import only {MAY_IMPORT[_part(module)]}: {wrong}"


def test_the_layer_check_sees_a_violation(tmp_path: Path) -> None:
    # The checker itself must be able to fail: a codec module importing the drop-in.
    bad = tmp_path / "bad.py"
    bad.write_text("from ..boto import install\nimport fastsmr\n", encoding="utf-8")
    found = [target for _, target in _imported(bad, "fastsmr.codec.bad")]
    assert found == ["fastsmr.boto", "fastsmr"]
    assert not _allowed("fastsmr.codec.bad", "fastsmr.boto")
    assert not _allowed("fastsmr.codec.bad", "fastsmr")

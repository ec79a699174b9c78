"""The extension's stub (codec/_codec_c.pyi) matches both backends at runtime.

A small stubtest of our own (mypy's stubtest cannot import a module per
backend): every name, function signature, method and property the stub
declares exists in the C extension, and in the pure-Python twin unless only
the C backend has it; what each module exports is declared; the twin's
docstrings are the stub's, word for word (the extension has its docstrings
in the stub only).
"""

from __future__ import annotations

import ast
import inspect
import pathlib
import types
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest

from fastsmr.codec import _codec_py
from support import backends

STUB = pathlib.Path(_codec_py.__file__).with_name("_codec_c.pyi")

#: What only the C backend has: the C loop of fastsmr.lines and the text fast path of the multiplexer.
C_ONLY = {"iter_lines", "TextEvents"}

Definition = ast.AST


def _stub() -> ast.Module:
    return ast.parse(STUB.read_text(encoding="utf-8"))


def declared(node: Any = None, prefix: str = "") -> Iterator[Tuple[str, Definition]]:
    """(qualified name, node) of the stub's top-level names, classes, functions, methods and properties."""
    for child in (node or _stub()).body:
        if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
            yield prefix + child.name, child
            if isinstance(child, ast.ClassDef):
                yield from declared(child, prefix + child.name + ".")
        elif isinstance(child, ast.AnnAssign) and isinstance(child.target, ast.Name) and not prefix:
            yield child.target.id, child


def stub_definitions() -> Dict[str, Definition]:
    """The stub's definitions by qualified name; of overloads, the first (the documented one)."""
    found: Dict[str, Definition] = {}
    for name, node in declared():
        found.setdefault(name, node)
    return found


def _lookup(module: types.ModuleType, qualname: str) -> Any:
    owner: Any = module
    for part in qualname.split("."):
        owner = inspect.getattr_static(owner, part)
    return owner


def _modules() -> Dict[str, types.ModuleType]:
    return {module.BACKEND: module for module in backends.chosen()}


def _applies(qualname: str, backend: str) -> bool:
    return backend == "c" or (qualname.split(".")[0] not in C_ONLY and not qualname.startswith("_"))


DECLARED = [name for name, node in declared() if not isinstance(node, ast.AnnAssign) or name != "_Handover"]


@pytest.mark.parametrize("qualname", DECLARED)
@pytest.mark.parametrize("backend_name", ["c", "python"])
def test_every_declared_name_exists(backend_name, qualname):
    module = backends.BUILT[backend_name]
    if module is None or backend_name not in backends.CHOSEN:
        pytest.skip(f"the {backend_name} backend is not built or not selected")
    if not _applies(qualname, backend_name) or qualname.startswith("_") and "." not in qualname and backend_name != "c":
        pytest.skip(f"{qualname} is the C backend's alone")
    if qualname in ("_Event",):
        return
    node = stub_definitions()[qualname]
    if isinstance(node, ast.AnnAssign):  # a module constant or a type alias the stub defines for itself
        if qualname.startswith("_"):
            return
        assert hasattr(module, qualname)
        return
    found = _lookup(module, qualname)
    decorators = [ast.unparse(d) for d in getattr(node, "decorator_list", [])]
    if isinstance(node, ast.ClassDef):
        assert isinstance(found, type)
    elif "property" in decorators:
        assert hasattr(found, "__get__") and not callable(found), f"{qualname} is not a data attribute"
    else:
        assert callable(found) or isinstance(found, (staticmethod, classmethod))


def _parameters(node: ast.FunctionDef) -> Tuple[Tuple[str, str, Optional[str]], ...]:
    """(name, kind, default) of a stub function's parameters, as inspect would list them."""
    args = node.args
    out = []
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for arg, default in zip(positional, defaults):
        kind = "POSITIONAL_ONLY" if arg in args.posonlyargs else "POSITIONAL_OR_KEYWORD"
        out.append((arg.arg, kind, None if default is None else repr(ast.literal_eval(default))))
    if args.vararg:
        out.append((args.vararg.arg, "VAR_POSITIONAL", None))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        out.append((arg.arg, "KEYWORD_ONLY", None if default is None else repr(ast.literal_eval(default))))
    if args.kwarg:
        out.append((args.kwarg.arg, "VAR_KEYWORD", None))
    return tuple(out)


def _runtime_parameters(function: Any) -> Optional[Tuple[Tuple[str, str, Optional[str]], ...]]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # an extension type's __init__ has none to read
        return None
    if list(signature.parameters) == ["self", "args", "kwargs"]:
        return None  # a C slot wrapper: the class declares nothing more precise
    return tuple(
        # a C slot wrapper's self is positional-only, which a stub does not spell
        (p.name, "POSITIONAL_OR_KEYWORD" if p.name == "self" else p.kind.name,
         None if p.default is p.empty else repr(p.default))
        for p in signature.parameters.values()
    )


FUNCTIONS = [
    name for name, node in declared()
    if isinstance(node, ast.FunctionDef) and not any(ast.unparse(d) in ("property", "overload") for d in node.decorator_list)
    and not name.endswith("__eq__")
]


@pytest.mark.parametrize("qualname", FUNCTIONS)
def test_signatures_match(qualname):
    node = stub_definitions()[qualname]
    stub = _parameters(node)
    checked = 0
    for name, module in _modules().items():
        if not _applies(qualname, name):
            continue
        function: Any = module
        for part in qualname.split("."):
            function = getattr(function, part)
        runtime = _runtime_parameters(function)
        if runtime is None:
            continue
        assert runtime == stub, f"{name} backend's {qualname}{runtime} differs from the stub's {stub}"
        checked += 1
    if not checked:
        pytest.skip(f"no selected backend lets {qualname}'s signature be read")


def test_overloaded_feed_matches_the_runtime():
    """Decoder.feed is declared by overloads; together they must be the runtime's (self, data, events=None)."""
    for name, module in _modules().items():
        assert _runtime_parameters(module.Decoder.feed) == (
            ("self", "POSITIONAL_OR_KEYWORD", None), ("data", "POSITIONAL_OR_KEYWORD", None),
            ("events", "POSITIONAL_OR_KEYWORD", "None")), name


@pytest.mark.parametrize("backend_name", ["c", "python"])
def test_every_export_is_declared(backend_name):
    module = backends.BUILT[backend_name]
    if module is None:
        pytest.skip("the C extension is not built")
    names = {name.split(".")[0] for name in stub_definitions()}
    assert set(module.__all__) <= names
    public_attributes = {
        f"{cls}.{attribute}" for cls in ("Message", "Decoder", "ChunkedDecoder")
        for attribute in dir(getattr(module, cls)) if not attribute.startswith("_")
    }
    assert public_attributes <= set(stub_definitions()), public_attributes - set(stub_definitions())


def test_the_decoder_takes_its_limits_by_keyword_only():
    for name, module in _modules().items():
        with pytest.raises(TypeError):
            module.Decoder(1024)
        assert module.Decoder(max_payload_length=1024, max_headers_length=64).buffered == 0, name


DOCUMENTED = [
    name for name, node in declared()
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node) and _applies(name, "python")
]


@pytest.mark.parametrize("qualname", DOCUMENTED)
def test_the_twin_has_the_stubs_docstrings(qualname):
    found = _lookup(_codec_py, qualname)
    if isinstance(found, property):
        found = found.fget
    if isinstance(found, types.MemberDescriptorType):
        pytest.skip(f"{qualname} is a slot of the twin: it has no docstring of its own")
    assert inspect.getdoc(found) == inspect.cleandoc(ast.get_docstring(stub_definitions()[qualname], clean=False))

"""What ``install()`` changes in botocore and aiobotocore, and how ``uninstall()`` puts it back.

Each :class:`Target` is one package (or part of one) the drop-in patches: a
probe saying whether its internals are the ones fastsmr knows, and the
attributes to set. :data:`TARGETS` lists them in order; adding a target is
adding an entry. ``install()`` sets every recognised target's attributes at
once, remembering what each class held; ``uninstall()`` restores exactly that.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, NamedTuple, Tuple

from . import compat

__all__ = ["Target", "TARGETS", "install", "uninstall", "is_installed"]

#: (class or module, {attribute: value}) pairs to set.
Patches = List[Tuple[Any, Dict[str, Any]]]


class Target(NamedTuple):
    """One thing install() patches."""

    #: The package, as warnings name it.
    name: str
    #: If it is not recognised, install() leaves everything stock and returns False
    #: (otherwise that target alone stays stock).
    required: bool
    #: Whether it is installed and its internals are the ones fastsmr knows
    #: (probed once; warns once if not).
    recognised: Callable[[], bool]
    #: What to set; called only when recognised.
    patches: Callable[[], Patches]


def _botocore() -> Patches:
    from . import buffer, parsing, sync

    return sync.patches() + buffer.patches() + parsing.patches()


def _aiobotocore() -> Patches:
    from . import aio

    return aio.patches()


TARGETS: List[Target] = [
    Target("botocore", True, compat.botocore_recognised, _botocore),
    Target("aiobotocore", False, compat.aiobotocore_recognised, _aiobotocore),
]

_LOCK = threading.Lock()
_MISSING = object()
# class -> {attribute: what the class itself held before install(), or _MISSING}
_ORIGINALS: Dict[Any, Dict[str, Any]] = {}


def install() -> bool:
    """Patch every recognised target; see :func:`fastsmr.install`."""
    with _LOCK:
        if _ORIGINALS:
            return True
        planned: Patches = []
        for target in TARGETS:
            if target.recognised():
                planned += target.patches()
            elif target.required:
                return False
        for owner, attributes in planned:
            saved = _ORIGINALS.setdefault(owner, {})
            for name, value in attributes.items():
                if name not in saved:
                    saved[name] = owner.__dict__.get(name, _MISSING)
                setattr(owner, name, value)
        return True


def uninstall() -> None:
    """Give every patched class back exactly what it held; see :func:`fastsmr.uninstall`."""
    with _LOCK:
        for owner, saved in _ORIGINALS.items():
            for name, value in saved.items():
                if value is _MISSING:
                    delattr(owner, name)
                else:
                    setattr(owner, name, value)
        _ORIGINALS.clear()


def is_installed() -> bool:
    """Whether install() is in effect; see :func:`fastsmr.is_installed`."""
    return bool(_ORIGINALS)

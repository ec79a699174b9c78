"""How the pure-Python twins take the bytes they are fed: what the C backend
takes (``PyObject_GetBuffer`` with ``PyBUF_SIMPLE``), refused with its words."""

from __future__ import annotations

from typing import Any

from .errors import not_bytes_like, not_contiguous

__all__ = ["byte_view"]


def byte_view(data: Any) -> memoryview:
    """``data``'s bytes as a flat memoryview of unsigned bytes (no copy).

    Raises what ``errors.buffer_error(data)`` gives: ``TypeError`` for an
    object that is not bytes-like, ``BufferError`` for one whose bytes are not
    contiguous.

    >>> import array
    >>> byte_view(array.array("H", [1])).tobytes() == array.array("H", [1]).tobytes()
    True
    """
    try:
        view = memoryview(data)
    except TypeError:
        raise not_bytes_like(data) from None
    if not view.c_contiguous:
        raise not_contiguous(data)
    return view if view.ndim == 1 and view.format == "B" else view.cast("B")

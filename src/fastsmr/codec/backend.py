"""The one place fastsmr chooses its backend: the C extension or the pure-Python twin.

``impl`` is the module in use and ``BACKEND`` its name (``"c"`` or ``"python"``).
The pure twin is chosen when ``FASTSMR_NO_EXTENSIONS`` is set, on interpreters
other than CPython (PyPy runs the pure code faster than it runs a C-API
extension), and when the extension was not built; type checkers read the
extension's stub.

Everything above the codec looks the classes up through ``backend.impl`` when
a stream starts rather than binding them at import, so that the test suite can
run every integration on each backend in turn by replacing ``impl``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

__all__ = ["BACKEND", "NO_EXTENSIONS", "impl"]

#: True when the environment or the interpreter rules the extension out.
NO_EXTENSIONS = bool(os.environ.get("FASTSMR_NO_EXTENSIONS")) or sys.implementation.name != "cpython"

if TYPE_CHECKING:
    from . import _codec_c as impl
elif NO_EXTENSIONS:
    from . import _codec_py as impl
else:
    try:
        from . import _codec_c as impl
    except ImportError:  # built without the extension (no compiler, or skipped)
        from . import _codec_py as impl

#: ``"c"`` or ``"python"``: the backend chosen at import.
BACKEND: str = impl.BACKEND

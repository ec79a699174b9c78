"""The codec backends this test run uses: both, or the one ``--backend`` / ``--no-c-extensions`` chose.

tests/conftest.py sets :data:`CHOSEN` from the command line (pytest_configure)
before any test module is collected; tests that compare the backends with each
other inside one test loop over :func:`chosen`.
"""

from __future__ import annotations

import types
from typing import Dict, List, Optional

from fastsmr.codec import _codec_py

try:
    from fastsmr.codec import _codec_c
except ImportError:  # the pure-only install: C cases skip
    _codec_c = None

#: Every backend by name, None for one that is not built.
BUILT: Dict[str, Optional[types.ModuleType]] = {"c": _codec_c, "python": _codec_py}

#: The names the command line selected (both by default).
CHOSEN: List[str] = list(BUILT)


def chosen() -> List[types.ModuleType]:
    """The backend modules of this run that are built, C first."""
    return [module for name, module in BUILT.items() if name in CHOSEN and module is not None]

"""Optional dependencies: an ImportError that names the extra to install.

The core has no runtime dependency; the integrations import botocore, boto3
or aiobotocore when they are first used. When one is missing, the error says
which feature needed it and which extra of fastsmr installs it, instead of a
bare ``No module named 'botocore'`` from deep inside fastsmr.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

__all__ = ["needs"]


@contextlib.contextmanager
def needs(feature: str, extra: str, *modules: str) -> Iterator[None]:
    """Raise a ``ModuleNotFoundError`` naming ``extra`` if one of ``modules`` cannot be imported inside.

    Only the listed top-level modules are translated; any other ImportError
    (a bug, a broken install of something else) propagates unchanged.

    >>> with needs("fastsmr.example()", "boto", "no_such_module"):
    ...     import no_such_module
    Traceback (most recent call last):
    ...
    ModuleNotFoundError: fastsmr.example() needs no_such_module, which is not installed: pip install 'fastsmr[boto]'
    """
    try:
        yield
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in modules:
            raise
        raise ModuleNotFoundError(
            f"{feature} needs {missing}, which is not installed: pip install 'fastsmr[{extra}]'", name=exc.name
        ) from None

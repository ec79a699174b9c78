"""``fastsmr.install()``: every AWS SDK for Python in the process at once.

botocore, boto3 and aiobotocore are the concern of :mod:`fastsmr.boto`; the
new SDK's clients (smithy-python) of :mod:`fastsmr.smithy`. Each is patched
when its packages are importable, so that ``install()`` works with either
alone.
"""

from __future__ import annotations

import functools
import importlib.util
import sys

from . import boto

__all__ = ["install", "uninstall", "is_installed"]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@functools.lru_cache(maxsize=None)
def _smithy_importable() -> bool:
    # Looked for once per process: install() may be called before every
    # client, and finding that a package is not there scans sys.path (and
    # runs every import hook: pytest's interns a new string each time).
    return _importable("smithy_aws_event_stream") and _importable("smithy_aws_core")


def install() -> bool:
    """Make every event stream in this process decode with fastsmr.

    It covers botocore's streams (boto3 and aiobotocore clients) when
    botocore is installed and the new SDK's (smithy-python clients such as
    ``aws-sdk-sagemaker-runtime-http2`` and ``aws-sdk-bedrock-runtime``) when
    smithy-python is: clients made before and after the call. Events,
    exceptions and the rest of each SDK stay its own. Calling it again is
    harmless; it is thread-safe. If an SDK's internals are not the ones
    fastsmr knows, it warns once (:class:`fastsmr.BotocoreCompatibilityWarning`,
    :class:`fastsmr.SmithyCompatibilityWarning`), leaves that SDK stock and
    returns False; otherwise it returns True. With neither SDK installed it
    raises ImportError.

    >>> import fastsmr
    >>> fastsmr.install()
    True
    >>> fastsmr.is_installed()
    True
    >>> fastsmr.uninstall()
    >>> fastsmr.is_installed()
    False
    """
    results = []
    if _importable("botocore"):
        results.append(boto.install())
    if _smithy_importable():
        from . import smithy

        results.append(smithy.install())
    if not results:
        raise ModuleNotFoundError(
            "fastsmr.install() found no AWS SDK to install into: pip install 'fastsmr[boto]' for botocore "
            "(boto3's), or on Python 3.12+ pip install 'fastsmr[smithy]' for the new AWS SDK",
            name="botocore",
        )
    return all(results)


def uninstall() -> None:
    """Undo :func:`install`: every SDK gets back exactly its own methods.

    >>> import fastsmr
    >>> fastsmr.uninstall()  # harmless when not installed
    >>> fastsmr.is_installed()
    False
    """
    boto.uninstall()
    smithy = sys.modules.get("fastsmr.smithy")
    if smithy is not None:
        smithy.uninstall()


def is_installed() -> bool:
    """Whether :func:`install` is in effect (for any SDK).

    >>> import fastsmr
    >>> fastsmr.is_installed()
    False
    """
    smithy = sys.modules.get("fastsmr.smithy")
    return boto.is_installed() or (smithy is not None and smithy.is_installed())

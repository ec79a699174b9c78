"""Warnings fastsmr issues (importable without botocore, so that they can be filtered)."""

from __future__ import annotations

__all__ = ["FastsmrWarning", "BotocoreCompatibilityWarning", "SmithyCompatibilityWarning"]


class FastsmrWarning(UserWarning):
    """Base class of fastsmr's warnings."""


class BotocoreCompatibilityWarning(FastsmrWarning):
    """botocore's (or aiobotocore's) internals are not the ones fastsmr knows.

    ``fastsmr.install()`` then leaves them stock: the program keeps working at
    botocore's speed.
    """


class SmithyCompatibilityWarning(FastsmrWarning):
    """smithy-python's internals are not the ones fastsmr knows.

    ``fastsmr.install()`` (and ``fastsmr.smithy.plugin``) then leave it stock:
    the program keeps working at smithy-python's speed.
    """

"""The fixtures the integration tests share (tests/support/consumers.py)."""

from support.consumers import decoders, stock_botocore  # noqa: F401 - fixtures, found by pytest under these names

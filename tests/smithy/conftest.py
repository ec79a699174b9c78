"""Tests of the new AWS SDK for Python drop-in (fastsmr.smithy) and the HTTP/2 endpoint.

smithy-python needs Python 3.12+: without its packages only test_smithy_compat.py is
collected, and it skips with one reason (support.smithy_env.REASON).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.smithy_env import MISSING

collect_ignore = [path.name for path in Path(__file__).parent.glob("test_*.py") if path.name != "test_smithy_compat.py"] if MISSING else []


@pytest.fixture
def installed():
    """fastsmr.smithy.install() for the test."""
    import fastsmr.smithy

    assert fastsmr.smithy.install()
    yield
    fastsmr.smithy.uninstall()


@pytest.fixture(scope="module")
def bidirectional():
    """A BidirectionalEndpoint (HTTP/2, TLS) per test module."""
    from fastsmr.testing import BidirectionalEndpoint

    with BidirectionalEndpoint() as endpoint:
        yield endpoint

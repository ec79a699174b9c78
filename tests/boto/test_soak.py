"""A long-lived client: memory, descriptors and botocore's parsers stay flat over thousands of streams.

One boto3 client and one aiobotocore client each read ``FASTSMR_SOAK_STREAMS``
streams (default 100, a few seconds each; 20,000 is the size the bounds are set for) from
the local endpoint in a child process, rotating ``install()``, ``wrap()`` and
``payload_parts()``, one stream in ten ending in a decode error while the
rest of its body is on its way (so 2,000 of the 20,000). The measuring is the ``soak`` case of
``fastsmr bench`` (:mod:`fastsmr.cli.bench._soak`).

The bounds, for 20,000 streams: Python allocations (tracemalloc) and the
resident set grow by under 2 MB, a handful of botocore parser objects more
are alive at the end than at the start (botocore makes one per request), the
open descriptors do not grow. A shorter run is held to the same bytes per stream, plus what
CPython's type attribute cache may keep: it holds the last 4,096 attribute
names looked up through a type, and botocore looks its handlers up by names
it builds per call (``getattr(self, f"_handle_{type_name}")``), so stock
botocore's allocations grow by up to about 4,096 of those 60-byte strings
before they level off.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Iterator, List

import pytest

import fastsmr
from fastsmr.cli.bench._soak import ERRORS_EVERY, soak

STREAMS = int(os.environ.get("FASTSMR_SOAK_STREAMS", "100"))
FULL = 20_000
MEGABYTES_2 = 2_000_000
TYPE_CACHE = 4096 * 64


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    from fastsmr.cli.demo import ServerProcess

    with ServerProcess() as server:
        yield server.url


@pytest.mark.parametrize("kind", ["boto3", "aiobotocore"])
def test_a_long_lived_client_leaves_nothing_behind(backend, url, kind):
    pytest.importorskip(kind)
    growth = soak(url, kind, ["install", "wrap", "payload_parts"], STREAMS, warmup=30)
    print(f"{kind}, {fastsmr.codec.backend.impl.BACKEND} backend: {growth}")  # shown with pytest -rP
    assert growth.errors == STREAMS // ERRORS_EVERY
    traced_bound = min(MEGABYTES_2, MEGABYTES_2 * STREAMS // FULL + TYPE_CACHE)
    assert growth.traced_bytes is not None and growth.traced_bytes < traced_bound, growth
    if growth.rss_bytes is not None:
        assert growth.rss_bytes < MEGABYTES_2, growth
    if growth.descriptors is not None:
        assert growth.descriptors <= 2, growth
    assert growth.parsers <= 8, growth


class _Lookups:
    """A meta path finder that notes every module looked for (and finds none)."""

    def __init__(self) -> None:
        self.names: List[str] = []

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        self.names.append(name)


def test_install_called_again_looks_for_no_package():
    # The soak calls install() before every third stream. When it looked for
    # smithy-python's absent packages on each call, pytest's import hook
    # interned a new string each time, and after some 7,000 streams CPython
    # rebuilt its table of interned strings: 1.9 MB that tracemalloc counts as
    # new, though no stream left anything behind.
    pytest.importorskip("botocore")
    fastsmr.install()
    fastsmr.uninstall()
    lookups = _Lookups()
    sys.meta_path.insert(0, lookups)
    try:
        for _ in range(20):
            assert fastsmr.install()
            fastsmr.uninstall()
    finally:
        sys.meta_path.remove(lookups)
    assert lookups.names == []

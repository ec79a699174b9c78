"""Helpers and fixtures for tests/integrations: real consumers of botocore's decoder
(LiteLLM, langchain-aws) against the local endpoint.

They are installed by the ``integrations`` extra only (LiteLLM is heavy):
without them those tests skip, unless ``FASTSMR_INTEGRATIONS=required`` (the
CI stage that installs them sets it) turns a missing package into a failure.
A test module imports the fixtures it uses from here.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, List

import pytest

import fastsmr

# LiteLLM downloads its model price list at import unless told to use its own copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def require(name: str) -> Any:
    """Import ``name``, or skip (fail when the integrations are required)."""
    if os.environ.get("FASTSMR_INTEGRATIONS") == "required":
        return importlib.import_module(name)
    return pytest.importorskip(name)


@pytest.fixture(autouse=True)
def stock_botocore():
    fastsmr.uninstall()
    yield
    fastsmr.uninstall()


class _CountingBackend:
    """The backend under test, counting the decoders fastsmr makes: proof that it decoded."""

    def __init__(self, module: Any, made: List[Any]) -> None:
        self._module = module
        self._made = made

    def Decoder(self, *args: Any, **kwargs: Any) -> Any:
        decoder = self._module.Decoder(*args, **kwargs)
        self._made.append(decoder)
        return decoder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


@pytest.fixture
def decoders(backend, monkeypatch) -> List[Any]:
    """The decoders fastsmr made during the test, on the backend under test."""
    made: List[Any] = []
    monkeypatch.setattr(fastsmr.codec.backend, "impl", _CountingBackend(backend, made))
    return made


def stock_then_installed(run: Any, decoders: List[Any]) -> tuple:
    """``run()`` with botocore stock, then under ``fastsmr.install()``; fastsmr must have decoded the second."""
    assert not fastsmr.is_installed()
    stock = run()
    assert not decoders
    assert fastsmr.install()
    try:
        installed = run()
    finally:
        fastsmr.uninstall()
    assert decoders, "fastsmr did not decode"
    return stock, installed


def outcome(items: Any, view: Any) -> tuple:
    """(the items seen, the exception that ended them: its class and message, or None)."""
    seen: List[Any] = []
    try:
        for item in items:
            seen.append(view(item))
    except Exception as error:
        return seen, error
    return seen, None

"""Every behaviour test runs once per backend through the ``backend`` fixture.

``--backend python`` (or ``--no-c-extensions``) runs the whole suite on the
pure-Python backend alone: the C cases of backend-parametrised tests are
deselected, tests marked ``c_extension`` are skipped saying why, and the
default backend (``fastsmr.Decoder``, the drop-in's, child interpreters') is
the pure one.
"""

from __future__ import annotations

import os
import types
from typing import Callable

import pytest

import fastsmr
from support import backends

BACKENDS = backends.BUILT
_speedups = BACKENDS["c"]

#: What the codec and the top package bind from the backend at import.
_BOUND = ("BACKEND", "ChunkedDecoder", "Decoder", "Message", "crc32", "decode")

#: Fixtures whose parameters include backend names ("c", "python"): --backend selects among them.
BACKEND_FIXTURES = ("backend", "decoding")


def pytest_addoption(parser):
    group = parser.getgroup("fastsmr")
    group.addoption(
        "--backend", action="append", choices=sorted(BACKENDS), dest="fastsmr_backends",
        help="run the tests parametrised by backend on this backend only (repeatable; default: both)",
    )
    group.addoption(
        "--no-c-extensions", action="append_const", const="python", dest="fastsmr_backends",
        help="the same as --backend python (the aio-libs projects' name for it)",
    )


def use_backend(module: types.ModuleType, setattr: Callable[[object, str, object], None] = setattr) -> None:
    """Make ``module`` the backend everything uses: the selector, and the names bound from it."""
    setattr(fastsmr.codec.backend, "impl", module)
    setattr(fastsmr.codec.backend, "BACKEND", module.BACKEND)
    for package in (fastsmr.codec, fastsmr):
        for name in _BOUND:
            if hasattr(package, name):
                setattr(package, name, getattr(module, name))


def pytest_configure(config):
    chosen = config.getoption("fastsmr_backends")
    if chosen:
        backends.CHOSEN[:] = chosen
    if "c" not in backends.CHOSEN:
        os.environ["FASTSMR_NO_EXTENSIONS"] = "1"  # the interpreters tests start (CLI, README examples)
        use_backend(BACKENDS["python"])


def pytest_runtest_setup(item):
    """Skip a test marked ``c_extension`` when the C backend is not built or not selected."""
    if item.get_closest_marker("c_extension") is None:
        return
    if _speedups is None:
        pytest.skip("needs the C extension, which is not built")
    if "c" not in backends.CHOSEN:
        pytest.skip("needs the C extension, left out by --backend python / --no-c-extensions")


def pytest_collection_modifyitems(config, items):
    """Deselect the backend-parametrised tests of the backends --backend left out."""
    chosen = config.getoption("fastsmr_backends")
    if not chosen:
        return
    keep, drop = [], []
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        left_out = [params[name] for name in BACKEND_FIXTURES if params.get(name) in BACKENDS and params[name] not in chosen]
        (drop if left_out else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(params=[pytest.param("c", marks=pytest.mark.c_extension), "python"])
def backend(request, monkeypatch) -> types.ModuleType:
    """The backend module under test, also made the one ``fastsmr.Decoder`` and the integrations use."""
    module = BACKENDS[request.param]
    assert module is not None  # the c_extension mark skipped the case
    use_backend(module, monkeypatch.setattr)
    return module


@pytest.fixture
def c_backend() -> types.ModuleType:
    """The C backend, for tests of what only it has (CRC dispatch paths); mark them ``c_extension``."""
    assert _speedups is not None, "a test that takes c_backend must be marked c_extension"
    return _speedups


@pytest.fixture(scope="module")
def endpoint():
    """A local SageMaker-compatible streaming endpoint, one per test module."""
    from fastsmr.testing import StreamingEndpoint

    with StreamingEndpoint() as running:
        yield running


@pytest.fixture(scope="module")
def client(endpoint):
    """A boto3 sagemaker-runtime client of ``endpoint`` (dummy credentials)."""
    return endpoint.client()


@pytest.fixture
def aio_client(endpoint):
    """Makes aiobotocore sagemaker-runtime clients of ``endpoint``: ``async with aio_client() as c``."""
    aiobotocore_session = pytest.importorskip("aiobotocore.session")

    def make():
        return aiobotocore_session.get_session().create_client(
            "sagemaker-runtime",
            endpoint_url=endpoint.url,
            region_name="us-east-1",
            aws_access_key_id="fastsmr-local",
            aws_secret_access_key="fastsmr-local",
        )

    return make


def _hypothesis_profiles() -> None:
    import os

    from hypothesis import HealthCheck, settings

    quiet = [HealthCheck.too_slow, HealthCheck.data_too_large]
    settings.register_profile("dev", deadline=None, max_examples=60, suppress_health_check=quiet)
    settings.register_profile("ci", deadline=None, max_examples=150, suppress_health_check=quiet)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


_hypothesis_profiles()

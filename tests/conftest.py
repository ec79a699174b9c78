"""Every behaviour test runs once per backend through the ``backend`` fixture."""

from __future__ import annotations

import types

import pytest

import fastsmr
from fastsmr.codec import _codec_py as _pure

try:
    from fastsmr.codec import _codec_c as _speedups
except ImportError:  # the pure-only install: C cases skip
    _speedups = None

BACKENDS = {"c": _speedups, "python": _pure}

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


@pytest.fixture(params=["c", "python"])
def backend(request, monkeypatch) -> types.ModuleType:
    """The backend module under test, also made the one fastsmr's integrations use."""
    module = BACKENDS[request.param]
    if module is None:
        pytest.skip("the C extension is not installed")
    monkeypatch.setattr(fastsmr.codec.backend, "impl", module)
    return module


@pytest.fixture
def c_backend() -> types.ModuleType:
    """The C backend, for tests of what only it has (CRC dispatch paths)."""
    if _speedups is None:
        pytest.skip("the C extension is not installed")
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

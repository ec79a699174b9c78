"""The ``streaming_endpoint`` fixture, used the way a project that installs
fastsmr uses it: in a separate pytest run."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _plugin_installed() -> bool:
    # Walk every distribution as pluggy does (entry_points() would keep only
    # the first of two fastsmr metadata directories, e.g. an egg-info in src/).
    return any(
        ep.group == "pytest11" and ep.value == "fastsmr.testing.pytest_plugin"
        for dist in importlib.metadata.distributions()
        for ep in dist.entry_points
    )


def test_pyproject_declares_the_plugin_and_the_command():
    text = PYPROJECT.read_text(encoding="utf-8")
    assert '[project.entry-points.pytest11]\nfastsmr = "fastsmr.testing.pytest_plugin"' in text
    assert '[project.scripts]\nfastsmr = "fastsmr.cli:main"' in text


def test_fixture_in_a_fresh_pytest_run(tmp_path):
    (tmp_path / "test_uses_fixture.py").write_text(
        textwrap.dedent(
            """
            from fastsmr.testing import StreamingEndpoint, generate_text

            def test_stream(streaming_endpoint):
                assert isinstance(streaming_endpoint, StreamingEndpoint)
                assert streaming_endpoint.url.startswith("http://127.0.0.1:")
                response = streaming_endpoint.client().invoke_endpoint_with_response_stream(
                    EndpointName="raw", Body=b"{}", CustomAttributes="fastsmr-tokens=7")
                parts = [e["PayloadPart"]["Bytes"] for e in response["Body"]]
                assert b"".join(parts).decode() == generate_text(7)

            def test_fresh_endpoint_per_test(streaming_endpoint):
                assert streaming_endpoint.stats.requests == 0
            """
        )
    )
    # Until the package is reinstalled the entry point is not registered;
    # load the same module explicitly then, so the fixture is still tested.
    load = [] if _plugin_installed() else ["-p", "fastsmr.testing.pytest_plugin"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *load, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout

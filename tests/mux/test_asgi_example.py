"""examples/asgi_relay.py runs: uvicorn relays streams through one fastsmr.mux.Reader, every text intact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "asgi_relay.py"


def test_the_asgi_relay_example_delivers_every_streams_text():
    pytest.importorskip("uvicorn")
    result = subprocess.run([sys.executable, str(EXAMPLE), "--streams", "16"], capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "relayed 16 streams" in result.stdout and "every stream's text arrived intact" in result.stdout

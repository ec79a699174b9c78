"""What the new AWS SDK for Python tests need, and a way to run their coroutines."""

from __future__ import annotations

import asyncio
import importlib.util

REQUIRED = (
    "smithy_aws_event_stream",
    "smithy_aws_core",
    "smithy_json",
    "aws_sdk_sagemaker_runtime_http2",
    "aws_sdk_bedrock_runtime",
    "awscrt",
    "h2",
    "trustme",
)
MISSING = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
REASON = (
    "the new AWS SDK for Python tests need Python 3.12+ and pip install 'fastsmr[smithy]' "
    f"(missing: {', '.join(MISSING)})"
)


def run(coroutine, timeout: float = 60.0):
    """Run a coroutine in a fresh event loop, bounded by ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))

"""fastsmr.install() and fastsmr.smithy: recognising smithy-python, install, uninstall, plugin, no botocore."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import pytest

from support.smithy_env import MISSING, REASON

if MISSING:
    pytest.skip(REASON, allow_module_level=True)

import smithy_aws_event_stream._private.deserializers as smithy_deserializers  # noqa: E402
from smithy_aws_core.aio.protocols import RestJsonClientProtocol, _AWSHttpBindingClientProtocol  # noqa: E402

import fastsmr  # noqa: E402
import fastsmr.smithy  # noqa: E402
from fastsmr.smithy import compat  # noqa: E402
from fastsmr.smithy.protocol import FastsmrProtocol  # noqa: E402
from fastsmr.smithy.publisher import EventPublisher  # noqa: E402
from fastsmr.smithy.receiver import EventReceiver  # noqa: E402

STOCK_RECEIVER = _AWSHttpBindingClientProtocol.__dict__["create_event_receiver"]
STOCK_PUBLISHER = _AWSHttpBindingClientProtocol.__dict__["create_event_publisher"]


def test_the_installed_smithy_is_recognised():
    assert compat.problems() == []


def test_install_replaces_the_protocol_methods_and_uninstall_restores_them():
    assert not fastsmr.smithy.is_installed()
    assert fastsmr.smithy.install() and fastsmr.smithy.install()  # idempotent
    try:
        assert fastsmr.smithy.is_installed() and fastsmr.is_installed()
        assert _AWSHttpBindingClientProtocol.__dict__["create_event_receiver"] is not STOCK_RECEIVER
    finally:
        fastsmr.uninstall()
    assert not fastsmr.smithy.is_installed() and not fastsmr.is_installed()
    assert _AWSHttpBindingClientProtocol.__dict__["create_event_receiver"] is STOCK_RECEIVER
    assert _AWSHttpBindingClientProtocol.__dict__["create_event_publisher"] is STOCK_PUBLISHER


class _Config:
    def __init__(self, protocol):
        self.protocol = protocol


def test_the_plugin_gives_one_config_a_fastsmr_protocol_and_changes_nothing_global():
    from aws_sdk_sagemaker_runtime_http2.config import _PROTOCOL_SETTINGS

    stock = RestJsonClientProtocol(_PROTOCOL_SETTINGS)
    config = _Config(stock)
    fastsmr.smithy.plugin(config)
    ours = config.protocol
    assert ours is not stock and isinstance(ours, FastsmrProtocol) and isinstance(ours, RestJsonClientProtocol)
    assert ours.payload_codec is stock.payload_codec and not isinstance(stock, FastsmrProtocol)
    fastsmr.smithy.plugin(config)  # a second time changes nothing
    assert config.protocol is ours
    assert not fastsmr.smithy.is_installed()
    assert _AWSHttpBindingClientProtocol.__dict__["create_event_receiver"] is STOCK_RECEIVER


def test_the_plugin_leaves_a_protocol_without_event_streams_alone():
    from smithy_aws_core.aio.protocols import AwsJson10ClientProtocol

    from aws_sdk_sagemaker_runtime_http2.config import _PROTOCOL_SETTINGS

    protocol = AwsJson10ClientProtocol(_PROTOCOL_SETTINGS)
    config = _Config(protocol)
    fastsmr.smithy.plugin(config)
    assert config.protocol is protocol


def test_an_unknown_smithy_warns_once_and_stays_stock(monkeypatch):
    from aws_sdk_sagemaker_runtime_http2.config import _PROTOCOL_SETTINGS

    monkeypatch.setattr(compat, "_result", None)
    monkeypatch.delattr(smithy_deserializers, "RawPayloadDeserializer")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fastsmr.smithy.install() is False
        assert fastsmr.smithy.install() is False
        config = _Config(RestJsonClientProtocol(_PROTOCOL_SETTINGS))
        protocol = config.protocol
        fastsmr.smithy.plugin(config)
    assert config.protocol is protocol
    assert not fastsmr.smithy.is_installed()
    assert _AWSHttpBindingClientProtocol.__dict__["create_event_receiver"] is STOCK_RECEIVER
    ours = [w for w in caught if issubclass(w.category, fastsmr.SmithyCompatibilityWarning)]
    assert len(ours) == 1
    assert "RawPayloadDeserializer" in str(ours[0].message) and "leaves smithy stock" in str(ours[0].message)


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_install_works_with_smithy_and_without_botocore():
    done = _python("""
        import sys
        sys.modules["botocore"] = sys.modules["boto3"] = sys.modules["aiobotocore"] = None  # not importable
        import fastsmr
        assert fastsmr.install() is True
        assert fastsmr.is_installed()
        import fastsmr.smithy
        assert fastsmr.smithy.is_installed()
        assert "botocore" not in [name for name, module in sys.modules.items() if module is not None]
        fastsmr.uninstall()
        assert not fastsmr.is_installed()
        print("ok")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_install_without_any_sdk_names_what_to_install():
    done = _python("""
        import sys
        for name in ("botocore", "boto3", "aiobotocore", "smithy_aws_event_stream", "smithy_aws_core"):
            sys.modules[name] = None
        import fastsmr
        try:
            fastsmr.install()
        except ImportError as error:
            print(error)
    """)
    assert done.returncode == 0, done.stderr
    assert "pip install 'fastsmr[boto]'" in done.stdout and "pip install 'fastsmr[smithy]'" in done.stdout


def test_protocol_methods_build_fastsmr_halves(installed):
    from aws_sdk_sagemaker_runtime_http2.config import _PROTOCOL_SETTINGS

    protocol = RestJsonClientProtocol(_PROTOCOL_SETTINGS)

    class Response:
        body = None

    receiver = protocol.create_event_receiver(
        operation=None, request=None, response=Response(), event_type=None, event_deserializer=None, context=None
    )
    assert isinstance(receiver, EventReceiver)

    class Request:
        class body:  # an async writer, as the HTTP serializers give
            async def write(self, data):  # pragma: no cover - never called
                pass

        body = body()

    publisher = protocol.create_event_publisher(operation=None, request=Request(), event_type=None, context=None)
    assert isinstance(publisher, EventPublisher)


def test_the_docstring_examples_run(installed):
    import doctest

    import fastsmr.smithy.errors
    import fastsmr.smithy.protocol
    import fastsmr.smithy.publisher

    fastsmr.smithy.uninstall()  # the package docstring installs and uninstalls itself
    for module in (fastsmr.smithy, fastsmr.smithy.errors, fastsmr.smithy.protocol, fastsmr.smithy.publisher):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__
    assert fastsmr.smithy.install()

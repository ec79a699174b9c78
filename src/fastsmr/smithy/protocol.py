"""Where smithy-python's clients get their event streams: the protocol.

Every AWS protocol with event streams in smithy-python (restJson1, restXml)
derives from ``smithy_aws_core.aio.protocols._AWSHttpBindingClientProtocol``,
whose ``create_event_receiver`` and ``create_event_publisher`` build the
receiving and sending halves of a stream. :func:`install` replaces those two
methods on that class (every client, before and after the call);
:func:`plugin` gives one client's configuration a protocol whose class
overrides them (nothing global). Either way the receiver is fastsmr's
(:class:`~fastsmr.smithy.receiver.EventReceiver`) and the publisher is smithy's,
signing configuration and all, taken over by
:class:`~fastsmr.smithy.publisher.EventPublisher`.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Dict

from smithy_aws_core.aio.protocols import _AWSHttpBindingClientProtocol

from .compat import recognised
from .publisher import EventPublisher
from .receiver import EventReceiver

__all__ = ["install", "uninstall", "is_installed", "plugin", "FastsmrProtocol"]


def _receiver(protocol: Any, response: Any, event_deserializer: Any) -> EventReceiver[Any]:
    return EventReceiver(payload_codec=protocol.payload_codec, body=response.body, deserializer=event_deserializer)


def _publisher(stock: Any) -> Any:
    return stock if isinstance(stock, EventPublisher) else EventPublisher(stock)


class FastsmrProtocol:
    """Mixed in before a protocol class by :func:`plugin`: its event streams are fastsmr's."""

    def create_event_receiver(
        self, *, operation: Any, request: Any, response: Any, event_type: Any, event_deserializer: Any, context: Any
    ) -> Any:
        return _receiver(self, response, event_deserializer)

    def create_event_publisher(
        self, *, operation: Any, request: Any, event_type: Any, context: Any, auth_scheme: Any = None
    ) -> Any:
        stock = super().create_event_publisher(  # type: ignore[misc]
            operation=operation, request=request, event_type=event_type, context=context, auth_scheme=auth_scheme
        )
        return _publisher(stock)


_classes: Dict[type, type] = {}
_lock = threading.Lock()
_originals: Dict[str, Any] = {}


def _fastsmr_class(cls: type) -> type:
    with _lock:
        made = _classes.get(cls)
        if made is None:
            made = _classes[cls] = type(cls.__name__, (FastsmrProtocol, cls), {"__module__": cls.__module__})
        return made


def plugin(config: Any) -> None:
    """Make one smithy-python client's event streams decode and encode with fastsmr.

    Pass it in the generated client's ``plugins`` (or an operation's): it
    replaces ``config.protocol`` with a copy whose event streams are fastsmr's,
    and touches nothing global. A protocol without event streams, or a
    smithy-python fastsmr does not recognise (it warns once), is left as it is.

    >>> import fastsmr.smithy
    >>> from aws_sdk_sagemaker_runtime_http2.client import AsyncSageMakerRuntimeHTTP2Client
    >>> client = AsyncSageMakerRuntimeHTTP2Client(plugins=[fastsmr.smithy.plugin])
    """
    protocol = getattr(config, "protocol", None)
    if (
        not isinstance(protocol, _AWSHttpBindingClientProtocol)
        or isinstance(protocol, FastsmrProtocol)
        or not recognised()
    ):
        return
    ours = copy.copy(protocol)
    ours.__class__ = _fastsmr_class(type(protocol))
    config.protocol = ours


def _create_event_receiver(
    self: Any, *, operation: Any, request: Any, response: Any, event_type: Any, event_deserializer: Any, context: Any
) -> Any:
    return _receiver(self, response, event_deserializer)


def _create_event_publisher(
    self: Any, *, operation: Any, request: Any, event_type: Any, context: Any, auth_scheme: Any = None
) -> Any:
    stock = _originals["create_event_publisher"](
        self, operation=operation, request=request, event_type=event_type, context=context, auth_scheme=auth_scheme
    )
    return _publisher(stock)


def install() -> bool:
    """Make every smithy-python client's event streams fastsmr's; False (after a
    warning) when smithy-python is not the one fastsmr knows."""
    with _lock:
        if _originals:
            return True
        if not recognised():
            return False
        cls = _AWSHttpBindingClientProtocol
        _originals["create_event_receiver"] = cls.__dict__["create_event_receiver"]
        _originals["create_event_publisher"] = cls.__dict__["create_event_publisher"]
        cls.create_event_receiver = _create_event_receiver  # type: ignore[method-assign,assignment]
        cls.create_event_publisher = _create_event_publisher  # type: ignore[method-assign,assignment]
        return True


def uninstall() -> None:
    """Give smithy-python back its own methods."""
    with _lock:
        for name, function in _originals.items():
            setattr(_AWSHttpBindingClientProtocol, name, function)
        _originals.clear()


def is_installed() -> bool:
    """Whether :func:`install` is in effect."""
    return bool(_originals)

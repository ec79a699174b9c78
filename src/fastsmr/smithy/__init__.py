"""fastsmr for the new AWS SDK for Python (smithy-python clients).

The generated clients (``aws-sdk-sagemaker-runtime-http2``,
``aws-sdk-bedrock-runtime``, ...) read and write event streams in pure Python
(``smithy-aws-event-stream``). With fastsmr the messages they receive decode in
C and the ones they send encode with fastsmr's encoder; the events, their
types and the exceptions stay smithy's (see :mod:`fastsmr.smithy.receiver`,
:mod:`fastsmr.smithy.publisher`, :mod:`fastsmr.smithy.errors`):

* ``fastsmr.install()`` covers every client in the process (it calls
  :func:`install` here when smithy-python is importable);
  ``fastsmr.uninstall()`` and ``fastsmr.is_installed()`` follow.
* ``plugins=[fastsmr.smithy.plugin]`` covers one client and changes nothing
  global.

The packages need Python 3.12 or later: ``pip install 'fastsmr[smithy]'``.

>>> import fastsmr.smithy
>>> fastsmr.smithy.install()
True
>>> fastsmr.smithy.is_installed()
True
>>> fastsmr.smithy.uninstall()
>>> fastsmr.smithy.is_installed()
False
"""

from __future__ import annotations

try:
    import smithy_aws_core.aio.protocols  # noqa: F401
    import smithy_aws_event_stream  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise ImportError(
        f"fastsmr.smithy needs smithy-python (Python 3.12+): pip install 'fastsmr[smithy]' ({error})"
    ) from error

from .protocol import install, is_installed, plugin, uninstall

__all__ = ["install", "uninstall", "is_installed", "plugin"]

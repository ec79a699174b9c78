"""Whether botocore's and aiobotocore's internals are the ones fastsmr replaces.

The drop-in replaces a few private methods of ``EventStream`` (and
aiobotocore's ``AioEventStream``), ``EventStreamBuffer``'s construction and
the event parsers' ``_do_parse`` (whose probes are in :mod:`fastsmr.boto.buffer`
and :mod:`fastsmr.boto.parsing`), and builds botocore's message objects. Before
it does, each package is probed once per process: the classes, the methods'
parameters, and a one-message stream read by the package's own generator. If
anything differs, fastsmr warns once (:class:`fastsmr.BotocoreCompatibilityWarning`)
and leaves that package stock: programs keep working at botocore's speed.
"""

from __future__ import annotations

import inspect
import sys
import threading
import warnings
from types import FrameType
from typing import Any, AsyncIterator, Callable, Dict, Iterator, List, Optional, Tuple

import botocore.eventstream as bes
import botocore.exceptions

from .._warnings import BotocoreCompatibilityWarning
from ..codec import backend
from ..codec.encoder import encode
from .core import botocore_message
from .errors import BOTOCORE_CLASSES

__all__ = ["botocore_recognised", "aiobotocore_recognised", "check_signatures", "warn_unrecognised"]

_LOCK = threading.Lock()
# package -> what differs from the internals fastsmr knows ([] when recognised),
# or None when the package is not installed.
_verdicts: Dict[str, Optional[List[str]]] = {}


def _verdict(package: str, problems: Callable[[], Optional[List[str]]]) -> bool:
    with _LOCK:
        if package not in _verdicts:
            found = _verdicts[package] = problems()
            if found:
                warn_unrecognised(package, found)
        return _verdicts[package] == []


def botocore_recognised() -> bool:
    """Whether botocore is the one fastsmr knows (probed once; warns once if not)."""
    return _verdict("botocore", _botocore_problems)


def aiobotocore_recognised() -> bool:
    """Whether aiobotocore is installed and the one fastsmr knows (probed once; warns once if not)."""
    return botocore_recognised() and _verdict("aiobotocore", _aiobotocore_problems)


def warn_unrecognised(package: str, problems: List[str]) -> None:
    """Warn that fastsmr leaves ``package`` stock, at the caller's line outside fastsmr."""
    version = getattr(sys.modules.get(package), "__version__", "?")
    warnings.warn(
        f"fastsmr does not recognise the internals of {package} {version} "
        f"({'; '.join(problems)}); it leaves {package} stock. Please report this to fastsmr.",
        BotocoreCompatibilityWarning,
        stacklevel=_outside_fastsmr(),
    )


def _outside_fastsmr() -> int:
    """The ``stacklevel`` of the first caller that is not fastsmr's code."""
    frame: Optional[FrameType] = sys._getframe(2)
    level = 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("fastsmr."):
        frame, level = frame.f_back, level + 1
    return level


def _parameters(function: Any) -> Optional[List[str]]:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return None


def check_signatures(cls: Any, expected: Dict[str, List[str]]) -> List[str]:
    """What differs between ``cls``'s methods and the parameter lists fastsmr relies on."""
    problems = []
    for name, parameters in expected.items():
        function = getattr(cls, name, None)
        found = _parameters(function) if callable(function) else None
        if found != parameters:
            problems.append(f"{cls.__name__}.{name}{tuple(found) if found else ' missing'}")
    return problems


PROBE_HEADERS = {":message-type": "event", ":event-type": "Probe"}
PROBE_WIRE = encode(PROBE_HEADERS, b"probe")
#: The attributes of an EventStream the drop-in reads or sets.
STREAM_ATTRIBUTES = ("_raw_stream", "_output_shape", "_parser", "_operation_name", "_event_generator")


class _Probe:
    """A raw stream of one message, to watch botocore's generator read it."""

    def stream(self) -> Iterator[bytes]:
        yield PROBE_WIRE[:5]
        yield PROBE_WIRE[5:]

    def close(self) -> None:
        pass


def _botocore_problems() -> List[str]:
    problems = _event_stream_problems()
    if problems:
        return problems
    # EventStreamBuffer and the event parsers, for code that decodes without EventStream
    from . import buffer, parsing

    return buffer.problems() + parsing.problems()


def _event_stream_problems() -> List[str]:
    names = ("EventStream", "EventStreamMessage", "MessagePrelude", "NoInitialResponseError") + BOTOCORE_CLASSES
    missing = [name for name in names if not isinstance(getattr(bes, name, None), type)]
    if missing:
        return [f"botocore.eventstream lacks {', '.join(missing)}"]
    if not isinstance(getattr(botocore.exceptions, "EventStreamError", None), type):
        return ["botocore.exceptions lacks EventStreamError"]
    problems = check_signatures(bes.EventStream, {
        "__init__": ["self", "raw_stream", "output_shape", "parser", "operation_name"],
        "_create_raw_event_generator": ["self"],
        "__iter__": ["self"],
        "_parse_event": ["self", "event"],
        "get_initial_response": ["self"],
        "close": ["self"],
    })
    problems += check_signatures(bes.EventStreamMessage, {
        "__init__": ["self", "prelude", "headers", "payload", "crc"],
        "to_response_dict": ["self", "status_code"],
    })
    problems += check_signatures(bes.MessagePrelude, {"__init__": ["self", "total_length", "headers_length", "crc"]})
    if problems:
        return problems
    # Watch the generator at work: it must read raw_stream.stream() and build
    # the message objects fastsmr builds.
    try:
        # The probe parses no events: botocore keeps the shape and parser it is given, None here.
        stream: bes.EventStream[Any] = bes.EventStream(_Probe(), None, None, "Probe")  # type: ignore[arg-type]
        absent = [name for name in STREAM_ATTRIBUTES if name not in vars(stream)]
        if absent:
            return [f"EventStream instances lack {', '.join(absent)}"]
        seen = list(vars(stream)["_event_generator"])  # an instance attribute (checked above), not in botocore's stubs
        if len(seen) != 1 or seen[0].headers != PROBE_HEADERS or seen[0].payload != b"probe":
            return ["EventStream's generator did not yield the probe message"]
        mine = botocore_message(backend.impl.decode(PROBE_WIRE)[0])
        if vars(mine.prelude) != vars(seen[0].prelude) or mine.to_response_dict() != seen[0].to_response_dict():
            return ["EventStreamMessage differs from the one fastsmr builds"]
    except Exception as error:  # any surprise means: not the botocore we know
        return [f"probing EventStream raised {error!r}"]
    return []


class _AioContent:
    async def iter_chunks(self) -> AsyncIterator[Tuple[bytes, bool]]:
        yield PROBE_WIRE[:5], False
        yield PROBE_WIRE[5:], True


class _AioProbe:
    """An aiohttp-like response of one message, to watch aiobotocore's generator read it."""

    content = _AioContent()

    def close(self) -> None:
        pass


def _drain(generator: Any) -> List[Any]:
    """Run an async generator that never waits, without an event loop (install() may run in one)."""

    async def collect() -> List[Any]:
        return [item async for item in generator]

    coroutine = collect()
    try:
        coroutine.send(None)
    except StopIteration as done:
        collected: List[Any] = done.value  # what collect() returned
        return collected
    coroutine.close()
    raise RuntimeError("the probe stream waited")


def _aiobotocore_problems() -> Optional[List[str]]:
    try:
        import aiobotocore.eventstream as aes
    except ImportError:
        return None  # not installed: nothing to patch, nothing to say
    except Exception as error:  # a broken aiobotocore must not break install()
        return [f"importing it raised {error!r}"]
    cls = getattr(aes, "AioEventStream", None)
    if not (isinstance(cls, type) and issubclass(cls, bes.EventStream)):
        return ["aiobotocore.eventstream lacks AioEventStream(EventStream)"]
    problems = check_signatures(cls, {
        "_create_raw_event_generator": ["self"],
        "__aiter__": ["self"],
        "_parse_event": ["self", "event"],
        "get_initial_response": ["self"],
    })
    if problems:
        return problems
    if not inspect.isasyncgenfunction(getattr(cls, "_create_raw_event_generator", None)):  # checked above
        return ["AioEventStream._create_raw_event_generator is not an async generator"]
    try:
        stream = cls(_AioProbe(), None, None, "Probe")  # type: ignore[arg-type]  # no shape nor parser, as above
        absent = [name for name in STREAM_ATTRIBUTES if name not in vars(stream)]
        if absent:
            return [f"AioEventStream instances lack {', '.join(absent)}"]
        seen = _drain(vars(stream)["_event_generator"])
        if len(seen) != 1 or seen[0].headers != PROBE_HEADERS or seen[0].payload != b"probe":
            return ["AioEventStream's generator did not yield the probe message"]
    except Exception as error:  # any surprise means: not the aiobotocore we know
        return [f"probing AioEventStream raised {error!r}"]
    return []

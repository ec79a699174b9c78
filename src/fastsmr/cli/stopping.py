"""When ``fastsmr serve`` stops: on SIGINT or SIGTERM and, if asked, at the end of its standard input.

The end of standard input is how a parent process keeps a server it started
from outliving it: the parent holds the write end of a pipe and never writes
to it; when the parent exits, however it exits (SIGKILL included), the kernel
closes that end and the server reads end of file. It works wherever pipes do,
and needs no polling of the parent's pid (``fastsmr.cli.demo.ServerProcess``
starts its endpoint so).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading

__all__ = ["stop_event"]


def stop_event(at_stdin_eof: bool = False) -> asyncio.Event:
    """An event of the running loop, set by SIGINT or SIGTERM and, with
    ``at_stdin_eof``, once standard input reaches its end (what is read
    from it before is ignored).

    >>> import subprocess, sys
    >>> code = ("import asyncio; from fastsmr.cli.stopping import stop_event\\n"
    ...         "async def main(): await asyncio.wait_for(stop_event(at_stdin_eof=True).wait(), 30)\\n"
    ...         "asyncio.run(main()); print('stopped')")
    >>> subprocess.run([sys.executable, "-c", code], input=b"ignored", capture_output=True, timeout=60).stdout
    b'stopped\\n'
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C raises KeyboardInterrupt
            pass
    if at_stdin_eof:
        threading.Thread(target=_set_at_eof, args=(loop, stop), name="fastsmr-stdin-eof", daemon=True).start()
    return stop


def _set_at_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    # A blocking read returns only when data comes or the last write end is
    # closed: the thread sleeps in the kernel until then.
    try:
        while os.read(0, 4096):
            pass
    except OSError:  # no standard input at all: there is no parent to wait for either
        pass
    try:
        loop.call_soon_threadsafe(stop.set)
    except RuntimeError:  # the loop has already closed: the server stopped for another reason
        pass

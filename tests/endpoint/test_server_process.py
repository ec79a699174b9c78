"""fastsmr.cli.demo.ServerProcess: the endpoint in a child process never outlives the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

PARENT = textwrap.dedent(
    """
    import time, urllib.request
    from fastsmr.cli.demo import ServerProcess

    server = ServerProcess().__enter__()
    # Answered once the child is serving, past its last print: it writes no more to
    # the pipe this process reads (which would end it by SIGPIPE once we are killed).
    urllib.request.urlopen(server.url + "/ping", timeout=30).read()
    print(server._proc.pid, server.url, flush=True)
    time.sleep(120)  # killed long before
    """
)


def running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie waiting for its reaper has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:  # gone meanwhile, or no /proc (then kill() said enough)
        return not os.path.isdir("/proc/self")


def test_the_child_exits_when_its_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              text=True)
    child = 0
    try:
        assert parent.stdout is not None
        pid, url = parent.stdout.readline().split()  # blocks until the endpoint serves (a minute at most)
        child = int(pid)
        assert url.startswith("http://127.0.0.1:") and running(child)
        parent.send_signal(signal.SIGKILL)  # no __exit__, no atexit: only the kernel closes its pipe
        parent.wait(10)
        deadline = time.monotonic() + 15
        while running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(child), "the endpoint outlived the process that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()
        if child and running(child):  # the failure is reported; the endpoint must not outlive the run either
            os.kill(child, signal.SIGKILL)

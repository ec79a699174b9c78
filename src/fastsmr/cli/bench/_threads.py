"""The threads case: two threads decoding large messages against one thread doing the same work.

The C backend copies and checksums a large payload without the GIL, whether
the message is whole in one chunk (``decode``) or arrives in reads
(``Decoder.feed``), so two threads decoding their own messages can use two
cores at once. Each thread gets its own messages (distinct bytes objects);
"1 thread" decodes both threads' inputs one after the other, "2 threads"
decode one each at once, and the ratio, taken round by round, is the one
thread's time over the two threads': 2.0 would be perfect overlap, 1.0 none.
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any, Callable, List, Optional, Sequence

import fastsmr
from fastsmr.codec import _codec_py as _pure

from ._inputs import large_messages
from ._measure import Entry, Pair, Table, time_rounds

__all__ = ["threads_table", "READ"]

#: The read size of the reads rows, about what a socket hands over for a large message.
READ = 256 * 1024

Work = Callable[[ModuleType, Sequence[bytes]], int]


def _whole(module: ModuleType, wires: Sequence[bytes]) -> int:
    """``decode`` of each whole message."""
    count = 0
    for wire in wires:
        count += len(module.decode(wire))
    return count


def _reads(module: ModuleType, wires: Sequence[bytes]) -> int:
    """One stream of the messages fed to one Decoder in reads of READ bytes, messages dropped as they come."""
    decoder = module.Decoder()
    count = 0
    for wire in wires:
        view = memoryview(wire)
        for start in range(0, len(view), READ):
            count += len(decoder.feed(view[start : start + READ]))
    decoder.close()
    return count


def _one_thread(module: ModuleType, work: Work) -> Callable[[List[List[bytes]]], int]:
    def run(inputs: List[List[bytes]]) -> int:
        return sum(work(module, wires) for wires in inputs)

    return run


def _threads(module: ModuleType, work: Work) -> Callable[[List[List[bytes]]], int]:
    def run(inputs: List[List[bytes]]) -> int:
        counts: List[int] = [0] * len(inputs)
        failures: List[BaseException] = []
        barrier = threading.Barrier(len(inputs))

        def one(i: int) -> None:
            try:
                barrier.wait()
                counts[i] = work(module, inputs[i])
            except BaseException as error:  # re-raised in the caller
                failures.append(error)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(inputs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise failures[0]
        return sum(counts)

    return run


def _c_backend() -> Optional[ModuleType]:
    if fastsmr.BACKEND != "c":
        return None
    from fastsmr.codec import _codec_c

    return _codec_c


def threads_table(*, quick: bool, rounds: int, message_mib: int = 8, per_thread: int = 4) -> Table:
    """1 vs 2 threads, for whole messages and for reads, in each backend.

    Each thread decodes ``per_thread`` messages of ``message_mib`` MiB each
    (with ``quick``: 2 of 1 MiB).
    """
    size, per_thread = (1 << 20, 2) if quick else (message_mib << 20, per_thread)
    messages = large_messages(2 * per_thread, size)
    inputs = [messages[:per_thread], messages[per_thread:]]
    count = 2 * per_thread
    total = sum(len(w) for wires in inputs for w in wires)
    entries: List[Entry] = []
    pairs: List[Pair] = []
    c = _c_backend()
    for name, module in (("c", c), ("python", _pure)):
        for feeding, work in (("decode", _whole), ("256 KiB reads", _reads)):
            one, two = f"fastsmr {name} {feeding}, 1 thread", f"fastsmr {name} {feeding}, 2 threads"
            if module is None:
                reason = "the C extension is not built or FASTSMR_NO_EXTENSIONS is set"
                entries += [Entry.skipped(one, "fastsmr", reason), Entry.skipped(two, "fastsmr", reason)]
            else:
                entries += [Entry(one, "fastsmr", run=_one_thread(module, work)),
                            Entry(two, "fastsmr", run=_threads(module, work))]
            pairs.append(Pair(two, one, "seconds", headline=name == "c"))

    def check(entry: Entry, result: Any) -> None:
        if result != count:
            raise AssertionError(f"{entry.name} decoded {result} messages, expected {count}")

    time_rounds(entries, inputs, rounds, check=check)
    title = (f"{count} messages of {size >> 20} MiB, {per_thread} per thread: 1 thread against 2 threads, "
             f"whole (decode) and in {READ >> 10} KiB reads")
    notes = [
        "Ratio: one thread's time for both threads' messages over two threads' time, each decoding its own; "
        "2.0 is perfect overlap. Read it with the machine's state: on a 2-core machine any other busy process "
        "takes the second core, and large copies share the memory bandwidth.",
    ]
    return Table("threads", title, "message", count, total, ["seconds"], entries, pairs, notes, rounds)

"""The ``litellm`` case: LiteLLM's SageMaker streaming, stock and under ``fastsmr.install()``.

LiteLLM calls SageMaker over httpx and decodes the body with botocore's
``EventStreamBuffer`` in its ``AWSEventStreamDecoder.iter_bytes``, then turns
each message into an event with botocore's ``EventStreamJSONParser`` and each
TGI record into a chunk. Three tables:

* on bytes in memory, ``iter_bytes`` over what the local endpoint's ``tgi``
  endpoint streams (Text Generation Inference's server-sent events, a
  PayloadPart per token) in 64 KiB chunks, and with one message per chunk:
  stock, installed (each
  backend), and a floor, LiteLLM with every message decoded beforehand (its
  buffer hands out ready botocore messages), which is what LiteLLM's own code
  costs per token with a free decoder;
* end to end, ``litellm.completion(model="sagemaker/...", stream=True)``
  against the local endpoint in a child process: client CPU per token (the
  process's user + system time), stock and installed.

LiteLLM is in the ``integrations`` extra; without it the case reports its
competitors as skipped. It reads its price list from its own package
(``LITELLM_LOCAL_MODEL_COST_MAP``), not from the network.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, List, Sequence, Tuple

import fastsmr
from fastsmr.codec import _codec_py as _pure

from ._inputs import chunked, endpoint_messages
from ._measure import Entry, Pair, Table, cpu_rounds, rotation

__all__ = ["litellm_tables", "NAMES"]

STOCK = "stock LiteLLM"
INSTALLED_C = "LiteLLM + fastsmr.install() c"
INSTALLED_PY = "LiteLLM + fastsmr.install() python"
FLOOR = "LiteLLM, messages decoded beforehand"
NAMES = (STOCK, INSTALLED_C, INSTALLED_PY, FLOOR)
E2E_NAMES = (STOCK, INSTALLED_C)
_MISSING = "LiteLLM is not installed (pip install 'fastsmr[integrations]'; it needs Python >= 3.10)"
_CREDENTIALS = {"aws_access_key_id": "fastsmr-bench", "aws_secret_access_key": "fastsmr-bench", "aws_region_name": "us-east-1"}


def _decoder_class() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from litellm.llms.sagemaker.common_utils import AWSEventStreamDecoder

    return AWSEventStreamDecoder


class _Ready:
    """An ``EventStreamBuffer`` whose messages were decoded beforehand: the floor.

    ``add_data(chunk)`` looks the chunk up (by identity: the run feeds the
    very chunk objects it was built from) and hands out its messages.
    """

    def __init__(self, table: Dict[int, List[Any]]) -> None:
        self._table = table
        self._pending: Any = iter(())

    def add_data(self, data: bytes) -> None:
        self._pending = iter(self._table[id(data)])

    def __iter__(self) -> Any:
        return self._pending


def _ready_table(chunks: Sequence[bytes]) -> Dict[int, List[Any]]:
    import botocore.eventstream as bes

    buffer = object.__new__(bes.EventStreamBuffer)  # botocore's own, whatever is installed
    bes.EventStreamBuffer.__init__(buffer)
    table = {}
    for chunk in chunks:
        bes.EventStreamBuffer.add_data(buffer, chunk)
        table[id(chunk)] = list(iter(lambda: _next_or_none(buffer), None))
    return table


def _next_or_none(buffer: Any) -> Any:
    import botocore.eventstream as bes

    try:
        return bes.EventStreamBuffer.next(buffer)
    except StopIteration:
        return None


def _prepare(installed: bool, backend: Any = None, floor: Any = None) -> Callable[[], None]:
    import botocore.eventstream as bes

    stock_class = bes.EventStreamBuffer

    def prepare() -> None:
        fastsmr.uninstall()
        bes.EventStreamBuffer = stock_class if floor is None else floor  # type: ignore[misc]  # swapped as install() does
        if backend is not None:
            fastsmr.codec.backend.impl = backend
        if installed and not fastsmr.install():
            raise RuntimeError("fastsmr.install() refused this botocore (see the warning)")

    return prepare


def _memory_table(case: str, chunks: List[bytes], count: int, title: str, rounds: int) -> Table:
    entries: List[Entry]
    try:
        decoder_class = _decoder_class()
    except ImportError:
        entries = [Entry.skipped(name, _role(name), _MISSING) for name in NAMES]
    else:
        import botocore.eventstream as bes

        def run(chunks: Sequence[bytes]) -> int:
            return sum(1 for _ in decoder_class(model="").iter_bytes(iter(chunks)))

        table = _ready_table(chunks)
        stock_class = bes.EventStreamBuffer
        c = _c_backend()
        entries = [Entry(STOCK, "baseline", run=run, prepare=_prepare(False))]
        if c is not None:
            entries.append(Entry(INSTALLED_C, "fastsmr", run=run, prepare=_prepare(True, c)))
        else:
            entries.append(Entry.skipped(INSTALLED_C, "fastsmr", "the C extension is not built or FASTSMR_NO_EXTENSIONS is set"))
        entries.append(Entry(INSTALLED_PY, "fastsmr", run=run, prepare=_prepare(True, _pure)))
        entries.append(Entry(FLOOR, "floor", run=run, prepare=_prepare(False, floor=lambda: _Ready(table))))

        def check(entry: Entry, result: Any) -> None:
            if result != count:  # one chunk per token
                raise AssertionError(f"{entry.name}: LiteLLM yielded {result} chunks, expected {count}")

        saved = fastsmr.codec.backend.impl
        try:
            cpu_rounds(entries, chunks, rounds, per=count, metric="cpu_per_token", check=check)
        finally:
            fastsmr.codec.backend.impl = saved
            bes.EventStreamBuffer = stock_class  # type: ignore[misc]  # put back
            fastsmr.uninstall()
    metric = "cpu_per_token"
    pairs = [Pair(INSTALLED_C, STOCK, metric, headline=True), Pair(INSTALLED_PY, STOCK, metric),
             Pair(FLOOR, STOCK, metric), Pair(INSTALLED_C, FLOOR, metric)]
    notes = [
        "CPU per token (process time): LiteLLM's AWSEventStreamDecoder.iter_bytes over the bytes, botocore's "
        "parser and LiteLLM's record buffer and chunk objects included. The floor hands out messages decoded "
        "beforehand: what is left of LiteLLM's time when decoding costs nothing.",
    ]
    return Table(case, title, "token", count, sum(map(len, chunks)), ["cpu_per_token"], entries, pairs, notes, rounds)


def _c_backend() -> Any:
    if fastsmr.BACKEND != "c":
        return None
    from fastsmr.codec import _codec_c

    return _codec_c


def _role(name: str) -> str:
    return {STOCK: "baseline", FLOOR: "floor"}.get(name, "fastsmr")


def _e2e_table(server: Any, tokens: int, rounds: int) -> Table:
    title = f"LiteLLM end to end, litellm.completion(model='sagemaker/tgi', stream=True), 1 stream of {tokens:,} tokens"
    entries = [Entry(name, _role(name)) for name in E2E_NAMES]
    try:
        _decoder_class()
        import litellm
    except ImportError:
        entries = [Entry.skipped(name, _role(name), _MISSING) for name in E2E_NAMES]
        litellm = None
    if litellm is not None:
        if _c_backend() is None:
            entries[1] = Entry.skipped(INSTALLED_C, "fastsmr", "the C extension is not built or FASTSMR_NO_EXTENSIONS is set")
        try:
            url = server.start() + "/endpoints/tgi/invocations-response-stream"
        except (RuntimeError, OSError) as error:
            for entry in entries:
                entry.fail(error)
            url = ""

        def run(count: int) -> Tuple[float, float]:
            stream = litellm.completion(
                model="sagemaker/tgi", messages=[{"role": "user", "content": "Hello"}], stream=True,
                max_tokens=count, sagemaker_base_url=url, **_CREDENTIALS,
            )
            cpu, start = time.process_time(), time.perf_counter()
            seen = sum(1 for _ in stream)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            if seen < count:
                raise AssertionError(f"LiteLLM streamed {seen} chunks, expected at least {count}")
            return wall, cpu

        prepares = {STOCK: _prepare(False), INSTALLED_C: _prepare(True, _c_backend())}
        saved = fastsmr.codec.backend.impl
        try:
            for entry in entries:  # warm-up: imports, the connection pool
                if entry.status == "ok":
                    try:
                        prepares[entry.name]()
                        run(20)
                    except Exception as error:
                        entry.fail(error)
            for r in range(rounds):
                for entry in rotation(entries, r):
                    try:
                        prepares[entry.name]()
                        wall, cpu = run(tokens)
                    except Exception as error:
                        entry.fail(error)
                        continue
                    entry.record("cpu_per_token", cpu / tokens)
                    entry.record("tokens_per_s", tokens / wall)
                    entry.record("wall_seconds", wall)
        finally:
            fastsmr.codec.backend.impl = saved
            fastsmr.uninstall()
    pairs = [Pair(INSTALLED_C, STOCK, "cpu_per_token", headline=True), Pair(INSTALLED_C, STOCK, "tokens_per_s")]
    notes = [
        "Client CPU per token = the process's user + system time over the stream (the endpoint runs in a child "
        "process), the request (signing, connection) included; the stream is the tgi endpoint's, a PayloadPart "
        "per token, as httpx hands LiteLLM the body.",
    ]
    params = {"streams": 1, "tokens_per_stream": tokens, "rate_per_stream": 0.0}
    return Table("litellm", title, "token", tokens, 0, ["cpu_per_token", "tokens_per_s", "wall_seconds"], entries,
                 pairs, notes, rounds, params)


def litellm_tables(server: Any, *, quick: bool, rounds: int, e2e_rounds: int, tokens: int = 0) -> List[Table]:
    """The case's three tables (in memory in 64 KiB chunks and per message, end to end),
    over ``tokens`` tokens (default 20,000, 2,000 when ``quick``)."""
    count = tokens or (2_000 if quick else 20_000)
    messages = endpoint_messages(count)  # what the e2e table's endpoint sends
    tables = [
        _memory_table("litellm", chunked(b"".join(messages), 65536), count,
                      f"LiteLLM SageMaker decoding in memory, {count:,} tokens in 64 KiB chunks", rounds),
        _memory_table("litellm", messages, count,
                      f"LiteLLM SageMaker decoding in memory, {count:,} tokens, one message per chunk", rounds),
    ]
    tables.append(_e2e_table(server, count, e2e_rounds))
    return tables

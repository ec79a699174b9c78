"""How the benchmark measures: interleaved rounds, per-round ratios, medians with min-max.

These machines are shared and noisy: a neighbour that wakes up slows down
whichever competitor happens to be running. So every round runs every
competitor once, in an order that rotates from round to round, and ratios are
taken within a round (competitor A's time in round 3 over competitor B's time in
round 3). Absolute times move a lot between rounds; those ratios move much less.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import statistics as _statistics
import time
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

_np: Optional[ModuleType]
try:  # the ``bench`` extra; the statistics module stands in without it
    _np = importlib.import_module("numpy")  # a module either way, typed or not: one type for the checkers
except ImportError:  # pragma: no cover - depends on the environment
    _np = None

__all__ = ["Entry", "Pair", "Table", "rotation", "summary", "time_rounds", "cpu_rounds", "once", "STATISTICS"]

#: What computes the medians, for the report.
STATISTICS = f"numpy {_np.__version__}" if _np is not None else "the statistics module (numpy not installed)"

#: Metrics where a bigger number is better; for all others (seconds, CPU) smaller is.
HIGHER_IS_BETTER = {"tokens_per_s", "events_per_s"}


def summary(values: Sequence[float]) -> Dict[str, float]:
    """Median, min and max of ``values``.

    >>> summary([3.0, 1.0, 2.0])
    {'median': 2.0, 'min': 1.0, 'max': 3.0}
    """
    if _np is not None:
        array = _np.asarray(values, dtype=float)
        return {"median": float(_np.median(array)), "min": float(array.min()), "max": float(array.max())}
    return {"median": float(_statistics.median(values)), "min": float(min(values)), "max": float(max(values))}


def _skipped_run(data: Any) -> Any:
    raise RuntimeError("a skipped or failed competitor is never run")


@dataclasses.dataclass
class Entry:
    """One competitor of a table: what it is, and its per-round measurements.

    ``role`` is ``"baseline"`` (what users have today), ``"fastsmr"``,
    ``"floor"`` (what no decoder can beat) or ``"reference"`` (a yardstick a
    target is stated against, such as zlib's CRC-32). ``status`` is ``"ok"``,
    ``"skipped"`` (not installed, or not applicable: ``reason`` says why) or
    ``"failed"`` (it raised: ``reason`` holds the error).
    """

    name: str
    role: str
    run: Callable[[Any], Any] = _skipped_run
    prepare: Optional[Callable[[], None]] = None
    status: str = "ok"
    reason: str = ""
    samples: Dict[str, List[float]] = dataclasses.field(default_factory=dict)
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def skipped(cls, name: str, role: str, reason: str) -> "Entry":
        return cls(name, role, status="skipped", reason=reason)

    def fail(self, error: BaseException) -> None:
        self.status = "failed"
        self.reason = f"{type(error).__name__}: {error}"

    def record(self, metric: str, value: float) -> None:
        self.samples.setdefault(metric, []).append(value)


@dataclasses.dataclass
class Pair:
    """A ratio to report: how many times better ``fast`` is than ``slow`` on ``metric``.

    The value is ``slow / fast`` for times and CPU (``fast / slow`` for
    throughput), computed round by round; above 1 means ``fast`` wins. A pair
    against a floor comes out below 1: how far from the machine's limit.
    """

    fast: str
    slow: str
    metric: str
    headline: bool = False


@dataclasses.dataclass
class Table:
    """The result of one case (or one concurrency level of an end-to-end case)."""

    case: str
    title: str
    unit: str
    units: int
    nbytes: int
    metrics: List[str]
    entries: List[Entry]
    pairs: List[Pair]
    notes: List[str] = dataclasses.field(default_factory=list)
    rounds: int = 0
    #: Case parameters worth reporting (streams, tokens per stream, rate).
    params: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def entry(self, name: str) -> Entry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def ratio(self, pair: Pair) -> Dict[str, Any]:
        """The pair's per-round ratios and their summary, or why there are none."""
        fast, slow = self.entry(pair.fast), self.entry(pair.slow)
        out: Dict[str, Any] = {"fast": pair.fast, "slow": pair.slow, "metric": pair.metric, "headline": pair.headline}
        missing = [e for e in (fast, slow) if e.status != "ok"]
        if missing:
            out.update(status="skipped", reason=", ".join(f"{e.name} {e.status}" for e in missing))
            return out
        a, b = fast.samples.get(pair.metric, []), slow.samples.get(pair.metric, [])
        rounds = [(x, y) for x, y in zip(a, b) if x > 0 and y > 0]
        if not rounds:
            out.update(status="skipped", reason=f"no round measured {pair.metric} for both")
            return out
        if pair.metric in HIGHER_IS_BETTER:
            ratios = [x / y for x, y in rounds]
        else:
            ratios = [y / x for x, y in rounds]
        out.update(status="ok", per_round=ratios, **summary(ratios))
        return out


def rotation(entries: Sequence[Entry], r: int) -> List[Entry]:
    """The entries still measurable, in round ``r``'s order: each round starts one later.

    >>> [e.name for e in rotation([Entry("a", "baseline"), Entry("b", "fastsmr")], 1)]
    ['b', 'a']
    """
    live = [e for e in entries if e.status == "ok"]
    shift = r % len(live) if live else 0
    return live[shift:] + live[:shift]


def _call_time(entry: Entry, data: Any, inner: int, warm: bool) -> float:
    if entry.prepare is not None:
        entry.prepare()
    if warm:
        # One untimed call first: the caches and the allocator state the previous
        # competitor left behind (a large buffer handed back to the OS, say)
        # are not this one's cost.
        entry.run(data)
    gc.collect()
    run = entry.run
    start = time.perf_counter()
    for _ in range(inner):
        run(data)
    return (time.perf_counter() - start) / inner


def time_rounds(
    entries: Sequence[Entry],
    data: Any,
    rounds: int,
    *,
    min_seconds: float = 0.02,
    max_warm_seconds: float = 1.0,
    warmup_data: Any = None,
    check: Optional[Callable[[Entry, Any], None]] = None,
) -> None:
    """Record ``seconds`` per call of each ready entry over ``rounds`` interleaved rounds.

    Each entry is warmed up once (on ``warmup_data`` when given: a smaller
    input for competitors that are quadratic on the real one), and then
    called ``inner`` times per round, ``inner`` chosen so that a round lasts
    at least ``min_seconds`` (one call for anything slower). In every round
    an entry faster than ``max_warm_seconds`` gets one untimed call before
    its timed ones. ``check(entry, result)`` validates one full-size result
    first. An entry that raises is marked failed and left out of later
    rounds.

    >>> e = Entry("sum", "baseline", run=sum)
    >>> time_rounds([e], [1, 2, 3], rounds=2, min_seconds=0)
    >>> len(e.samples["seconds"])
    2
    """
    ready = [e for e in entries if e.status == "ok"]
    inner: Dict[str, int] = {}
    warm: Dict[str, bool] = {}
    for entry in ready:
        try:
            if entry.prepare is not None:
                entry.prepare()
            if warmup_data is not None:
                entry.run(warmup_data)
            start = time.perf_counter()
            result = entry.run(data)
            elapsed = time.perf_counter() - start
            if check is not None:
                check(entry, result)
        except Exception as error:  # a competitor's bug is reported, not fatal
            entry.fail(error)
            continue
        inner[entry.name] = max(1, int(min_seconds / elapsed)) if elapsed > 0 else 1
        warm[entry.name] = elapsed < max_warm_seconds
    for r in range(rounds):
        for entry in rotation(ready, r):
            try:
                entry.record("seconds", _call_time(entry, data, inner[entry.name], warm[entry.name]))
            except Exception as error:
                entry.fail(error)


def cpu_rounds(
    entries: Sequence[Entry],
    data: Any,
    rounds: int,
    *,
    per: int,
    metric: str,
    check: Callable[[Entry, Any], None],
) -> None:
    """Record each ready entry's CPU time (``time.process_time``) per ``per`` units
    as ``metric``, over ``rounds`` interleaved rounds of one call each.

    CPU rather than wall time: what a service pays, and on a machine shared
    with other work, a figure the neighbours do not inflate. Each entry is
    prepared and called once first, and ``check(entry, result)`` validates
    that call; an entry that raises is marked failed and left out.

    >>> e = Entry("sum", "baseline", run=sum)
    >>> cpu_rounds([e], [1, 2, 3], 2, per=3, metric="cpu_per_token", check=lambda entry, result: None)
    >>> len(e.samples["cpu_per_token"])
    2
    """
    ready = [e for e in entries if e.status == "ok"]
    for entry in ready:
        try:
            if entry.prepare is not None:
                entry.prepare()
            check(entry, entry.run(data))
        except Exception as error:  # a competitor's failure is reported, not fatal
            entry.fail(error)
    for r in range(rounds):
        for entry in rotation(ready, r):
            try:
                if entry.prepare is not None:
                    entry.prepare()
                gc.collect()
                start = time.process_time()
                entry.run(data)
                entry.record(metric, (time.process_time() - start) / per)
            except Exception as error:
                entry.fail(error)


def once(run: Callable[..., Any], *args: Any) -> Tuple[Any, float, float]:
    """``(result, seconds, MiB)``: one call of ``run(*args)``, its wall time, and how
    much it grew the process's peak resident set (0 where the OS does not say).

    For what is measured once at a size rather than in rounds: a cost that
    must stay flat as the input grows, memory that must stay constant.

    >>> result, seconds, grew = once(sum, [1, 2, 3])
    >>> result, seconds >= 0, grew >= 0
    (6, True, True)
    """
    before = _peak_rss_mib()
    gc.collect()
    start = time.perf_counter()
    result = run(*args)
    return result, time.perf_counter() - start, _peak_rss_mib() - before


def _peak_rss_mib() -> float:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

"""What a run reports: the printed tables, the JSON of every figure, the Markdown page and the chart."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from typing import Any, Dict, Iterator, List, Optional

import fastsmr

from ._measure import STATISTICS, Table, summary

__all__ = ["machine_info", "versions", "table_json", "document", "text_lines", "markdown", "headline_markdown",
           "marked_blocks", "write_markdown", "plot"]

#: Markers around the generated part of a Markdown file; text outside them is kept.
BEGIN = "<!-- fastsmr bench: generated section, rewritten by `fastsmr bench --markdown` -->"
END = "<!-- fastsmr bench: end of generated section -->"
#: Markers around the headline ratios alone, as a README quotes them (from the same run).
HEADLINE_BEGIN = "<!-- fastsmr bench: headline ratios, rewritten by `fastsmr bench --markdown` -->"
HEADLINE_END = "<!-- fastsmr bench: end of headline ratios -->"
#: block name -> its markers; a file gets every block whose markers it holds.
MARKERS = {"results": (BEGIN, END), "headline": (HEADLINE_BEGIN, HEADLINE_END)}

_DISTRIBUTIONS = ("botocore", "boto3", "aiobotocore", "smithy-aws-event-stream", "smithy-core", "smithy-json",
                  "aws-sdk-sagemaker-runtime-http2", "aws-sdk-bedrock-runtime", "awscrt", "h2", "numpy",
                  "matplotlib", "zlib-ng", "isal", "orjson")
_UNITS = {
    "seconds": ("time", "s"),
    "cpu_per_token": ("CPU/token", "s"),
    "tokens_per_s": ("tokens/s", ""),
    "cpu_per_event": ("CPU/event", "s"),
    "events_per_s": ("events/s", ""),
    "cpu_percent": ("client CPU", "%"),
    "wall_seconds": ("wall", "s"),
    "cpu_seconds": ("CPU", "s"),
    "peak_bytes": ("peak/stream", "B"),
    "retained_bytes": ("retained/stream", "B"),
    "latency_p50": ("latency p50", "s"),
    "latency_p99": ("latency p99", "s"),
    "ttft_p50": ("TTFT p50", "s"),
    "switches_per_token": ("switches/token", ""),
    "traced_bytes": ("traced/stream", "B"),
    "rss_bytes": ("RSS/stream", "B"),
    "descriptors": ("fds/stream", ""),
    "parsers": ("parsers kept", ""),
}


def machine_info() -> Dict[str, Any]:
    """The machine, as far as the standard library can tell."""
    info: Dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_model() or platform.processor(),
        "cpus": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def versions() -> Dict[str, Optional[str]]:
    """fastsmr's build and the version of every competitor (None: not installed)."""
    from importlib import metadata

    out: Dict[str, Optional[str]] = {"fastsmr": fastsmr.__version__, "fastsmr backend": fastsmr.BACKEND}
    try:
        from fastsmr.codec import _codec_c as _speedups

        out["fastsmr crc32"] = _speedups._crc32_impl()
    except (ImportError, AttributeError):
        out["fastsmr crc32"] = None
    for name in _DISTRIBUTIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _label(ratio: Dict[str, Any]) -> str:
    return f"{ratio['fast']} vs {ratio['slow']} ({_UNITS[ratio['metric']][0]})"


def table_json(table: Table) -> Dict[str, Any]:
    competitors = []
    for entry in table.entries:
        item: Dict[str, Any] = {"name": entry.name, "role": entry.role, "status": entry.status}
        if entry.reason:
            item["reason"] = entry.reason
        if entry.extra:
            item.update(entry.extra)
        if entry.status == "ok":
            metrics: Dict[str, Dict[str, Any]] = {m: dict(summary(v), values=v) for m, v in entry.samples.items() if v}
            item["metrics"] = metrics
            seconds = metrics.get("seconds")
            if seconds and table.units:
                item[f"ns_per_{table.unit}"] = seconds["median"] / table.units * 1e9
                if table.nbytes:
                    item["gb_per_s"] = table.nbytes / seconds["median"] / 1e9
        competitors.append(item)
    ratios = []
    for pair in table.pairs:
        ratio = table.ratio(pair)
        ratio["label"] = _label(ratio)
        ratios.append(ratio)
    return {
        "case": table.case,
        "title": table.title,
        "unit": table.unit,
        "units": table.units,
        "bytes": table.nbytes,
        "rounds": table.rounds,
        "metrics": table.metrics,
        "params": table.params,
        "notes": table.notes,
        "competitors": competitors,
        "ratios": ratios,
    }


def document(tables: List[Table], *, argv: List[str], quick: bool, elapsed: float,
             start_info: Dict[str, Any]) -> Dict[str, Any]:
    """Everything a run measured, as one JSON-ready dict."""
    cases = [table_json(t) for t in tables]
    headline = []
    for case in cases:
        for ratio in case["ratios"]:
            if ratio["headline"]:
                headline.append({"case": case["case"], "title": case["title"], "params": case["params"], **ratio})
    info = dict(start_info)
    if hasattr(os, "getloadavg"):
        info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "schema": "fastsmr-bench/1",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["fastsmr", "bench", *argv]),
        "quick": quick,
        "elapsed_seconds": round(elapsed, 1),
        "machine": info,
        "versions": versions(),
        "statistics": STATISTICS,
        "method": (
            "Warm-up, then rounds in which every competitor runs in an order that rotates from round to "
            "round (decoders: one untimed call, then enough timed calls to last 20 ms; end to end: N streams "
            "at once); ratios are taken within each round and summarised as median (min-max) over rounds. "
            "Client CPU is the process's user + system time from the OS (time.process_time)."
        ),
        "headline": headline,
        "tables": cases,
    }


# --- formatting ------------------------------------------------------------------


def _quantity(metric: str, value: float) -> str:
    if metric in ("seconds", "wall_seconds", "cpu_seconds", "cpu_per_token", "cpu_per_event", "latency_p50", "latency_p99",
                  "ttft_p50"):
        for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
            if value >= scale or unit == "ns":
                return f"{value / scale:.3g} {unit}"
    if metric in ("tokens_per_s", "events_per_s"):
        return f"{value:,.0f}/s"
    if metric == "cpu_percent":
        return f"{value:.3g} %"
    if metric in ("peak_bytes", "retained_bytes", "traced_bytes", "rss_bytes"):
        return f"{value / 1024:,.1f} KiB" if abs(value) >= 1024 else f"{value:,.0f} B"
    return f"{value:.4g}"


def _num(value: float) -> str:
    """Three significant digits, without an exponent.

    >>> _num(1193.7), _num(82.04), _num(0.0614)
    ('1,194', '82', '0.0614')
    """
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def _floor_note(ratio: Dict[str, Any]) -> str:
    """For a ratio against a floor (below 1): how many times the floor's time fastsmr takes."""
    if ratio["median"] < 1 and "floor" in ratio["slow"]:
        return f"{ratio['fast']} takes {_num(1 / ratio['median'])}x the floor's time"
    return ""


def _ratio_text(ratio: Dict[str, Any]) -> str:
    if ratio["status"] != "ok":
        return f"skipped ({ratio['reason']})"
    note = _floor_note(ratio)
    return f"{_num(ratio['median'])}x  ({_num(ratio['min'])}-{_num(ratio['max'])})" + (f"  = {note}" if note else "")


def _case_label(item: Dict[str, Any]) -> str:
    streams = item.get("params", {}).get("streams")
    return f"{item['case']} ({streams} {'stream' if streams == 1 else 'streams'})" if streams else item["case"]


def _header_lines(doc: Dict[str, Any]) -> Iterator[str]:
    m, v = doc["machine"], doc["versions"]
    yield f"fastsmr {v['fastsmr']} ({v['fastsmr backend']} backend, CRC-32 {v['fastsmr crc32'] or 'n/a'}) on {m['python']}"
    yield f"{m['processor']}, {m['cpus']} CPUs, {m['platform']}; load average {m.get('load_average')}"
    installed = ", ".join(f"{k} {val}" for k, val in v.items() if k in _DISTRIBUTIONS and val)
    absent = ", ".join(k for k, val in v.items() if k in _DISTRIBUTIONS and not val)
    yield f"installed: {installed}" + (f"; not installed: {absent}" if absent else "")
    yield f"statistics: {doc['statistics']}"


def text_lines(table: Dict[str, Any]) -> Iterator[str]:
    """One table as printed lines."""
    yield ""
    yield f"== {table['case']}: {table['title']} ({_rounds(table)})"
    metrics = _table_metrics(table)
    per_unit = f"ns_per_{table['unit']}"
    head = "".join(f"{_UNITS[m][0]:>16}" for m in metrics)
    if "seconds" in metrics:
        head += f"{'ns/' + table['unit']:>16}{'GB/s':>10}"
    yield f"  {'competitor':<34}{head}"
    for item in table["competitors"]:
        if item["status"] != "ok":
            yield f"  {item['name']:<34}{item['status']}: {item.get('reason', '')}"
            continue
        cells = "".join(f"{_quantity(m, item['metrics'][m]['median']):>16}" if m in item["metrics"] else f"{'':>16}"
                        for m in metrics)
        if per_unit in item:
            cells += f"{item[per_unit]:>16,.0f}{item.get('gb_per_s', 0):>10.3g}"
        extra = f"  [{item['implementation']}]" if "implementation" in item else ""
        yield f"  {item['name']:<34}{cells}{extra}"
    if table["ratios"]:
        yield "  ratios (median of per-round ratios, min-max; above 1: the first is better):"
    for ratio in table["ratios"]:
        yield f"    {ratio['label']:<66} {_ratio_text(ratio)}"
    for note in table["notes"]:
        yield f"  note: {note}"


def _table_metrics(table: Dict[str, Any]) -> List[str]:
    return [m for m in table["metrics"] if any(m in c.get("metrics", {}) for c in table["competitors"])]


def _rounds(table: Dict[str, Any]) -> str:
    return "1 round" if table["rounds"] == 1 else f"{table['rounds']} rounds"


def print_document(doc: Dict[str, Any], out: Any = None) -> None:
    out = out or sys.stdout
    for line in _header_lines(doc):
        print(line, file=out)
    if doc["quick"]:
        print("--quick: small inputs and few rounds, where fixed costs per call weigh more (end-to-end ratios come "
              "out lower): for figures, run without --quick", file=out)
    for table in doc["tables"]:
        for line in text_lines(table):
            print(line, file=out)
    print(f"\n{doc['elapsed_seconds']} s in all", file=out)


# --- Markdown --------------------------------------------------------------------


def markdown(doc: Dict[str, Any], chart: Optional[str]) -> str:
    """The generated section of RESULTS.md (without the markers)."""
    lines = ["## `fastsmr bench` results", ""]
    lines += [f"Generated {doc['created']} by `{doc['command']}` in {doc['elapsed_seconds']} s.", ""]
    lines += [f"* {line}" for line in _header_lines(doc)]
    lines += ["", doc["method"] + " The machine is shared and noisy: read the ratios, not the absolute times.", ""]
    if chart:
        lines += [f"![speedups]({chart})", ""]
    lines += ["### Headline ratios", "", "Each case is described in its section below.", "",
              "| case | ratio | median | min-max |", "|---|---|---:|---:|"]
    for ratio in doc["headline"]:
        if ratio["status"] == "ok":
            lines.append(f"| {_case_label(ratio)} | {ratio['label']} | **{_num(ratio['median'])}x** "
                         f"| {_num(ratio['min'])}-{_num(ratio['max'])} |")
        else:
            lines.append(f"| {_case_label(ratio)} | {ratio['label']} | skipped | {ratio['reason']} |")
    for table in doc["tables"]:
        lines += ["", f"### {table['case']}: {table['title']}", "", f"{_rounds(table).capitalize()}.", ""]
        metrics = _table_metrics(table)
        per_unit = f"ns_per_{table['unit']}"
        heads = [f"{_UNITS[m][0]} (median, min-max)" for m in metrics]
        if "seconds" in metrics:
            heads += [f"ns/{table['unit']}", "GB/s"]
        lines.append("| competitor | " + " | ".join(heads) + " |")
        lines.append("|---|" + "---:|" * len(heads))
        for item in table["competitors"]:
            name = item["name"] + (f" ({item['implementation']})" if "implementation" in item else "")
            if item["status"] != "ok":
                lines.append(f"| {name} | {item['status']}: {item.get('reason', '')} |" + " |" * (len(heads) - 1))
                continue
            cells = []
            for m in metrics:
                s = item["metrics"].get(m)
                cells.append(f"{_quantity(m, s['median'])} ({_quantity(m, s['min'])}-{_quantity(m, s['max'])})" if s else "")
            if "seconds" in metrics:
                cells += [f"{item[per_unit]:,.0f}", f"{item['gb_per_s']:.3g}"] if per_unit in item else ["", ""]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", "| ratio | median | min-max | |", "|---|---:|---:|---|"] if table["ratios"] else []
        for ratio in table["ratios"]:
            if ratio["status"] == "ok":
                lines.append(f"| {ratio['label']} | {_num(ratio['median'])}x | {_num(ratio['min'])}-{_num(ratio['max'])} "
                             f"| {_floor_note(ratio)} |")
            else:
                lines.append(f"| {ratio['label']} | skipped | | {ratio['reason']} |")
        lines += [""] + [f"* {note}" for note in table["notes"]] if table["notes"] else []
    return "\n".join(lines).rstrip() + "\n"


def headline_markdown(doc: Dict[str, Any], results: Optional[str]) -> str:
    """The headline ratios as a README quotes them: which run, which command reruns it, median (min-max).

    ``results`` is the link to the page with every table of the run (relative
    to the file this goes in), or None.
    """
    m, v = doc["machine"], doc["versions"]
    seconds = doc["elapsed_seconds"]
    took = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
    lines = [
        f"Medians of per-round ratios, with their min-max over the rounds, from one run of `{doc['command']}` "
        f"({doc['created'][:10]}, {took}): fastsmr {v['fastsmr']}, {v['fastsmr backend']} backend, "
        f"{m['python']}, {m['processor']}, {m['cpus']} CPUs."
        + (f" Every table of that run is in [{os.path.basename(results)}]({results})." if results else ""),
    ]
    if doc["quick"]:
        lines[0] += " A --quick run: small inputs and few rounds, so its ratios are not for quoting."
    lines += ["", "| measured | fastsmr vs competitor | speedup |", "|---|---|---:|"]
    previous = ""
    for ratio in doc["headline"]:
        what = f"{ratio['title']}: {_UNITS[ratio['metric']][0]}"
        what, previous = ("" if what == previous else what), what  # the case once, above its ratios
        versus = f"{ratio['fast']} vs {ratio['slow']}"
        if ratio["status"] == "ok":
            lines.append(f"| {what} | {versus} | **{_num(ratio['median'])}x** ({_num(ratio['min'])}-{_num(ratio['max'])}) |")
        else:
            lines.append(f"| {what} | {versus} | skipped: {ratio['reason']} |")
    return "\n".join(lines) + "\n"


def marked_blocks(path: str) -> List[str]:
    """The names of the blocks (see :data:`MARKERS`) whose markers ``path`` holds; [] for no file."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return [name for name, (begin, end) in MARKERS.items() if begin in text and end in text.split(begin, 1)[1]]


def write_markdown(path: str, blocks: Dict[str, str]) -> List[str]:
    """Put each block of ``blocks`` between its markers in ``path``, keeping everything else in the file.

    A file that holds no markers (or does not exist) gets the ``"results"``
    block appended. Returns the names of the blocks written.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    names = [name for name in marked_blocks(path) if name in blocks] if text else []
    if not names:
        begin, end = MARKERS["results"]
        block = f"{begin}\n\n{blocks['results']}\n{end}\n"
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + block
        names = ["results"]
    else:
        for name in names:
            begin, end = MARKERS[name]
            before, rest = text.split(begin, 1)
            after = rest.split(end, 1)[1]
            text = f"{before}{begin}\n\n{blocks[name]}\n{end}{after}"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return names


# --- the chart -------------------------------------------------------------------


def plot(doc: Dict[str, Any], path: str) -> Optional[str]:
    """A PNG bar chart of the headline speedups (log scale); the reason when it cannot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'fastsmr[bench]')"
    ratios = [r for r in doc["headline"] if r["status"] == "ok"]
    if not ratios:
        return "no headline ratio was measured"
    ratios.reverse()  # matplotlib draws the first bar at the bottom
    def label(r: Dict[str, Any]) -> str:
        metric = f" ({_UNITS[r['metric']][0]})" if r["metric"] != "seconds" else ""
        return f"{_case_label(r)}: {r['fast']} vs {r['slow']}{metric}"

    labels = [label(r) for r in ratios]
    values = [r["median"] for r in ratios]
    low = [r["median"] - r["min"] for r in ratios]
    high = [r["max"] - r["median"] for r in ratios]
    groups = {  # case prefix -> (legend, colour)
        "e2e": ("end to end, unpaced: client CPU per token", "#4c72b0"),
        "paced": ("end to end at 30 tokens/s per stream: client CPU %", "#55a868"),
        "memory": ("memory per open stream", "#8172b2"),
        "crc": ("CRC-32", "#937860"),
        "": ("decoding the same bytes: time", "#dd8452"),
    }
    kinds = [next(k for k in groups if r["case"].startswith(k)) for r in ratios]
    fig, ax = plt.subplots(figsize=(13, 0.3 * len(ratios) + 2.0))
    ax.barh(range(len(ratios)), values, xerr=[low, high], color=[groups[k][1] for k in kinds], capsize=2,
            error_kw={"elinewidth": 0.8})
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(ratios)))
    ax.set_yticklabels(labels, fontsize=8)
    for i, r in enumerate(ratios):
        ax.text(r["max"] * 1.1, i, f"{_num(r['median'])}x", va="center", fontsize=7)
    ax.set_xlim(right=max(r["max"] for r in ratios) * 4)
    from matplotlib.patches import Patch

    shown = [k for k in groups if k in kinds]
    ax.legend([Patch(color=groups[k][1]) for k in shown], [groups[k][0] for k in shown], fontsize=7, loc="lower right")
    v, m = doc["versions"], doc["machine"]
    ax.set_xlabel("times better than the competitor, log scale (median of per-round ratios; whiskers: min-max)")
    ax.set_title(f"fastsmr {v['fastsmr']} ({v['fastsmr backend']}), {m['python']}, {m['processor']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None

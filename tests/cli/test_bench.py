"""``fastsmr bench``: a quick run reports every competitor and every ratio, measured or skipped.

No test here asserts a speed: only that each figure is there, is a positive
number where it was measured, and says why where it was not.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

import fastsmr
from fastsmr.cli.bench import _report

DECODERS = [
    "botocore EventStreamBuffer",
    "botocore EventStream",
    "fastsmr.install() c",
    "fastsmr.install() python",
    "fastsmr.payload_parts",
    "smithy Event.decode",
    "smithy Event.decode_async",
    "fastsmr c",
    "fastsmr python",
    "fastsmr.smithy decoder",
    "CRC-32 floor",
    "memory copy floor",
]
DECODER_RATIOS = [
    (fast, slow)
    for fast in ("fastsmr c", "fastsmr python")
    for slow in ("botocore EventStreamBuffer", "smithy Event.decode", "smithy Event.decode_async", "CRC-32 floor",
                 "memory copy floor")
] + [("fastsmr.smithy decoder", "smithy Event.decode_async")] + [
    (fast, "botocore EventStream") for fast in ("fastsmr.install() c", "fastsmr.install() python", "fastsmr.payload_parts")
]
SYNC = ["stock boto3", "fastsmr.install()", "fastsmr.payload_parts", "stock boto3 + line parsing", "fastsmr.text_stream"]
ASYNC = ["stock aiobotocore", "fastsmr.install() aiobotocore", "fastsmr.aio.payload_parts",
         "stock aiobotocore + line parsing", "fastsmr.aio.text_stream"]


def e2e_ratios(names):
    stock, install, parts, line_text, text = names
    pairs = [(install, stock), (parts, stock), (text, line_text), (text, stock)]
    return {(f, s, m) for m in ("cpu_per_token", "tokens_per_s") for f, s in pairs}


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    command = [sys.executable, "-m", "fastsmr", "bench", "--quick", "--case", "tokens-64k", "large-payload", "crc",
               "threads", "memory", "http-body", "e2e-sync", "e2e-async", "--streams", "1", "--rounds", "2", "--json", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return result, json.loads(path.read_text(encoding="utf-8"))


def check_entries(table, names, expect_ok, order=True):
    found = [c["name"] for c in table["competitors"]]
    assert (found if order else sorted(found)) == names
    for item in table["competitors"]:
        assert item["status"] in ("ok", "skipped"), item
        if item["status"] == "skipped":
            assert item["reason"], item
        else:
            assert item["metrics"], item
            for summary in item["metrics"].values():
                assert 0 < summary["min"] <= summary["median"] <= summary["max"]
                assert len(summary["values"]) == table["rounds"]
        if item["name"] in expect_ok:
            assert item["status"] == expect_ok[item["name"]], item


def check_ratios(table, expected):
    found = {(r["fast"], r["slow"], r["metric"]) for r in table["ratios"]}
    assert found == expected
    status = {c["name"]: c["status"] for c in table["competitors"]}
    for ratio in table["ratios"]:
        both = status[ratio["fast"]] == status[ratio["slow"]] == "ok"
        assert ratio["status"] == ("ok" if both else "skipped"), ratio
        assert ratio["label"].startswith(f"{ratio['fast']} vs {ratio['slow']}")
        if both:
            assert len(ratio["per_round"]) == table["rounds"]
            assert 0 < ratio["min"] <= ratio["median"] <= ratio["max"]
        else:
            assert ratio["reason"]


def test_decoders_every_competitor_and_ratio(run):
    _, doc = run
    (table,) = [t for t in doc["tables"] if t["case"] == "tokens-64k"]
    assert table["rounds"] == 2
    c = "ok" if fastsmr.BACKEND == "c" else "skipped"
    smithy = "ok" if installed("smithy_aws_event_stream") else "skipped"
    check_entries(table, DECODERS, {
        "botocore EventStreamBuffer": "ok", "botocore EventStream": "ok", "fastsmr python": "ok",
        "fastsmr c": c, "fastsmr.install() c": c, "smithy Event.decode": smithy,
        "smithy Event.decode_async": smithy, "fastsmr.smithy decoder": smithy, "CRC-32 floor": "ok",
        "memory copy floor": "ok",
    })
    check_ratios(table, {(f, s, "seconds") for f, s in DECODER_RATIOS})
    floor = table["competitors"][DECODERS.index("CRC-32 floor")]
    assert floor["implementation"]


def test_large_payload_also_against_binascii(run):
    _, doc = run
    (table,) = [t for t in doc["tables"] if t["case"] == "large-payload"]
    c = "ok" if fastsmr.BACKEND == "c" else "skipped"
    # fastsmr.payload_parts reads SageMaker's PayloadParts: this stream has none.
    names = [n for n in DECODERS if n != "fastsmr.payload_parts"] + ["binascii.crc32"]
    check_entries(table, names, {
        "botocore EventStreamBuffer": "ok", "fastsmr python": "ok", "fastsmr c": c, "CRC-32 floor": "ok",
        "memory copy floor": "ok", "binascii.crc32": "ok",
    })
    binascii_pairs = {(f, "binascii.crc32", "seconds") for f in ("fastsmr c", "fastsmr python")}
    pairs = {(f, s, "seconds") for f, s in DECODER_RATIOS if f != "fastsmr.payload_parts"}
    check_ratios(table, pairs | binascii_pairs)
    primary = "fastsmr c" if fastsmr.BACKEND == "c" else "fastsmr python"
    assert ("large-payload", primary, "binascii.crc32") in {(h["case"], h["fast"], h["slow"]) for h in doc["headline"]}
    for item in table["competitors"]:
        if item["status"] == "ok":
            assert item["gb_per_s"] > 0


def test_threads_one_against_two_for_each_way_of_feeding(run):
    _, doc = run
    (table,) = [t for t in doc["tables"] if t["case"] == "threads"]
    c = "ok" if fastsmr.BACKEND == "c" else "skipped"
    rows = [(backend, feeding) for backend in ("c", "python") for feeding in ("decode", "256 KiB reads")]
    names = [f"fastsmr {b} {f}, {n} thread{'s' if n == 2 else ''}" for b, f in rows for n in (1, 2)]
    check_entries(table, names, {name: c if " c " in name else "ok" for name in names})
    check_ratios(table, {(f"fastsmr {b} {f}, 2 threads", f"fastsmr {b} {f}, 1 thread", "seconds") for b, f in rows})
    assert table["units"] == 4 and table["bytes"] > 4 * 2**20


def test_http_body_reads_a_urllib3_response_stock_and_installed(run):
    _, doc = run
    (table,) = [t for t in doc["tables"] if t["case"] == "http-body"]
    names = ["botocore EventStream", "fastsmr.install() c", "fastsmr.install() python", "fastsmr.payload_parts"]
    c_status = "ok" if fastsmr.BACKEND == "c" else "skipped"
    check_entries(table, names, {n: "ok" for n in names if n != "fastsmr.install() c"} | {"fastsmr.install() c": c_status})
    check_ratios(table, {(fast, "botocore EventStream", "cpu_per_event") for fast in names[1:]})
    assert table["unit"] == "event" and table["units"] == 2_000


def test_crc_every_implementation(run):
    _, doc = run
    (table,) = [t for t in doc["tables"] if t["case"] == "crc"]
    names = ["binascii.crc32", "zlib-ng crc32", "isal crc32", "fastsmr.crc32 c"]
    check_entries(table, sorted(names), {
        "binascii.crc32": "ok",
        "zlib-ng crc32": "ok" if installed("zlib_ng") else "skipped",
        "isal crc32": "ok" if installed("isal") else "skipped",
        "fastsmr.crc32 c": "ok" if fastsmr.BACKEND == "c" else "skipped",
    }, order=False)
    check_ratios(table, {("fastsmr.crc32 c", n, "seconds") for n in names[:3]})


def test_memory_every_competitor_and_ratio(run):
    _, doc = run
    (table,) = [t for t in doc["tables"] if t["case"] == "memory"]
    c = "ok" if fastsmr.BACKEND == "c" else "skipped"
    names = ["botocore EventStream", "fastsmr.install() c", "fastsmr.payload_parts", "botocore EventStreamBuffer",
             "fastsmr c", "fastsmr python", "smithy Event.decode_async"]
    check_entries(table, names, {"botocore EventStream": "ok", "fastsmr.install() c": c, "fastsmr c": c,
                                 "smithy Event.decode_async": "skipped"})
    for item in table["competitors"]:
        if item["status"] == "ok":
            assert set(item["metrics"]) == {"peak_bytes", "retained_bytes"}
    pairs = [("fastsmr.install() c", "botocore EventStream"), ("fastsmr.payload_parts", "botocore EventStream"),
             ("fastsmr c", "botocore EventStreamBuffer"), ("fastsmr python", "botocore EventStreamBuffer")]
    check_ratios(table, {(f, s, m) for f, s in pairs for m in ("peak_bytes", "retained_bytes")})


def test_end_to_end_every_client_and_ratio(run):
    _, doc = run
    for case, names, module in (("e2e-sync", SYNC, "boto3"), ("e2e-async", ASYNC, "aiobotocore")):
        (table,) = [t for t in doc["tables"] if t["case"] == case]
        assert table["params"] == {"streams": 1, "tokens_per_stream": 2000, "rate_per_stream": 0.0}
        status = "ok" if installed(module) else "skipped"
        check_entries(table, names, {name: status for name in names})
        check_ratios(table, e2e_ratios(names))


def test_report_has_machine_versions_and_headline(run):
    result, doc = run
    assert doc["schema"] == "fastsmr-bench/1" and doc["quick"] is True
    assert doc["command"].startswith("fastsmr bench --quick --case tokens-64k")
    assert doc["machine"]["python"] and doc["machine"]["cpus"]
    assert doc["versions"]["fastsmr"] == fastsmr.__version__
    assert doc["versions"]["fastsmr backend"] == fastsmr.BACKEND
    assert "smithy-aws-event-stream" in doc["versions"]
    labels = {(h["case"], h["fast"], h["slow"]) for h in doc["headline"]}
    primary = "fastsmr c" if fastsmr.BACKEND == "c" else "fastsmr python"
    assert ("tokens-64k", primary, "botocore EventStreamBuffer") in labels
    # The printed table carries the same figures.
    assert "== tokens-64k:" in result.stdout and "fastsmr python vs botocore EventStreamBuffer" in result.stdout


def test_markdown_keeps_other_sections(run, tmp_path):
    _, doc = run
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n\n## Codec targets\n\n| a | b |\n\n## After\n\nkept\n", encoding="utf-8")
    blocks = {"results": _report.markdown(doc, "speedups.png"), "headline": "never used"}
    assert _report.write_markdown(str(path), blocks) == ["results"]
    first = path.read_text(encoding="utf-8")
    assert first.startswith("# Results\n\n## Codec targets\n\n| a | b |")
    assert "kept" in first and "![speedups](speedups.png)" in first and "### tokens-64k:" in first
    assert "never used" not in first
    # A second run replaces its own section only.
    path.write_text(first.replace("kept", "still kept"), encoding="utf-8")
    _report.write_markdown(str(path), {"results": _report.markdown(doc, None)})
    second = path.read_text(encoding="utf-8")
    assert second.count(_report.BEGIN) == 1 and "still kept" in second and "![speedups]" not in second


def test_markdown_into_a_readme_and_results_from_one_run(run, tmp_path):
    _, doc = run
    (tmp_path / "bench").mkdir()
    results, readme = tmp_path / "bench" / "RESULTS.md", tmp_path / "README.md"
    readme.write_text(f"# Project\n\n## How fast\n\n{_report.HEADLINE_BEGIN}\nold figures\n{_report.HEADLINE_END}\n\n"
                      "## After\n", encoding="utf-8")
    results.write_text(f"# Results\n\nnotes\n\n{_report.BEGIN}\nold tables\n{_report.END}\n", encoding="utf-8")
    args = bench_args(markdown=[str(results), str(readme)], plot=None)
    from fastsmr.cli.bench import _write_markdown

    _write_markdown(doc, args.markdown, None)
    page = readme.read_text(encoding="utf-8")
    assert "old figures" not in page and page.startswith("# Project\n\n## How fast\n\n") and page.endswith("## After\n")
    headline = page.split(_report.HEADLINE_BEGIN)[1].split(_report.HEADLINE_END)[0]
    assert f"one run of `{doc['command']}`" in headline
    assert "[RESULTS.md](bench/RESULTS.md)" in headline
    assert "A --quick run" in headline  # never quoted as if it were a full run
    rows = [line for line in headline.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == len(doc["headline"])
    for row, ratio in zip(rows, doc["headline"]):
        assert f"{ratio['fast']} vs {ratio['slow']}" in row
        if ratio["status"] == "ok":  # median and range, the same figures as RESULTS.md's
            figure = f"**{_report._num(ratio['median'])}x** ({_report._num(ratio['min'])}-{_report._num(ratio['max'])})"
            assert row.endswith(f"| {figure} |")
    tables = results.read_text(encoding="utf-8")
    assert "old tables" not in tables and tables.startswith("# Results\n\nnotes\n\n") and "### tokens-64k:" in tables
    assert _report.HEADLINE_BEGIN not in tables
    for ratio in doc["headline"]:
        if ratio["status"] == "ok":
            assert f"**{_report._num(ratio['median'])}x** | {_report._num(ratio['min'])}-{_report._num(ratio['max'])}" in tables


def bench_args(**options):
    import argparse

    from fastsmr.cli.bench import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    for name, value in options.items():
        setattr(args, name, value)
    return args


def test_bench_argv_repeats_every_markdown_path():
    from fastsmr.cli.bench import _argv

    args = bench_args(plot="bench/speedups.png", markdown=["bench/RESULTS.md", "README.md"])
    assert _argv(args) == ["--plot", "bench/speedups.png", "--markdown", "bench/RESULTS.md", "--markdown", "README.md"]


def test_plot_writes_a_png(run, tmp_path):
    pytest.importorskip("matplotlib")
    _, doc = run
    path = tmp_path / "speedups.png"
    assert _report.plot(doc, str(path)) is None
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(installed("litellm"), reason="LiteLLM is installed: tests/integrations measures the case")
def test_litellm_case_without_litellm_says_how_to_get_it():
    from fastsmr.cli.bench import _litellm

    tables = _litellm.litellm_tables(None, quick=True, rounds=1, e2e_rounds=1, tokens=10)
    assert len(tables) == 3
    for table in tables:
        assert {e.name: e.status for e in table.entries} == {e.name: "skipped" for e in table.entries}
        assert all("fastsmr[integrations]" in e.reason for e in table.entries)
        assert table.ratio(table.pairs[0])["status"] == "skipped"


def test_unknown_case_is_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "fastsmr", "bench", "--case", "nope"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_docstring_examples():
    import doctest

    import fastsmr.cli.bench
    from fastsmr.cli.bench import _clients, _inputs, _measure

    for module in (fastsmr.cli.bench, _clients, _inputs, _measure, _report):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_paced_case_measures_each_client_and_its_floor():
    # A few clients, a few streams, a short window: every figure is there and
    # positive, every ratio against stock and against the model's floor.
    from fastsmr.cli.bench import _paced

    names = ["stock boto3", "fastsmr.payload_parts", "floor: recv per thread", "fastsmr.mux.Reader",
             "floor: one epoll loop", "stock boto3 + relay", "fastsmr.mux.Reader relay"]
    table = _report.table_json(_paced.paced_table("paced-batched", streams=4, rate=30.0, rounds=1, window=0.5,
                                                  settle=0.2, names=names))
    assert table["params"] == {"streams": 4, "rate_per_stream": 30.0, "window_seconds": 0.5, "arrival": "batched"}
    check_entries(table, names, {name: "ok" for name in names})
    for item in table["competitors"]:
        assert {"cpu_per_token", "cpu_percent", "ttft_p50", "switches_per_token"} <= set(item["metrics"]), item
        assert "latency_p99" in item["metrics"], item  # relay clients: timed at the sink
    found = {(r["fast"], r["slow"], r["metric"]) for r in table["ratios"]}
    assert ("fastsmr.mux.Reader", "stock boto3", "cpu_per_token") in found
    assert ("fastsmr.mux.Reader relay", "stock boto3 + relay", "cpu_per_token") in found
    assert ("fastsmr.payload_parts", "floor: recv per thread", "cpu_per_token") in found
    assert ("fastsmr.mux.Reader", "floor: one epoll loop", "cpu_per_token") in found
    assert all(r["status"] == "ok" for r in table["ratios"]), table["ratios"]


@pytest.mark.skipif(installed("aws_sdk_sagemaker_runtime_http2"), reason="tests/smithy measures the new SDK's cases")
def test_new_sdk_cases_without_the_new_sdk_say_why(tmp_path):
    path = tmp_path / "bench.json"
    command = [sys.executable, "-m", "fastsmr", "bench", "--quick", "--case", "smithy-bidirectional", "smithy-converse",
               "--json", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    tables = json.loads(path.read_text(encoding="utf-8"))["tables"]
    assert {t["case"] for t in tables} == {"smithy-bidirectional", "smithy-converse"}
    for table in tables:
        assert [c["status"] for c in table["competitors"]] == ["skipped"] * 3
        assert all(c["reason"] for c in table["competitors"])

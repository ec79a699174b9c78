"""``fastsmr bench``: fastsmr side by side with botocore, aiobotocore and smithy-aws-event-stream.

Every case runs every competitor in one process, in interleaved rounds, and
reports medians with min-max and ratios taken round by round (see
:mod:`fastsmr.bench._measure`). Competitors that are not installed are
reported as skipped. ``pip install 'fastsmr[bench]'`` installs them all, with
numpy for the statistics and matplotlib for ``--plot``.

>>> from fastsmr.cli.bench import run
>>> doc = run(["crc"], quick=True)
>>> doc["tables"][0]["competitors"][0]["name"], doc["tables"][0]["ratios"][0]["label"]
('binascii.crc32', 'fastsmr.crc32 c vs binascii.crc32 (time)')
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

__all__ = ["CASES", "add_arguments", "run", "main"]

#: Every case, in the order a full run measures them.
CASES: Dict[str, str] = {
    "tokens-64k": "decoders: a token stream (150-300 B PayloadParts) in 64 KiB chunks",
    "tokens-per-message": "decoders: the same token stream, one message per chunk",
    "big-chunk": "decoders: one chunk holding 40,000 token messages",
    "large-payload": "decoders: a 16 MiB payload in 64 KiB chunks",
    "converse": "decoders and EventStream: Bedrock ConverseStream JSON events",
    "http-body": "the boto3 drop-in over a real urllib3 response: a token stream's chunked HTTP body in memory",
    "crc": "CRC-32 implementations (the floor)",
    "threads": "decoders: two threads decoding large messages against one, whole and in 256 KiB reads",
    "memory": "tracemalloc peak and retained bytes per stream, 1,000 streams open",
    "e2e-sync": "boto3 against the local endpoint, unpaced (1, 16, 128 streams)",
    "e2e-async": "aiobotocore against the local endpoint, unpaced",
    "paced": "128 streams at 30 tokens/s, phases spread: every client and its floor, a fresh process each",
    "paced-batched": "the same with every stream's token arriving at once (a batching engine)",
    "smithy-bidirectional": "the new AWS SDK: SageMaker bidirectional streaming over HTTP/2, stock smithy vs fastsmr",
    "smithy-converse": "the new AWS SDK: Bedrock converse_stream, stock smithy vs fastsmr",
    "litellm": "LiteLLM's SageMaker streaming, stock vs install(): in memory, and end to end (needs the integrations extra)",
    "soak": "boto3 and aiobotocore, one long-lived client: memory and descriptors each stream leaves behind",
}

PACED_RATE = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``fastsmr bench``."""
    parser.add_argument("--quick", action="store_true", help="small inputs and few rounds: under a minute")
    parser.add_argument("--case", action="extend", nargs="+", choices=list(CASES), metavar="NAME",
                        help="run only these cases (repeatable): " + ", ".join(CASES))
    parser.add_argument("--rounds", type=int, help="rounds per decoder case (default 7; 3 with --quick)")
    parser.add_argument("--streams", type=int, action="extend", nargs="+", metavar="N",
                        help="concurrency levels of the end-to-end cases (default 1 16 128)")
    parser.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG bar chart of the headline speedups (needs matplotlib)")
    parser.add_argument("--markdown", metavar="PATH", action="append",
                        help="write the results into this Markdown file between fastsmr bench's markers, keeping the "
                             "rest (repeatable: a file with the headline markers, such as README.md, gets the "
                             "headline ratios of the same run)")


def run(
    cases: Optional[Sequence[str]] = None,
    *,
    quick: bool = False,
    rounds: Optional[int] = None,
    streams: Optional[Sequence[int]] = None,
    argv: Sequence[str] = (),
    progress: Callable[[str], None] = lambda line: None,
) -> Dict[str, Any]:
    """Run ``cases`` (default: all) and return the JSON-ready document of the results."""
    from . import _clients, _codecs, _litellm, _paced, _report, _smithy, _soak, _threads

    selected = [c for c in CASES if cases is None or c in cases]
    decoder_rounds = rounds or (3 if quick else 7)
    e2e_rounds = 2 if quick else 5
    levels = sorted(set(streams or (1, 16, 128)))
    if min(levels) < 1:
        raise ValueError("--streams must be >= 1")
    paced_streams = max(streams) if streams else 128
    paced_rounds, paced_window = (1, 1.5) if quick else (3, 4.0)
    start_info = _report.machine_info()
    started = time.perf_counter()
    server = _clients.Server()
    http2_server = _smithy.BidirectionalServer()
    # The new SDK's cases: one stream and 16 unless --streams says otherwise.
    smithy_levels = levels if streams else [1, 16]
    tables = []
    try:
        for case in selected:
            progress(f"{case}: {CASES[case]} ({time.perf_counter() - started:.0f} s so far)")
            if case in _codecs.DECODER_CASES:
                # Three rounds are plenty where botocore takes seconds per call.
                r = min(decoder_rounds, 3) if case == "big-chunk" and not quick else decoder_rounds
                tables.append(_codecs.decoder_table(case, quick=quick, rounds=r))
            elif case == "http-body":
                tables.append(_codecs.http_body_table(quick=quick, rounds=decoder_rounds))
            elif case == "crc":
                tables.append(_codecs.crc_table(quick=quick, rounds=decoder_rounds))
            elif case == "smithy-bidirectional":
                tables += _smithy.bidirectional_tables(http2_server, levels=smithy_levels, quick=quick, rounds=e2e_rounds)
            elif case == "smithy-converse":
                tables += _smithy.converse_tables(server.start, levels=smithy_levels, quick=quick, rounds=e2e_rounds)
            elif case == "threads":
                tables.append(_threads.threads_table(quick=quick, rounds=decoder_rounds))
            elif case == "soak":
                tables += [_soak.soak_table(server.start, kind, streams=150 if quick else 2_000,
                                            warmup=50 if quick else 200) for kind in ("boto3", "aiobotocore")]
            elif case == "memory":
                # tracemalloc's figures hardly vary: few rounds suffice.
                tables.append(_codecs.memory_table(quick=quick, rounds=1 if quick else 3))
            elif case == "litellm":
                tables += _litellm.litellm_tables(server, quick=quick, rounds=decoder_rounds, e2e_rounds=e2e_rounds)
            elif case in _paced.MODES:
                tables.append(_paced.paced_table(case, streams=paced_streams, rate=PACED_RATE, rounds=paced_rounds,
                                                 window=paced_window, settle=0.5, progress=progress))
            else:
                build = _clients.sync_tables if case.endswith("-sync") else _clients.async_tables
                tables += build(server, levels=levels, quick=quick, rounds=e2e_rounds)
    finally:
        server.close()
        http2_server.close()
    return _report.document(tables, argv=list(argv), quick=quick, elapsed=time.perf_counter() - started,
                            start_info=start_info)


def _argv(args: argparse.Namespace) -> List[str]:
    """The options ``args`` was parsed from, for the report."""
    out = ["--quick"] if args.quick else []
    for case in args.case or ():
        out += ["--case", case]
    if args.rounds:
        out += ["--rounds", str(args.rounds)]
    if args.streams:
        out += ["--streams", *map(str, args.streams)]
    for option in ("json", "plot"):
        if getattr(args, option):
            out += [f"--{option}", getattr(args, option)]
    for path in args.markdown or ():
        out += ["--markdown", path]
    return out


def main(args: argparse.Namespace) -> int:
    """Run ``fastsmr bench`` from parsed arguments; 1 if a competitor failed, else 0."""
    from . import _report

    def progress(line: str) -> None:
        print(f"... {line}", file=sys.stderr, flush=True)

    if args.rounds is not None and args.rounds < 1:
        raise ValueError("--rounds must be >= 1")
    outputs = [("json", args.json), ("plot", args.plot)] + [("markdown", path) for path in args.markdown or ()]
    for option, path in outputs:  # fail now, not after a long run
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise ValueError(f"--{option} {path}: no such directory")
    doc = run(args.case, quick=args.quick, rounds=args.rounds, streams=args.streams, argv=_argv(args),
              progress=progress)
    _report.print_document(doc)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False)
            f.write("\n")
    chart = None
    if args.plot:
        problem = _report.plot(doc, args.plot)
        if problem:
            print(f"fastsmr bench: no chart written: {problem}", file=sys.stderr)
        else:
            chart = args.plot
    if args.markdown:
        _write_markdown(doc, args.markdown, chart)
    failed = [f"{t['case']}: {c['name']}: {c.get('reason')}" for t in doc["tables"] for c in t["competitors"]
              if c["status"] == "failed"]
    for line in failed:
        print(f"fastsmr bench: failed: {line}", file=sys.stderr)
    return 1 if failed else 0


def _write_markdown(doc: Dict[str, Any], paths: Sequence[str], chart: Optional[str]) -> None:
    """Each file gets the blocks it has markers for; the headline links to the file with every table."""
    from . import _report

    def relative(target: str, page: str) -> str:
        return os.path.relpath(target, os.path.dirname(os.path.abspath(page))).replace(os.sep, "/")

    full = [path for path in paths if "results" in _report.marked_blocks(path) or not _report.marked_blocks(path)]
    for path in paths:
        blocks = {
            "results": _report.markdown(doc, relative(chart, path) if chart else None),
            "headline": _report.headline_markdown(doc, relative(full[0], path) if full and full[0] != path else None),
        }
        _report.write_markdown(path, blocks)

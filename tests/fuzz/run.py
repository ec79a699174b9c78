"""Build and run the fuzz harnesses.

    python tests/fuzz/run.py atheris --seconds 60          # both backends, via atheris
    python tests/fuzz/run.py atheris --instrumented ...    # ... with C coverage feedback
    python tests/fuzz/run.py libfuzzer --seconds 600       # the C core alone, ASan+UBSan
    python tests/fuzz/run.py libfuzzer --text ...          # the text fast path (csrc/text.c) alone
    python tests/fuzz/run.py replay [--valgrind|--sanitize]  # both corpora through a gcc build

Each run starts from tests/fuzz/corpus and writes what it finds to a scratch
directory; ``--merge`` adds the inputs that reach new coverage to the corpus
(minimised by libFuzzer's merge). A finding stops the run with a non-zero exit
status and the input that triggered it is saved as ``<artifacts>/crash-*``:
copy it into the corpus, where tests/test_hardening.py replays it from then on.

``--instrumented`` builds a copy of the extension with clang's
``-fsanitize=fuzzer-no-link`` in a scratch directory and preloads libFuzzer
(built from clang's runtime archive), so that atheris is guided by the C
code's branches as well as the Python ones; without it atheris sees only the
pure backend's coverage and the C backend is checked by agreement alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CORPUS = HERE / "corpus"
TEXT_CORPUS = HERE / "corpus_text"
SANITIZE = "-fsanitize=fuzzer,address,undefined"


def _run(cmd: List[str], **kwargs) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], **kwargs)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        sys.exit(f"{tool} is not installed (Debian: apt-get install {tool})")
    return path


def _sources(text: bool) -> List[Path]:
    if text:  # fuzz_text.c includes csrc/text.c
        return [HERE / "fuzz_text.c"]
    return [HERE / "fuzz_decoder.c", ROOT / "csrc" / "crc32.c", ROOT / "csrc" / "chunked.c"]


def _build_libfuzzer(out: Path, text: bool) -> Path:
    clang = _need("clang")
    exe = out / ("fuzz_text" if text else "fuzz_decoder")
    cmd = [clang, "-g", "-O1", SANITIZE, "-fno-sanitize-recover=undefined", f"-I{ROOT / 'csrc'}",
           *_sources(text), "-o", exe]
    if _run(cmd) != 0:
        sys.exit("building the libFuzzer harness failed")
    return exe


def _build_replay(out: Path, sanitize: bool, text: bool) -> Path:
    cc = os.environ.get("CC") or _need("gcc")
    exe = out / ("replay_text" if text else "replay")
    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"] if sanitize else []
    cmd = [cc, "-g", "-O1", *flags, "-DFSMR_FUZZ_MAIN", f"-I{ROOT / 'csrc'}", *_sources(text), "-o", exe]
    if _run(cmd) != 0:
        sys.exit("building the replay driver failed")
    return exe


def _instrumented_env(out: Path) -> dict:
    """Build the extension with coverage for libFuzzer and a libFuzzer to preload."""
    clang = _need("clang")
    tree = out / "tree"
    tree.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "csrc", tree / "csrc")
    shutil.copytree(ROOT / "src", tree / "src",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "_codec_c.c", "__pycache__"))
    env = dict(os.environ, CC=clang, LDSHARED=f"{clang} -shared", CFLAGS="-g -fsanitize=fuzzer-no-link")
    if _run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree, env=env) != 0:
        sys.exit("building the instrumented extension failed")
    if not [p for p in (tree / "src" / "fastsmr" / "codec").glob("_codec_c*") if p.suffix in (".so", ".pyd")]:
        sys.exit("the instrumented extension was not built (is Cython installed?)")
    archive = subprocess.check_output([clang, "-print-file-name=libclang_rt.fuzzer_no_main-x86_64.a"], text=True).strip()
    preload = out / "libfuzzer.so"
    cmd = [clang, "-shared", "-o", preload, "-Wl,--whole-archive", archive, "-Wl,--no-whole-archive",
           "-lstdc++", "-lpthread"]
    if not Path(archive).exists() or _run(cmd) != 0:
        sys.exit("no libFuzzer runtime to preload (Debian: apt-get install clang)")
    return dict(os.environ, PYTHONPATH=str(tree / "src"), LD_PRELOAD=str(preload))


def _fuzz_args(args: argparse.Namespace, work: Path, artifacts: Path, corpus: Path = CORPUS) -> List[str]:
    return [f"-max_total_time={args.seconds}", "-timeout=30", "-rss_limit_mb=4096", "-max_len=8192",
            "-print_final_stats=1", f"-artifact_prefix={artifacts}/", *args.extra, str(work), str(corpus)]


def _merge(cmd_prefix: List[str], work: Path, env: Optional[dict] = None, corpus: Path = CORPUS) -> None:
    # Merge the run's finds into the committed corpus, keeping only new coverage.
    _run([*cmd_prefix, "-merge=1", str(corpus), str(work)], env=env)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("harness", choices=["atheris", "libfuzzer", "replay"])
    parser.add_argument("--seconds", type=int, default=60, help="how long to fuzz (default 60)")
    parser.add_argument("--instrumented", action="store_true", help="atheris: C coverage feedback")
    parser.add_argument("--valgrind", action="store_true", help="replay: under valgrind memcheck")
    parser.add_argument("--sanitize", action="store_true", help="replay: built with ASan and UBSan")
    parser.add_argument("--merge", action="store_true", help="add new coverage to the corpus")
    parser.add_argument("--text", action="store_true", help="libfuzzer: the text fast path's harness (fuzz_text.c)")
    parser.add_argument("--artifacts", type=Path, default=None, help="where crash inputs go")
    parser.add_argument("extra", nargs="*", help="more libFuzzer flags, after --")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="fastsmr-fuzz-") as tmp:
        out = Path(tmp)
        work = out / "work"
        work.mkdir()
        artifacts = (args.artifacts or Path.cwd()).resolve()
        artifacts.mkdir(parents=True, exist_ok=True)
        if args.harness == "replay":
            if args.valgrind and args.sanitize:
                parser.error("--valgrind and --sanitize do not mix")
            status = 0
            for text, corpus in ((False, CORPUS), (True, TEXT_CORPUS)):
                cmd = [_build_replay(out, args.sanitize, text), corpus]
                if args.valgrind:
                    cmd = [_need("valgrind"), "--leak-check=full", "--show-leak-kinds=all",
                           "--errors-for-leak-kinds=all", "--error-exitcode=1", "-q", *cmd]
                status = status or _run(cmd)
            return status
        if args.harness == "libfuzzer":
            corpus = TEXT_CORPUS if args.text else CORPUS
            exe = _build_libfuzzer(out, args.text)
            status = _run([exe, *_fuzz_args(args, work, artifacts, corpus)])
            if status == 0 and args.merge:
                _merge([exe], work, corpus=corpus)
            return status
        env = _instrumented_env(out) if args.instrumented else None
        harness = [sys.executable, HERE / "fuzz_codec.py"]
        status = _run([*harness, *_fuzz_args(args, work, artifacts)], env=env)
        if status == 0 and args.merge:
            _merge(harness, work, env)
        return status


if __name__ == "__main__":
    sys.exit(main())

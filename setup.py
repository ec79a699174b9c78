"""Build the optional C extension; fall back to the pure-Python package.

The extension is skipped when FASTSMR_NO_EXTENSIONS=1 is set, when the
interpreter is not CPython, or when compiling fails (no compiler, missing
headers): the package then installs without it and says why on one line.
FASTSMR_DEBUG_BUILD=1 builds it with AddressSanitizer and UBSan.
"""

import os
import platform
import re
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent


def _skip_reason():
    if os.environ.get("FASTSMR_NO_EXTENSIONS"):
        return "FASTSMR_NO_EXTENSIONS is set"
    if platform.python_implementation() != "CPython":
        return f"{platform.python_implementation()} uses the pure-Python backend"
    return None


def _compile_args():
    if os.environ.get("FASTSMR_DEBUG_BUILD"):
        flags = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
        return flags, ["-fsanitize=address,undefined"]
    if sys.platform == "win32":
        return ["/O2"], []
    return ["-O3"], []


class OptionalBuildExt(build_ext):
    """build_ext that reports a failed compile and carries on without it."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure means "go pure"
            self._give_up(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._give_up(exc)

    @staticmethod
    def _give_up(exc):
        reason = _one_line(exc)
        print(
            f"fastsmr: C extension not built ({reason}); installing the pure-Python backend",
            file=sys.stderr,
        )


# A failed compiler run reads "Command '['gcc', ...300 characters...]' returned
# non-zero exit status 1." (or distutils' "command 'gcc' failed with exit code 1");
# the program, the status and the source file say it all.
_FAILED_COMMAND = re.compile(r"[Cc]ommand '\[?'?(?P<program>[^'\s,\]]+).*?(?:exit status|exit code) (?P<status>-?\d+)")
_SOURCE = re.compile(r"'-c', '(?P<source>[^']+)'")


def _one_line(exc):
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    failed = _FAILED_COMMAND.search(lines[-1])
    if failed:
        source = _SOURCE.search(lines[-1])
        compiling = f" compiling {source['source']}" if source else ""
        return f"{failed['program']} exited with status {failed['status']}{compiling}"
    return lines[-1] if len(lines[-1]) <= 200 else lines[-1][:197] + "..."


def _extensions():
    reason = _skip_reason()
    if reason:
        print(f"fastsmr: C extension skipped ({reason}); installing the pure-Python backend", file=sys.stderr)
        return []
    try:
        return _cythonized()
    except Exception as exc:  # noqa: BLE001 - no Cython, missing sources, or a Cython error: go pure
        OptionalBuildExt._give_up(exc)
        return []


def _cythonized():
    from Cython.Build import cythonize

    compile_args, link_args = _compile_args()
    sources = ["src/fastsmr/codec/_codec_c.pyx"] + sorted(
        str(p.relative_to(HERE)).replace(os.sep, "/") for p in (HERE / "csrc").glob("*.c")
    )
    ext = Extension(
        "fastsmr.codec._codec_c",
        sources=sources,
        include_dirs=["csrc"],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    return cythonize(
        [ext],
        compiler_directives={"language_level": "3", "embedsignature": True},
        quiet=True,
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})

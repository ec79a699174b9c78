"""Build the optional C extension; fall back to the pure-Python package.

The extension is skipped when FASTSMR_NO_EXTENSIONS=1 is set, when the
interpreter is not CPython, or when compiling fails (no compiler, missing
headers): the package then installs without it and says why on one line.
FASTSMR_DEBUG_BUILD=1 builds it with AddressSanitizer and UBSan.
"""

import os
import platform
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
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        print(
            f"fastsmr: C extension not built ({reason}); installing the pure-Python backend",
            file=sys.stderr,
        )


def _extensions():
    reason = _skip_reason()
    if reason:
        print(f"fastsmr: C extension skipped ({reason}); installing the pure-Python backend", file=sys.stderr)
        return []
    from Cython.Build import cythonize

    compile_args, link_args = _compile_args()
    sources = ["src/fastsmr/_speedups.pyx"] + sorted(
        str(p.relative_to(HERE)).replace(os.sep, "/") for p in (HERE / "csrc").glob("*.c")
    )
    ext = Extension(
        "fastsmr._speedups",
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

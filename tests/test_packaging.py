"""The version is written in one place and must read the same everywhere.

``fastsmr.__version__`` is the single source (setuptools reads it at build
time); these tests fail when the installed distribution's metadata or the
changelog's newest entry says something else — a stale install, or a release
whose changelog was not updated. They run against whatever ``fastsmr`` is
imported, so from outside the source tree they check an installed wheel.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import re
from pathlib import Path

import pytest
from packaging.version import Version

import fastsmr

CHANGELOG = Path(__file__).resolve().parent.parent / "CHANGELOG.md"

# "## 0.1.0 — 2026-11-21" with an optional "(unreleased)" after the date.
RELEASE_HEADING = re.compile(
    r"^## (?P<version>\S+) — (?P<date>\d{4}-\d{2}-\d{2})(?: \(unreleased\))?$", re.MULTILINE
)


def _newest_changelog_entry() -> re.Match[str]:
    if not CHANGELOG.is_file():
        pytest.fail(f"{CHANGELOG.name} not found next to the tests directory ({CHANGELOG})")
    match = RELEASE_HEADING.search(CHANGELOG.read_text(encoding="utf-8"))
    if match is None:
        pytest.fail(f"no '## <version> — <YYYY-MM-DD>' heading in {CHANGELOG}")
    return match


def test_version_is_normalized_pep440() -> None:
    # Metadata stores the normalized form; a non-normalized __version__ would
    # never compare equal to it.
    assert str(Version(fastsmr.__version__)) == fastsmr.__version__


def test_installed_metadata_matches_package() -> None:
    assert importlib.metadata.version("fastsmr") == fastsmr.__version__


def test_changelog_newest_entry_matches_package() -> None:
    entry = _newest_changelog_entry()
    assert entry["version"] == fastsmr.__version__
    datetime.date.fromisoformat(entry["date"])  # a real calendar date


def test_release_heading_pattern() -> None:
    # The checks above are only as good as this pattern: it must find the
    # first heading and reject near misses rather than skip to a later one.
    text = "# Changelog\n\n## 2.0.0 — 2027-01-02\n\n## 1.0.0 — 2026-12-01 (unreleased)\n"
    assert RELEASE_HEADING.search(text)["version"] == "2.0.0"
    assert RELEASE_HEADING.search("## 2.0.0 - 2027-01-02\n") is None
    assert RELEASE_HEADING.search("### 2.0.0 — 2027-01-02\n") is None

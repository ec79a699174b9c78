"""``fastsmr bench``'s new-SDK cases: every client measured, every ratio there (no speed is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

NAMES = ["stock smithy", "fastsmr.install()", "fastsmr.smithy.plugin"]


def test_new_sdk_cases_measure_every_client(tmp_path):
    path = tmp_path / "bench.json"
    command = [sys.executable, "-m", "fastsmr", "bench", "--quick", "--case", "smithy-bidirectional", "smithy-converse",
               "--streams", "2", "--json", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    tables = json.loads(path.read_text(encoding="utf-8"))["tables"]
    assert [t["case"] for t in tables] == ["smithy-bidirectional", "smithy-converse"]
    for table in tables:
        assert table["params"]["streams"] == 2 and table["unit"] == "event"
        assert [c["name"] for c in table["competitors"]] == NAMES
        for item in table["competitors"]:
            assert item["status"] == "ok", item
            cpu = item["metrics"]["cpu_per_event"]
            assert 0 < cpu["min"] <= cpu["median"] <= cpu["max"] and len(cpu["values"]) == table["rounds"]
        pairs = {(r["fast"], r["slow"], r["metric"]) for r in table["ratios"]}
        assert pairs == {(NAMES[1], NAMES[0], "cpu_per_event"), (NAMES[2], NAMES[0], "cpu_per_event"),
                         (NAMES[1], NAMES[0], "events_per_s")}
        assert all(r["status"] == "ok" and r["median"] > 0 for r in table["ratios"])

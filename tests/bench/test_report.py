from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.record import Row, ScenarioResult, Series
from bench.report import BEGIN, END, render, write_report


def _latest(quick: bool) -> dict[str, Any]:
    scenario = ScenarioResult("download", "Downloads", notes=["nginx ran with one worker"])
    scenario.rows.append(
        Row(
            "4 KiB: requests/s",
            Series("blobstore", "requests/s", [100.0, 110.0, 120.0]),
            Series("nginx", "requests/s", [1000.0, 1000.0, 1000.0]),
            min_ratio=0.15,
            extra={"server_cpu_share": 0.9},
        )
    )
    run = {
        "command": "python -m bench download",
        "started": "2026-12-04T20:00:00+00:00",
        "note": None,
        "options": {"quick": quick, "repeat": 3},
        "machine": {
            "cpu_model": "Test CPU",
            "cores": 2,
            "memory_gib": 24.0,
            "kernel": "6.1",
            "disk": "/dev/vda ext4",
            "load_average": [0.1, 0.1, 0.1],
            "versions": {"python": "3.11.7"},
        },
    }
    return {"runs": {"r1": run}, "scenarios": {"download": {**scenario.to_json(), "run": "r1"}}}


def test_render_shows_spread_ratio_and_verdict() -> None:
    text = render(_latest(quick=False))

    assert "| 4 KiB: requests/s | blobstore | 100 / 110 / 120 requests/s |" in text
    assert "| 0.11 | >= 0.15x baseline | **no** |" in text
    assert "`python -m bench download`" in text
    assert "Test CPU, 2 cores" in text
    assert "- nginx ran with one worker" in text
    assert "smoke run" not in text


def test_render_marks_quick_runs_as_smoke_runs() -> None:
    assert "**smoke run (--quick)**" in render(_latest(quick=True))


def test_write_report_keeps_text_outside_markers(tmp_path: Path) -> None:
    results = tmp_path / "latest.json"
    results.write_text(json.dumps(_latest(quick=False)))
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Intro\n\nhand-written\n\n{BEGIN}\nold table\n{END}\n\n## Analysis\n\nkept\n")

    write_report(results, doc)

    text = doc.read_text()
    assert text.startswith("# Intro\n\nhand-written\n\n" + BEGIN)
    assert "old table" not in text
    assert text.endswith(END + "\n\n## Analysis\n\nkept\n")

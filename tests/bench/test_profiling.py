from __future__ import annotations

from pathlib import Path

from bench.profiling import summarize


def test_summarize_counts_self_and_inclusive_frames(tmp_path: Path) -> None:
    collapsed = tmp_path / "profile.txt"
    collapsed.write_text(
        "main (app.py:1);handle (app.py:5);query (db.py:9) 6\n"
        "main (app.py:1);handle (app.py:5) 3\n"
        "main (app.py:1);log (app.py:7) 1\n"
    )

    summary = summarize(collapsed)

    assert summary["samples"] == 10
    assert summary["self"][0] == {"frame": "query (db.py:9)", "share": 0.6}
    inclusive = {entry["frame"]: entry["share"] for entry in summary["inclusive"]}
    assert inclusive["main (app.py:1)"] == 1.0
    assert inclusive["handle (app.py:5)"] == 0.9

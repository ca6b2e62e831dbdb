from __future__ import annotations

from bench.record import Row, Series


def test_row_ratio_divides_medians() -> None:
    row = Row("x", Series("a", "MB/s", [10.0, 30.0, 20.0]), Series("b", "MB/s", [40.0, 50.0, 60.0]))

    assert row.ratio == 0.4


def test_row_ratio_target_met_and_missed() -> None:
    subject = Series("a", "MB/s", [60.0, 60.0, 60.0])
    baseline = Series("b", "MB/s", [100.0, 100.0, 100.0])

    assert Row("x", subject, baseline, min_ratio=0.6).met is True
    assert Row("x", subject, baseline, min_ratio=0.61).met is False
    assert Row("x", subject, baseline, min_ratio=0.6).target == ">= 0.6x baseline"


def test_row_absolute_target_compares_median() -> None:
    latencies = Series("a", "ms", [5.0, 9.0, 50.0])

    assert Row("p99", latencies, max_value=10).met is True
    assert Row("p99", latencies, max_value=8).met is False
    assert Row("p99", latencies, max_value=10).target == "<= 10 ms"


def test_row_without_samples_has_no_ratio_or_verdict() -> None:
    row = Row(
        "relay", Series("relay", "events/s"), Series("producer", "events/s", [1.0]), min_ratio=0.5
    )

    assert row.ratio is None
    assert row.met is None
    assert row.to_json()["subject"] is None

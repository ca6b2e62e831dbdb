from __future__ import annotations

import pytest

from bench.stats import parse_size, percentile, size_label, summary


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4096", 4096),
        ("4K", 4096),
        ("256M", 256 * 2**20),
        ("1G", 2**30),
        ("1GiB", 2**30),
        ("0.5G", 2**29),
    ],
)
def test_parse_size_accepts_binary_units(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-1M", "0"])
def test_parse_size_rejects_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


def test_size_label_uses_largest_whole_unit() -> None:
    assert size_label(2**30) == "1 GiB"
    assert size_label(256 * 2**20) == "256 MiB"
    assert size_label(4096) == "4 KiB"
    assert size_label(1000) == "1000 B"


def test_percentile_is_nearest_rank() -> None:
    values = [float(value) for value in range(1, 101)]

    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0


def test_summary_gives_min_median_max() -> None:
    assert summary([3.0, 1.0, 2.0, 10.0]) == {"n": 4, "min": 1.0, "median": 2.5, "max": 10.0}


def test_summary_of_nothing_raises() -> None:
    with pytest.raises(ValueError, match="no samples"):
        summary([])

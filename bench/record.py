"""Scenario results: rows of measurements, each beside its baseline."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.stats import summary

__all__ = ["Row", "ScenarioResult", "Series"]


@dataclass
class Series:
    """Repeated samples of one quantity, such as blobstore's MB/s for one upload size."""

    label: str
    unit: str
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "unit": self.unit,
            "samples": self.samples,
            **summary(self.samples),
        }


@dataclass
class Row:
    """One line of a results table: the subject, its baseline, their ratio and the target.

    The ratio is median(subject) / median(baseline). A row has either a ratio
    target (`min_ratio`, the ratio must reach it) or an absolute one
    (`max_value`, the subject's median must not exceed it), or none.
    """

    metric: str
    subject: Series
    baseline: Series | None = None
    min_ratio: float | None = None
    max_value: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.subject.samples or self.baseline is None or not self.baseline.samples:
            return None
        if self.baseline.median == 0:
            return None
        return self.subject.median / self.baseline.median

    @property
    def target(self) -> str | None:
        if self.min_ratio is not None:
            return f">= {self.min_ratio:g}x baseline"
        if self.max_value is not None:
            return f"<= {self.max_value:g} {self.subject.unit}"
        return None

    @property
    def met(self) -> bool | None:
        if self.min_ratio is not None:
            ratio = self.ratio
            return None if ratio is None else ratio >= self.min_ratio
        if self.max_value is not None and self.subject.samples:
            return self.subject.median <= self.max_value
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "subject": self.subject.to_json() if self.subject.samples else None,
            "baseline": None if self.baseline is None else self.baseline.to_json(),
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
            "extra": self.extra,
        }


@dataclass
class ScenarioResult:
    """The outcome of one scenario; `status` is ok, partial, skipped or failed."""

    name: str
    title: str
    status: str = "ok"
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "rows": [row.to_json() for row in self.rows],
            "notes": self.notes,
            "details": self.details,
        }

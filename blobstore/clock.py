"""UTC time, and the one way the service formats it."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["isoformat_utc", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def isoformat_utc(moment: datetime) -> str:
    """Format a time as ISO 8601 in UTC with a trailing Z, to the microsecond."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

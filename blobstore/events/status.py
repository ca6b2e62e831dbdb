"""The outbox backlog and the relay's recorded offsets, as `blobstore outbox` prints them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from blobstore.clock import isoformat_utc
from blobstore.db.outbox import OutboxStatus

__all__ = ["status_json", "status_text"]


def status_json(status: OutboxStatus, now: datetime) -> dict[str, Any]:
    """Return the status as a JSON object; ages are in seconds."""
    oldest = status.oldest_pending_created_at
    return {
        "pending": status.pending,
        "oldest_pending_created_at": None if oldest is None else isoformat_utc(oldest),
        "oldest_pending_age_s": None if oldest is None else (now - oldest).total_seconds(),
        "offsets": [
            {
                "topic": offset.topic,
                "partition": offset.partition,
                "next_offset": offset.next_offset,
                "updated_at": isoformat_utc(offset.updated_at),
            }
            for offset in status.offsets
        ],
    }


def status_text(status: OutboxStatus, now: datetime) -> str:
    lines = [f"pending events: {status.pending}"]
    oldest = status.oldest_pending_created_at
    if oldest is None:
        lines.append("oldest pending event: none")
    else:
        age = (now - oldest).total_seconds()
        lines.append(f"oldest pending event: {age:.1f} s old (created {isoformat_utc(oldest)})")

    if not status.offsets:
        lines.append("last published offsets: none recorded")
        return "\n".join(lines)

    lines.append("last published offsets (next offset per topic partition):")
    for offset in status.offsets:
        lines.append(
            f"  {offset.topic} [{offset.partition}] {offset.next_offset}"
            f" (updated {isoformat_utc(offset.updated_at)})"
        )
    return "\n".join(lines)

"""Add relay_offsets and the request id on outbox rows.

relay_offsets records, per Kafka topic partition, the offset after the last
message that the relay committed, so that a restarted relay can read back
what a crash left unrecorded. request_id carries the HTTP request that
caused an event into the event's headers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relay_offsets",
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition", name="pk_relay_offsets"),
    )
    # A nullable column without a default is a catalog-only change on
    # PostgreSQL, so it takes no long lock on a large outbox.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("request_id", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("request_id")
    op.drop_table("relay_offsets")

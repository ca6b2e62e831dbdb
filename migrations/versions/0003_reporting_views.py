"""Add the reporting views, the lookup indexes and the import ledger.

The report_* views give analysts storage, deduplication, tag and outbox
figures straight from SQL; docs/reporting.md lists their columns. The view
text is written out here rather than imported from the package, so this
revision creates the same views whatever later code does.

The new indexes serve the owner's listing, hash lookups and tag lookups. Each
replaces a narrower index whose columns it starts with, so no query loses its
index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (new index, table, columns, the index it replaces, that index's columns)
INDEX_SWAPS = [
    ("ix_files_sha256_user_id", "files", ["sha256", "user_id"], "ix_files_sha256", ["sha256"]),
    (
        "ix_files_user_id_created_at_key",
        "files",
        ["user_id", "created_at", "key"],
        "ix_files_user_id_created_at",
        ["user_id", "created_at"],
    ),
    ("ix_file_tags_tag_file_key", "file_tags", ["tag", "file_key"], "ix_file_tags_tag", ["tag"]),
]

# Files grouped first by a column and their content, so that the outer query
# counts each distinct content once per group for the unique bytes.
PER_BLOB_GROUPED_BY = """FROM (
    SELECT {column}, sha256, COUNT(*) AS files, SUM(size) AS logical_bytes
    FROM files
    GROUP BY {column}, sha256
) AS per_blob
JOIN blobs ON blobs.sha256 = per_blob.sha256
GROUP BY per_blob.{column}
"""

STORAGE_PER_USER = """
SELECT per_blob.user_id AS user_id,
       CAST(SUM(per_blob.files) AS BIGINT) AS files,
       CAST(SUM(per_blob.logical_bytes) AS BIGINT) AS logical_bytes,
       CAST(SUM(blobs.size) AS BIGINT) AS unique_bytes
""" + PER_BLOB_GROUPED_BY.format(column="user_id")

DEDUP_RATIO = """
SELECT totals.files AS files,
       totals.logical_bytes AS logical_bytes,
       referenced.blobs AS blobs,
       referenced.stored_bytes AS stored_bytes,
       totals.logical_bytes - referenced.stored_bytes AS saved_bytes,
       ROUND(totals.logical_bytes * 1.0 / NULLIF(referenced.stored_bytes, 0), 3) AS dedup_ratio,
       unreferenced.blobs AS unreferenced_blobs,
       unreferenced.stored_bytes AS unreferenced_bytes
FROM (
    SELECT COUNT(*) AS files, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS logical_bytes
    FROM files
) AS totals
CROSS JOIN (
    SELECT COUNT(*) AS blobs, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS stored_bytes
    FROM blobs
    WHERE EXISTS (SELECT 1 FROM files WHERE files.sha256 = blobs.sha256)
) AS referenced
CROSS JOIN (
    SELECT COUNT(*) AS blobs, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS stored_bytes
    FROM blobs
    WHERE NOT EXISTS (SELECT 1 FROM files WHERE files.sha256 = blobs.sha256)
) AS unreferenced
"""

DEDUP_BY_CONTENT_TYPE = """
SELECT per_blob.content_type AS content_type,
       CAST(SUM(per_blob.files) AS BIGINT) AS files,
       CAST(SUM(per_blob.logical_bytes) AS BIGINT) AS logical_bytes,
       COUNT(*) AS unique_blobs,
       CAST(SUM(blobs.size) AS BIGINT) AS unique_bytes,
       ROUND(SUM(per_blob.logical_bytes) * 1.0 / NULLIF(SUM(blobs.size), 0), 3) AS dedup_ratio
""" + PER_BLOB_GROUPED_BY.format(column="content_type")

TAG_USAGE = """
SELECT file_tags.tag AS tag,
       COUNT(*) AS files,
       COUNT(DISTINCT files.user_id) AS users,
       CAST(SUM(files.size) AS BIGINT) AS logical_bytes,
       MAX(files.created_at) AS newest_file_at
FROM file_tags
JOIN files ON files.key = file_tags.file_key
GROUP BY file_tags.tag
"""

# The day is the UTC calendar day; SQLite stores the UTC wall-clock time as text.
UPLOADS_PER_DAY = """
SELECT {day} AS day,
       COUNT(*) AS files,
       COUNT(DISTINCT user_id) AS users,
       CAST(SUM(size) AS BIGINT) AS logical_bytes
FROM files
GROUP BY {day}
"""
DAY_EXPRESSIONS = {
    "postgresql": "CAST(created_at AT TIME ZONE 'UTC' AS DATE)",
    "sqlite": "DATE(created_at)",
}

OUTBOX_BACKLOG = """
SELECT topic,
       event_type,
       SUM(CASE WHEN published_at IS NULL THEN 1 ELSE 0 END) AS pending,
       MIN(CASE WHEN published_at IS NULL THEN created_at END) AS oldest_pending_at,
       SUM(CASE WHEN published_at IS NULL THEN 0 ELSE 1 END) AS published,
       MAX(published_at) AS last_published_at
FROM outbox
GROUP BY topic, event_type
"""


def _views(dialect: str) -> dict[str, str]:
    return {
        "report_storage_per_user": STORAGE_PER_USER,
        "report_dedup_ratio": DEDUP_RATIO,
        "report_dedup_by_content_type": DEDUP_BY_CONTENT_TYPE,
        "report_tag_usage": TAG_USAGE,
        "report_uploads_per_day": UPLOADS_PER_DAY.format(day=DAY_EXPRESSIONS[dialect]),
        "report_outbox_backlog": OUTBOX_BACKLOG,
    }


def upgrade() -> None:
    dialect = op.get_context().dialect.name

    # The index swaps come first: on PostgreSQL each commits on its own, and
    # they are safe to repeat, so a failure later in this revision can simply
    # be retried. What follows is one transaction with the version bump.
    for new, table, columns, old, _ in INDEX_SWAPS:
        _swap_index(dialect, table, create=(new, columns), drop=old)

    op.create_table(
        "imported_files",
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("file_key", sa.Uuid(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "source_path", "sha256", name="pk_imported_files"),
        sa.ForeignKeyConstraint(
            ["file_key"],
            ["files.key"],
            name="fk_imported_files_file_key_files",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_imported_files_file_key", "imported_files", ["file_key"])

    for name, sql in _views(dialect).items():
        op.execute(f"CREATE VIEW {name} AS {sql}")


def downgrade() -> None:
    dialect = op.get_context().dialect.name

    for new, table, _, old, old_columns in reversed(INDEX_SWAPS):
        _swap_index(dialect, table, create=(old, old_columns), drop=new)

    for name in reversed(list(_views(dialect))):
        op.execute(f"DROP VIEW {name}")

    op.drop_index("ix_imported_files_file_key", table_name="imported_files")
    op.drop_table("imported_files")


def _swap_index(dialect: str, table: str, *, create: tuple[str, list[str]], drop: str) -> None:
    name, columns = create
    if dialect != "postgresql":
        op.create_index(name, table, columns)
        op.drop_index(drop, table_name=table)
        return

    # A plain CREATE INDEX blocks writes to the table until it finishes, which
    # on a large files table stalls uploads for minutes. CONCURRENTLY does not,
    # but it cannot run inside a transaction, hence the autocommit block. The
    # new index exists before the old one goes, so lookups never lose theirs.
    with op.get_context().autocommit_block():
        # A CONCURRENTLY build that was interrupted leaves an invalid index
        # behind, which IF NOT EXISTS would keep; drop it and build afresh.
        # Offline (--sql) runs have no database to ask, so they skip the check.
        invalid = not op.get_context().as_sql and op.get_bind().scalar(
            sa.text(
                "SELECT NOT i.indisvalid FROM pg_index AS i "
                "JOIN pg_class AS c ON c.oid = i.indexrelid "
                "WHERE c.relname = :name AND pg_table_is_visible(c.oid)"
            ),
            {"name": name},
        )
        if invalid:
            op.drop_index(name, table_name=table, postgresql_concurrently=True)
        op.create_index(name, table, columns, postgresql_concurrently=True, if_not_exists=True)
        op.drop_index(drop, table_name=table, postgresql_concurrently=True, if_exists=True)

"""Table definitions, shared by the application and the Alembic migrations.

Analysts query these tables directly, so their names and columns are a public
interface: add columns freely, rename or drop them only across releases.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

# Stable constraint names, so that later migrations can refer to them on any database.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")
Payload = JSON().with_variant(JSONB(), "postgresql")
Timestamp = DateTime(timezone=True)

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("blake3", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

files = Table(
    "files",
    metadata,
    Column("key", Uuid, primary_key=True),
    Column("sha256", String(64), ForeignKey("blobs.sha256"), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("filename", Text, nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    # Hash lookups filter by owner too; the owner listing pages by (created_at, key).
    Index("ix_files_sha256_user_id", "sha256", "user_id"),
    Index("ix_files_user_id_created_at_key", "user_id", "created_at", "key"),
    Index("ix_files_created_at_key", "created_at", "key"),
)

file_tags = Table(
    "file_tags",
    metadata,
    Column("file_key", Uuid, ForeignKey("files.key", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(64), primary_key=True),
    # Covers a tag lookup, so the matching keys come from the index alone.
    Index("ix_file_tags_tag_file_key", "tag", "file_key"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigIntId, Identity(), primary_key=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("topic", String(249), nullable=False),
    Column("message_key", String(255), nullable=False),
    Column("payload", Payload, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("published_at", Timestamp, nullable=True),
    Column("request_id", String(128), nullable=True),
    # The relay scans only unpublished rows; a partial index keeps that scan
    # small however long the published history grows.
    Index(
        "ix_outbox_pending",
        "id",
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    ),
)

# Per topic partition, the offset after the last message that the relay
# committed; a restarted relay reads back from here to finish its last batch.
relay_offsets = Table(
    "relay_offsets",
    metadata,
    Column("topic", String(249), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

# One row per file that `blobstore import` ingested, so that a second run over
# the same folder skips it. The row outlives the file: a file deleted after
# its import is not imported again.
imported_files = Table(
    "imported_files",
    metadata,
    Column("user_id", String(255), primary_key=True),
    Column("source_path", Text, primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("file_key", Uuid, ForeignKey("files.key", ondelete="SET NULL"), nullable=True),
    Column("imported_at", Timestamp, nullable=False),
    # Deleting a file sets file_key to NULL here; the index keeps that a lookup.
    Index("ix_imported_files_file_key", "file_key"),
)

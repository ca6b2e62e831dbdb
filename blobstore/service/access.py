"""Who may see and change a file.

A caller is an `Identity`: the user id from the bearer token and whether the
token names an admin. Owners and admins may change or delete a file. Who may
read a file by its key depends on FILE_READ_ACCESS: with `public` the key is a
capability URL that anyone holding it may fetch; with `owner` only the owner
and admins may, and everybody else is told the file does not exist, so a key
reveals nothing about files that are not the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass

from blobstore.config import ReadAccess
from blobstore.db.repository import FileRecord
from blobstore.errors import FileNotFound, Forbidden

__all__ = ["ANONYMOUS", "Identity", "may_read", "require_owner", "require_readable"]

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Identity:
    """A caller: `user_id` owns what it uploads; `is_admin` may act on every file."""

    user_id: str
    is_admin: bool = False


def may_read(caller: Identity | None, record: FileRecord, access: ReadAccess) -> bool:
    """Whether `caller` may read `record` by its key; None is a caller not identified."""
    if access == "public":
        return True
    return caller is not None and (caller.is_admin or caller.user_id == record.user_id)


def require_readable(caller: Identity | None, record: FileRecord, access: ReadAccess) -> None:
    """Raise FileNotFound, the same error as for an unknown key, unless `caller` may read."""
    if not may_read(caller, record, access):
        raise FileNotFound("no file with key {key}", key=str(record.key))


def require_owner(caller: Identity, record: FileRecord) -> None:
    """Raise Forbidden (403 forbidden) unless `caller` owns `record` or is an admin."""
    if not (caller.is_admin or caller.user_id == record.user_id):
        raise Forbidden(
            "only the owner of file {key} or an admin may change it", key=str(record.key)
        )

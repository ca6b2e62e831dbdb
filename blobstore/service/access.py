"""Who may see and change a file.

A caller is an `Identity`: the user id from the bearer token and whether the
token names an admin. Owners and admins may change or delete a file. Who may
read a file by its key depends on FILE_READ_ACCESS: with `public` the key is a
capability URL that anyone holding it may fetch; with `owner` only the owner
and admins may, and everybody else is told the file does not exist, so a key
reveals nothing about files that are not the caller's.

Listings and hash lookups show only the caller's own files unless the caller
is an admin, so nobody learns that someone else stored a given content.
"""

from __future__ import annotations

from dataclasses import dataclass

from blobstore.config import ReadAccess
from blobstore.db.repository import FileRecord
from blobstore.errors import FileNotFound, Forbidden

__all__ = [
    "ANONYMOUS",
    "Identity",
    "may_read",
    "require_owner",
    "require_readable",
    "visible_owner",
]

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Identity:
    """A caller: `user_id` owns what it uploads; `is_admin` may act on every file."""

    user_id: str
    is_admin: bool = False


def may_read(caller: Identity | None, record: FileRecord, access: ReadAccess) -> bool:
    """Return whether `caller` may read `record` by its key; None is an unidentified caller."""
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


def visible_owner(caller: Identity, requested: str | None = None) -> str | None:
    """Return the owner whose files `caller` may list or search, None meaning every owner.

    An admin gets the `requested` owner, or every owner when none is
    requested. Anyone else gets only their own user id, and requesting
    another user's files raises Forbidden.
    """
    if caller.is_admin:
        return requested
    if requested is not None and requested != caller.user_id:
        raise Forbidden(
            "only an admin may list the files of user {user_id!r}; "
            "leave user_id out or set it to your own id",
            user_id=requested,
        )
    return caller.user_id

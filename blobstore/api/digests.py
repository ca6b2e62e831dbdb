"""Digest fields of RFC 9530: Content-Digest on uploads, Repr-Digest on downloads.

A field is a Structured Fields dictionary (RFC 8941) of algorithm names and
byte sequences, for example `sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:`.
The service computes sha-256 only, so that is the one algorithm it checks.
"""

from __future__ import annotations

import base64
import binascii

from blobstore.errors import InvalidRequest

__all__ = ["SHA256", "digest_field", "parse_sha256"]

SHA256 = "sha-256"
SHA256_BYTES = 32


def digest_field(sha256_hex: str) -> str:
    """Format a sha256 hex digest as a Content-Digest or Repr-Digest value."""
    encoded = base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")
    return f"{SHA256}=:{encoded}:"


def parse_sha256(header: str, field: str = "Content-Digest") -> bytes:
    """Return the sha-256 digest in a digest field, raising InvalidRequest (400).

    Other algorithms in the field are ignored, as RFC 9530 section 2 allows;
    a field with no sha-256 member is rejected, because the client expects a
    check that the service would otherwise skip without saying so.
    """
    algorithms: list[str] = []
    for member in header.split(","):
        name, equals, value = member.strip().partition("=")
        name = name.strip().lower()
        if not equals or not name:
            raise _invalid(field, header)
        algorithms.append(name)
        if name != SHA256:
            continue

        # Parameters after ';' are allowed by RFC 8941 but carry nothing for us.
        value = value.split(";", 1)[0].strip()
        if len(value) < 2 or value[0] != ":" or value[-1] != ":":
            raise _invalid(field, header)
        try:
            digest = base64.b64decode(value[1:-1], validate=True)
        except (binascii.Error, ValueError):
            raise _invalid(field, header) from None
        if len(digest) != SHA256_BYTES:
            raise _invalid(field, header)
        return digest

    raise InvalidRequest(
        "{field} has no sha-256 digest (found: {algorithms}); only sha-256 is checked",
        field=field,
        algorithms=", ".join(algorithms),
    )


def _invalid(field: str, header: str) -> InvalidRequest:
    return InvalidRequest(
        "invalid {field} header {value!r}: expected sha-256=:BASE64:",
        field=field,
        value=header[:200],
    )

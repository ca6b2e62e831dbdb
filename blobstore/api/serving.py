"""How a stored file is presented to a browser, so that it never runs in our origin.

Anyone may upload HTML, SVG or JavaScript, and a browser that renders such a
file from this service's origin would run its scripts with the service's
cookies and permissions. So only types that a browser displays without
running code are served inline: images except SVG, PDF, text/plain and the
INLINE_CONTENT_TYPES allow-list. Everything else, unknown types included, is
an attachment. Every file response carries `X-Content-Type-Options: nosniff`,
so a browser cannot guess a scriptable type, and `Content-Security-Policy:
sandbox`, so a file opened anyway runs in a unique origin without scripts.
PDFs are the exception to the sandbox: it stops the built-in PDF viewers of
Chromium and Firefox.
"""

from __future__ import annotations

from urllib.parse import quote

from blobstore.config import ConfigError
from blobstore.service.naming import clean_filename

__all__ = ["ServingPolicy", "content_disposition", "media_type_of"]

INLINE_BY_DEFAULT = ("image/*", "application/pdf", "text/plain")

# Types that carry markup or code a browser executes; they are never inline,
# whatever INLINE_CONTENT_TYPES says. Any `+xml` type counts too, because an
# XML document can pull in XSLT and XHTML.
SCRIPTABLE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/xsl",
        "application/xslt+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/ecmascript",
        "application/ecmascript",
        "application/wasm",
        "text/css",
        "multipart/x-mixed-replace",
    }
)

NO_SANDBOX_TYPES = frozenset({"application/pdf"})


def media_type_of(content_type: str) -> str:
    """Return the lowercase type/subtype of a Content-Type value, without parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def is_scriptable(media_type: str) -> bool:
    return media_type in SCRIPTABLE_TYPES or media_type.endswith("+xml")


class ServingPolicy:
    """Decides the disposition and safety headers of a file response."""

    def __init__(self, inline_types: tuple[str, ...] = ()) -> None:
        """Build the policy, raising ConfigError for a scriptable type in `inline_types`."""
        for media_range in inline_types:
            if is_scriptable(media_range):
                raise ConfigError(
                    "INLINE_CONTENT_TYPES",
                    ",".join(inline_types),
                    f"{media_range} can run scripts in the browser and is never served inline",
                )
        self.inline_types = INLINE_BY_DEFAULT + inline_types

    def is_inline(self, content_type: str) -> bool:
        media_type = media_type_of(content_type)
        if is_scriptable(media_type):
            return False
        main_type = media_type.split("/", 1)[0]
        return any(
            media_range in (media_type, f"{main_type}/*") for media_range in self.inline_types
        )

    def headers(self, content_type: str, filename: str) -> dict[str, str]:
        """Return Content-Disposition and the safety headers for one file."""
        disposition = "inline" if self.is_inline(content_type) else "attachment"
        headers = {
            "content-disposition": content_disposition(disposition, filename),
            "x-content-type-options": "nosniff",
        }
        if media_type_of(content_type) not in NO_SANDBOX_TYPES:
            headers["content-security-policy"] = "sandbox"
        return headers


def content_disposition(disposition: str, filename: str) -> str:
    """Build a Content-Disposition value per RFC 6266, safe for any stored name.

    The name is cleaned again as at upload (last path component, no control
    characters), so nothing raw reaches the header even from old rows. The
    plain `filename` is an ASCII stand-in with quotes, backslashes and '%'
    replaced, since some browsers decode '%' escapes there; `filename*`
    (RFC 8187) carries the real name in UTF-8.
    """
    name = clean_filename(filename)
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%' else "_" for ch in name)
    value = f'{disposition}; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value

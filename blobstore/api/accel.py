"""The X-Accel-Redirect download mode: blobstore authorises a GET, nginx sends the bytes.

With ACCEL_REDIRECT_PREFIX set, a GET that passes every check gets an empty
200 whose `X-Accel-Redirect` header names the blob under that prefix, and
nginx sends the file to the client from an internal location that aliases
FILE_BASE_PATH (deploy/nginx/blobstore.conf).

On such a redirect nginx 1.22 keeps only Content-Type, Content-Disposition,
Cache-Control, Expires, Accept-Ranges and Set-Cookie of the upstream response.
The shipped config adds back ETag, Repr-Digest, Content-Digest, the safety
headers and X-Request-ID from `$upstream_http_*` variables. nginx's static
handler then evaluates Range, If-Range, If-Match and If-Unmodified-Since again
against its own view of the file, and it does not always reach the service's
decision. With no ETag of its own it fails every If-Match, it compares
If-Unmodified-Since with the file's mtime, and it returns 416 to a malformed
Range that RFC 9110 lets the service ignore. So the service redirects only
the requests on which both agree, and streams the others itself.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.responses import Response

from blobstore.api.conditional import Selection
from blobstore.storage import sharded_name

__all__ = ["ACCEL_REDIRECT_HEADER", "accel_redirect_response", "nginx_agrees"]

ACCEL_REDIRECT_HEADER = "x-accel-redirect"

# One byte range in the form nginx parses exactly as `parse_range` does. nginx
# returns 416 to a number above its off_t maximum (2^63 - 1, 19 digits), so
# only numbers of up to 18 digits are handed over.
_PLAIN_RANGE = re.compile(r"bytes=(?:\d{1,18}-\d{0,18}|-\d{1,18})")


def nginx_agrees(method: str, headers: Headers, selection: Selection) -> bool:
    """Whether nginx's static handler, given this request, sends what `selection` chose."""
    if method != "GET":
        return False
    if "if-match" in headers or "if-unmodified-since" in headers:
        return False

    range_header = headers.get("range")
    if range_header is None:
        return selection.status == 200
    # A Range that the service ignored (several ranges, another unit, a
    # failed If-Range) would get 206 or 416 from nginx.
    return selection.status == 206 and _PLAIN_RANGE.fullmatch(range_header) is not None


def accel_redirect_response(
    prefix: str, sha256: str, headers: dict[str, str], media_type: str, *, partial: bool
) -> Response:
    """Build the empty response that hands the blob to nginx, with the headers it should send.

    nginx's static handler adds `Accept-Ranges: bytes` to a 200 but not to a
    206. So the header goes along only for a partial response, because the
    client would otherwise see it twice.
    """
    headers = {
        **headers,
        "content-type": media_type,
        ACCEL_REDIRECT_HEADER: prefix + sharded_name(sha256),
    }
    if not partial:
        headers.pop("accept-ranges", None)
    return Response(status_code=200, headers=headers)

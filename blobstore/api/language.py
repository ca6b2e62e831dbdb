"""The language of error messages: English, or Spanish when the caller prefers it.

The choice follows the request's Accept-Language header (RFC 9110 section
12.5.4): language ranges with optional `q` weights, where `q=0` means "not
acceptable" and `*` stands for any language not named. A range matches by its
primary subtag, so `es-MX` selects Spanish.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from blobstore.api import messages_es

__all__ = ["DEFAULT_LANGUAGE", "SUPPORTED_LANGUAGES", "preferred_language", "translate"]

DEFAULT_LANGUAGE = "en"
SUPPORTED_LANGUAGES = ("en", "es")
# Header values longer than this are not parsed: no client needs more.
MAX_HEADER_CHARS = 1024

_LANGUAGE_RANGE = re.compile(r"\*|[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")
_QUALITY = re.compile(r"q=(0(\.\d{0,3})?|1(\.0{0,3})?)", re.IGNORECASE)

_CATALOGUES: Mapping[str, Mapping[str, str]] = {"es": messages_es.MESSAGES}
_TITLES: Mapping[str, Mapping[str, str]] = {"es": messages_es.TITLES}


def preferred_language(header: str | None) -> str:
    """Return the supported language the header weighs highest; English when none is acceptable.

    Among languages of equal weight the one named first in the header wins.
    A malformed element is skipped rather than failing the request.
    """
    if not header or len(header) > MAX_HEADER_CHARS:
        return DEFAULT_LANGUAGE

    weights: dict[str, float] = {}
    positions: dict[str, int] = {}
    wildcard = 0.0
    for position, element in enumerate(header.split(",")):
        language_range, *parameters = (part.strip() for part in element.split(";"))
        quality = _quality(parameters)
        if quality is None or not _LANGUAGE_RANGE.fullmatch(language_range):
            continue
        if language_range == "*":
            wildcard = quality
            continue

        primary = language_range.split("-", 1)[0].lower()
        if primary in SUPPORTED_LANGUAGES:
            weights[primary] = max(weights.get(primary, 0.0), quality)
            positions.setdefault(primary, position)

    def rank(language: str) -> tuple[float, int, bool]:
        # Higher weight first, then named earlier, then the default language.
        unnamed = len(header)
        position = positions.get(language, unnamed)
        return (weights.get(language, wildcard), -position, language == DEFAULT_LANGUAGE)

    best = max(SUPPORTED_LANGUAGES, key=rank)
    return best if rank(best)[0] > 0 else DEFAULT_LANGUAGE


def _quality(parameters: list[str]) -> float | None:
    """Return the `q` weight of an element (1 when absent), None when it is malformed."""
    for parameter in parameters:
        if parameter.lower().startswith("q"):
            match = _QUALITY.fullmatch(parameter.replace(" ", ""))
            return float(match.group(1)) if match else None
    return 1.0


def translate(message: str, params: Mapping[str, object], language: str) -> str:
    """Fill a message template in `language`, falling back to the English template."""
    template = _CATALOGUES.get(language, {}).get(message, message)
    return template.format(**params) if params else template


def translate_title(code: str, title: str, language: str) -> str:
    """Return a problem title in `language`, falling back to the English `title`."""
    return _TITLES.get(language, {}).get(code, title)

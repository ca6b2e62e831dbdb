"""Log output: one JSON object per line for machines, or plain text for a terminal.

Every line carries the id of the request that caused it, when there is one.
Configured secrets and bearer tokens are masked in the finished line, as a
last guard: no code should pass them to a logger in the first place.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from blobstore.config import Settings
from blobstore.request_context import current_request_id

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging"]

MASK = "[redacted]"

_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")

# Attributes that every LogRecord has, or that formatting and uvicorn add;
# anything else on a record came from `extra=`.
_STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)))
_RECORD_ATTRIBUTES = frozenset(
    _STANDARD_ATTRIBUTES | {"message", "asctime", "request_id", "taskName", "color_message"}
)


class _Redactor:
    """Masks secrets where they appear as credentials: `:secret@` in a URL or `password=secret`.

    Masking every occurrence would also hide ordinary words and paths that
    happen to equal a short password, and so reveal the password in turn.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._patterns = [
            re.compile(rf"(:|password=|password: ?)({re.escape(secret)})(?=@|[\s\"',;&]|$)")
            for secret in ordered
        ]

    def __call__(self, line: str) -> str:
        for pattern in self._patterns:
            line = pattern.sub(rf"\g<1>{MASK}", line)
        return _BEARER.sub(rf"\g<1>{MASK}", line)


def _extra_fields(record: logging.LogRecord) -> dict[str, object]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, request_id, extras."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._redact = _Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update(_extra_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)

        return self._redact(json.dumps(entry, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """Formats a record as `time level logger [request id]: message key=value ...`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._redact = _Redactor(secrets)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record)} {record.levelname} {record.name}"
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            line += f" [{request_id}]"
        line += f": {record.message}"

        extras = _extra_fields(record)
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in extras.items())
        return line

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class _BlobstoreHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler that `configure_logging` installs, so a second call can replace it."""


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Send every logger's records to `stream` (stderr) in LOG_FORMAT at LOG_LEVEL.

    Calling it again replaces the handler it installed before, so each worker
    process and each test can call it.
    """
    formatter: logging.Formatter = (
        JsonFormatter(settings.secrets)
        if settings.log_format == "json"
        else TextFormatter(settings.secrets)
    )
    handler = _BlobstoreHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())

    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _BlobstoreHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)

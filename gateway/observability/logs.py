"""The process's log format (GATEWAY_LOG_FORMAT): `text`, a line for people, or `json`, one
JSON object per line for a log pipeline, carrying the request id (X-Request-Id) and the ids
of the decisions the request has taken so far, so a log line joins the decision log.

Both formats go through one redaction: bearer tokens, JWTs, Vault tokens and the
configured secrets' values never reach a log line, whatever a message or a traceback
quotes (an upstream's error text, a header echoed in an exception)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime

import msgspec

from gateway.audit import scope as request_scopes
from gateway.config import Settings

TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
REDACTED = "***"

# Secrets shorter than this are not searched for: a short value would blank common words.
_MIN_SECRET = 8
_PATTERNS = re.compile(
    r"(?i:bearer)\s+[^\s\"',;]+"  # an Authorization header's credentials
    r"|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"  # a JWT (its header is {"...)
    r"|\b(?:hv[sbr]|s|b|r)\.[A-Za-z0-9_-]{20,}"  # Vault / OpenBao service and batch tokens
)


class Redactor:
    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len, reverse=True)
        self._secrets = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def __call__(self, text: str) -> str:
        if self._secrets is not None:
            text = self._secrets.sub(REDACTED, text)
        return _PATTERNS.sub(_masked, text)


def _masked(match: re.Match[str]) -> str:
    found = match.group(0)
    return f"{found.split()[0]} {REDACTED}" if found[:6].lower() == "bearer" else REDACTED


class _LogLine(msgspec.Struct, omit_defaults=True):
    time: str
    level: str
    logger: str
    message: str
    req_id: str | None = None
    decision_ids: list[str] | None = None
    exc: str | None = None


_encode = msgspec.json.Encoder().encode


class JSONFormatter(logging.Formatter):
    """One msgspec-encoded object per line: time (UTC, RFC 3339), level, logger, message,
    and req_id, decision_ids and exc (the traceback) when there are any."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        served = request_scopes.current()
        exc = None
        if record.exc_info:
            exc = self.formatException(record.exc_info)
        elif record.exc_text:
            exc = record.exc_text
        if record.stack_info:
            exc = f"{exc}\n{record.stack_info}" if exc else record.stack_info
        line = _LogLine(
            time=datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            level=record.levelname,
            logger=record.name,
            message=self._redact(record.getMessage()),
            req_id=served.request.req_id if served is not None else None,
            decision_ids=(served.decision_ids or None) if served is not None else None,
            exc=self._redact(exc) if exc else None,
        )
        return _encode(line).decode()


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__(TEXT_FORMAT)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


def formatter(log_format: str, secrets: Iterable[str | None] = ()) -> logging.Formatter:
    redact = Redactor(secrets)
    return JSONFormatter(redact) if log_format == "json" else TextFormatter(redact)


def configure_logging(settings: Settings) -> None:
    """The root logger's one handler (stderr), in the chosen format; uvicorn's loggers
    propagate to it (`gateway serve` passes uvicorn no log config of its own). Idempotent:
    `gateway serve` calls it, and so does each worker process."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        formatter(
            settings.log_format,
            (
                settings.jwt_secret,
                settings.vault_token,
                settings.vault_secret_id,
                settings.metrics_token,
            ),
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())

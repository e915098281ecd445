"""Structured logs: one JSON object per line on stderr, with the service name."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from services.kernel.clipping import LOG_TRACEBACK_BYTES, LOG_VALUE_BYTES, clip

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _bounded(value: Any) -> Any:
    """A log value as is when short; echoed input (a 20 KB field) clipped to a short string."""
    if isinstance(value, str):
        return clip(value, LOG_VALUE_BYTES)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    text = json.dumps(value, default=str)
    return value if len(text) <= LOG_VALUE_BYTES else clip(text, LOG_VALUE_BYTES)


class JsonFormatter(logging.Formatter):
    """One bounded line per record: every value is clipped, so no input floods the log."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": clip(record.getMessage(), LOG_VALUE_BYTES),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:  # lines of one request or message share its trace id
            line["trace_id"] = format(span.trace_id, "032x")
        line |= {k: _bounded(v) for k, v in record.__dict__.items() if k not in _RESERVED}
        if record.exc_info:
            line["exc"] = clip(self.formatException(record.exc_info), LOG_TRACEBACK_BYTES)
        return json.dumps(line, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("nats").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)

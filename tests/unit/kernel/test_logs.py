"""Structured log lines: JSON objects with the service, the extras and the trace id."""

from __future__ import annotations

import json
import logging
import sys

from services.kernel import telemetry
from services.kernel.logs import JsonFormatter


def record(message: str, **extra: object) -> logging.LogRecord:
    r = logging.LogRecord("layercake.test", logging.INFO, __file__, 1, message, (), None)
    r.__dict__.update(extra)
    return r


def test_a_line_is_one_json_object_with_service_and_extras() -> None:
    line = json.loads(JsonFormatter("identity").format(record("applied", consumer="c1")))
    assert line["service"] == "identity" and line["msg"] == "applied"
    assert line["consumer"] == "c1" and line["level"] == "info"
    assert "trace_id" not in line


def test_a_line_inside_a_span_carries_its_trace_id() -> None:
    telemetry.setup_tracing("test")
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    with telemetry.span("op", {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}):
        line = json.loads(JsonFormatter("identity").format(record("inside")))
    assert line["trace_id"] == trace_id


def test_echoed_input_in_a_line_is_clipped() -> None:
    huge = "p" * 1_000_000
    formatted = JsonFormatter("gateway").format(
        record(f"refused {huge}", error=huge, fields=[huge], code="INVALID_ARGUMENT", n=3)
    )
    assert len(formatted) < 10_000
    line = json.loads(formatted)
    assert line["msg"].startswith("refused ppp") and line["msg"].endswith("bytes cut]")
    assert line["error"].endswith("bytes cut]")
    assert line["fields"].endswith("bytes cut]")
    assert (line["code"], line["n"]) == ("INVALID_ARGUMENT", 3)


def test_a_traceback_is_clipped_too() -> None:
    try:
        raise ValueError("x" * 1_000_000)
    except ValueError:
        r = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = json.loads(JsonFormatter("gateway").format(r))
    assert len(line["exc"]) < 20_000 and "Traceback" in line["exc"]

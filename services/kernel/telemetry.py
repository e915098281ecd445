"""OpenTelemetry trace context, carried across gRPC metadata and NATS headers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

_configured = False


def setup_tracing(service: str) -> None:
    """Installs an SDK tracer provider so spans get real ids (exporters plug in here)."""
    global _configured
    if not _configured:
        resource = Resource.create({"service.name": f"layercake-{service}"})
        trace.set_tracer_provider(TracerProvider(resource=resource))
        _configured = True


def current_traceparent() -> str:
    """The W3C `traceparent` of the active span, or '' outside one."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


_tracer = trace.get_tracer("layercake")  # a proxy: it follows `setup_tracing`'s provider


@contextmanager
def span(name: str, carrier: Mapping[str, str] | None = None) -> Iterator[trace.Span]:
    """A span that continues the trace found in `carrier` (headers or metadata); without
    one, the current trace (a consumer opens one per message: extracting nothing is waste)."""
    ctx = propagate.extract(dict(carrier)) if carrier else None
    with _tracer.start_as_current_span(name, context=ctx) as s:
        yield s

"""OpenTelemetry trace context, carried across gRPC metadata and NATS headers."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

_configured = False


def setup_tracing(service: str) -> None:
    """Installs an SDK tracer provider so spans get real ids (exporters plug in here)."""
    global _configured
    if not _configured:
        resource = Resource.create({"service.name": f"layercake-{service}"})
        trace.set_tracer_provider(TracerProvider(resource=resource))
        _configured = True


def current_traceparent() -> str:
    """The W3C `traceparent` of the active span, or '' outside one: what the W3C
    propagator would inject, formatted here (a handler asks several times an event)."""
    found = trace.get_current_span().get_span_context()
    if not found.is_valid:
        return ""
    return f"00-{found.trace_id:032x}-{found.span_id:016x}-{found.trace_flags:02x}"


_tracer = trace.get_tracer("layercake")  # a proxy: it follows `setup_tracing`'s provider


def extracted(carrier: Mapping[str, str] | None) -> Context | None:
    """The trace context a carrier (headers or metadata) holds; None for an empty one."""
    if not carrier:
        return None
    if _fields(propagate.get_global_textmap()).isdisjoint(carrier.keys()):
        return Context()  # what extracting would give, without its cost (gRPC metadata
        # always holds other keys: user-agent...)
    return propagate.extract(dict(carrier))


@functools.lru_cache(maxsize=4)
def _fields(textmap: TextMapPropagator) -> frozenset[str]:
    """The keys `textmap` reads, by propagator (a composite one builds them on every ask)."""
    return frozenset(textmap.fields)


def span(
    name: str, carrier: Mapping[str, str] | None = None, links: Sequence[Context] = ()
) -> AbstractContextManager[trace.Span]:
    """A span that continues the trace found in `carrier`; without one, the current trace.
    `links` are the contexts of the work it stands for (a batch: each message's trace)."""
    linked = _links(links) if links else ()
    return _Current(_tracer.start_span(name, context=extracted(carrier), links=linked))


def _links(links: Sequence[Context]) -> list[trace.Link]:
    """A link to each distinct valid trace context among `links`."""
    contexts = {
        (sc.trace_id, sc.span_id): sc
        for sc in (trace.get_current_span(c).get_span_context() for c in links)
        if sc.is_valid
    }
    return [trace.Link(sc) for sc in contexts.values()]


class _Current:
    """`span` made current for a block, as `start_as_current_span` makes it (an exception
    recorded with status ERROR, ended on exit), without its layers of generators: every
    RPC opens one."""

    __slots__ = ("span", "token")

    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def __enter__(self) -> trace.Span:
        self.token = context.attach(trace.set_span_in_context(self.span))
        return self.span

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: object
    ) -> None:
        context.detach(self.token)
        if isinstance(error, Exception) and self.span.is_recording():
            self.span.record_exception(error)
            self.span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        self.span.end()


@contextmanager
def within(found: Context | None) -> Iterator[None]:
    """Runs the block in a caller's trace context (from `extracted`) without a span of its
    own: what it publishes continues that trace. A consumer applies each message of a
    batch so, under one span for the batch; None leaves the current context."""
    if found is None:
        yield
        return
    token = context.attach(found)
    try:
        yield
    finally:
        context.detach(token)

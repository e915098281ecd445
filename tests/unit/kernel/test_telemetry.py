import pytest
from opentelemetry import propagate
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from services.kernel import telemetry

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def injected() -> str:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


def test_outside_any_trace_there_is_no_traceparent() -> None:
    assert telemetry.current_traceparent() == ""


def test_a_span_continues_its_carriers_trace_and_says_so_as_the_propagator_would() -> None:
    telemetry.setup_tracing("test")
    with telemetry.span("op", {"traceparent": PARENT}):
        current = telemetry.current_traceparent()
        assert current == injected()
    assert current.split("-")[1] == TRACE_ID
    assert current != PARENT  # a span of its own under the caller's


def test_a_batch_span_links_each_messages_trace_once() -> None:
    telemetry.setup_tracing("test")
    caller = telemetry.extracted({"traceparent": PARENT})
    assert caller is not None and telemetry.extracted({}) is None
    with telemetry.span("batch", links=[caller, caller]) as span:
        links = getattr(span, "links", ())
        assert [link.context.trace_id for link in links] == [int(TRACE_ID, 16)]
        assert telemetry.current_traceparent().split("-")[1] != TRACE_ID


def test_within_a_callers_context_what_is_published_names_the_caller() -> None:
    telemetry.setup_tracing("test")
    with telemetry.span("batch"):
        batch = telemetry.current_traceparent()
        with telemetry.within(telemetry.extracted({"traceparent": PARENT})):
            assert telemetry.current_traceparent() == PARENT
        with telemetry.within(telemetry.extracted({})):
            assert telemetry.current_traceparent() == batch
        assert telemetry.current_traceparent() == batch


def test_a_span_left_by_an_exception_records_it_ends_and_is_no_longer_current() -> None:
    telemetry.setup_tracing("test")
    with pytest.raises(ValueError), telemetry.span("op") as span:
        inside = telemetry.current_traceparent()
        raise ValueError("bad input")
    assert inside != "" and telemetry.current_traceparent() == ""
    assert isinstance(span, ReadableSpan) and span.end_time is not None
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "ValueError: bad input"
    assert [e.name for e in span.events] == ["exception"]

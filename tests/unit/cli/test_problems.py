"""gRPC failures as one line: status code, bad fields, when to retry."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from layercake.gateway.v1 import ingest_pb2
from services.cli.jsonl import NumberedEvent
from services.cli.problems import Problem, by_line, problem
from services.kernel.errors import (
    FieldViolation,
    InvalidArgument,
    LayercakeError,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from services.kernel.rpc.status import to_status


class FailedCall(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """A failed call as grpc hands it to a client, from the server's real status."""

    def __init__(self, error: LayercakeError) -> None:
        self.status = to_status(error)

    def code(self) -> grpc.StatusCode:
        return self.status.code

    def details(self) -> str:
        return self.status.details

    def trailing_metadata(self) -> Sequence[tuple[str, str | bytes]]:
        return self.status.trailing_metadata

    def initial_metadata(self) -> None:
        return None

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: object) -> None:
        return None


def test_invalid_argument_lists_every_field_on_one_line() -> None:
    error = InvalidArgument(
        [
            FieldViolation("events[0].message_id", "is required"),
            FieldViolation("events[2].identifiers.email", "must not be empty"),
        ]
    )
    line = str(problem(FailedCall(error)))
    assert line == (
        "INVALID_ARGUMENT: events[0].message_id: is required; "
        "events[2].identifiers.email: must not be empty"
    )


def test_retry_info_is_read() -> None:
    found = problem(FailedCall(ResourceExhausted("over its rate", retry_after=0.25)))
    assert found.retry_after == 0.25
    assert str(found) == "RESOURCE_EXHAUSTED: over its rate (retry in 0.25s)"


def test_other_codes_give_code_and_message() -> None:
    assert str(problem(FailedCall(NotFound("no profile 'email:x'")))) == (
        "NOT_FOUND: no profile 'email:x'"
    )


def test_violations_point_at_file_lines() -> None:
    event = ingest_pb2.IngestEvent()
    batch = [NumberedEvent(10, event), NumberedEvent(12, event)]
    found = Problem(
        grpc.StatusCode.INVALID_ARGUMENT,
        "",
        (("events[1].identifiers.email", "must not be empty"), ("events", "too many")),
    )
    assert by_line(found, batch) == [
        "line 12: identifiers.email: must not be empty",
        "events: too many",
    ]


class Unreachable(FailedCall):
    """What grpc raises when nothing answered: no status details at all."""

    def __init__(self) -> None:
        self.status = grpc.Status()  # type: ignore[call-arg]

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "failed to connect to all addresses"

    def trailing_metadata(self) -> Sequence[tuple[str, str | bytes]]:
        return ()


def test_unreachable_gateway_says_where_it_looked() -> None:
    assert str(problem(Unreachable(), "localhost:50051")) == (
        "UNAVAILABLE: cannot reach the gateway at localhost:50051 (is it running?): "
        "failed to connect to all addresses"
    )


def test_unavailable_from_the_gateway_is_not_a_connection_problem() -> None:
    found = problem(FailedCall(Unavailable("peer answered DEADLINE_EXCEEDED")), "localhost:50051")
    assert str(found) == "UNAVAILABLE: peer answered DEADLINE_EXCEEDED"

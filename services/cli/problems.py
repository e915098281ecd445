"""gRPC errors as one clear line each: the status code and the fields at fault, no traceback."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.cli.jsonl import NumberedEvent

EVENT_FIELD = re.compile(r"^events\[(\d+)\]\.?(.*)$")


@dataclass(frozen=True)
class Problem:
    """What a failed call tells a person: code, message, bad fields, when to retry."""

    code: grpc.StatusCode
    message: str
    violations: tuple[tuple[str, str], ...] = field(default=())
    retry_after: float | None = None

    def __str__(self) -> str:
        if self.violations:
            text = "; ".join(f"{f}: {d}" if f else d for f, d in self.violations)
        else:
            text = self.message
        line = f"{self.code.name}: {text}"
        if self.retry_after is not None:
            line += f" (retry in {self.retry_after:.2f}s)"
        return line


def problem(error: grpc.RpcError, target: str = "") -> Problem:
    """Reads the code, message and `google.rpc` details of a failed call."""
    if not isinstance(error, grpc.Call):
        return Problem(grpc.StatusCode.UNKNOWN, str(error) or type(error).__name__)
    code = error.code()
    message = error.details() or code.name
    violations: list[tuple[str, str]] = []
    retry_after: float | None = None
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        bad = error_details_pb2.BadRequest()
        retry = error_details_pb2.RetryInfo()
        if detail.Unpack(bad):
            violations += [(v.field, v.description) for v in bad.field_violations]
        elif detail.Unpack(retry):
            retry_after = retry.retry_delay.ToTimedelta().total_seconds()
    if code == grpc.StatusCode.UNAVAILABLE and status is None and target:
        # no google.rpc.Status: the gateway never answered (our servers always attach one)
        message = f"cannot reach the gateway at {target} (is it running?): {message}"
    return Problem(code, message, tuple(violations), retry_after)


def by_line(found: Problem, batch: Sequence[NumberedEvent]) -> list[str]:
    """Field violations of a batch as `line 12: identifiers.email: ...`, pointing into the file."""
    lines: list[str] = []
    for field_path, description in found.violations:
        match = EVENT_FIELD.match(field_path)
        if match and int(match.group(1)) < len(batch):
            where = batch[int(match.group(1))].line
            rest = match.group(2)
            lines.append(f"line {where}: {rest + ': ' if rest else ''}{description}")
        else:
            lines.append(f"{field_path}: {description}" if field_path else description)
    return lines or [str(found)]

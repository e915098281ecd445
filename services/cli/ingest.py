"""`layercake ingest FILE.jsonl`: a file's events in batches, with a progress bar and a
summary of accepted, duplicate, rejected and failed lines, each rejected line named."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import grpc
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from layercake.gateway.v1 import gateway_service_pb2 as pb
from layercake.gateway.v1 import gateway_service_pb2_grpc as pb_grpc
from services.cli.jsonl import LineError, NumberedEvent, batches, read_events
from services.cli.problems import Problem, by_line, problem
from services.cli.target import RETRYABLE, Target, err, fail, out

MAX_SHOWN_ERRORS = 20


@dataclass
class Tally:
    """Lines by what became of them: accepted, duplicate (sent before), rejected (a rule
    broken: fix the line), failed (the batch never got an answer)."""

    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return (
            f"accepted {self.accepted}, duplicate {self.duplicate},"
            f" rejected {self.rejected}, failed {self.failed}"
        )

    def count(self, results: Sequence[pb.IngestResult]) -> list[pb.IngestResult]:
        """Adds up a batch's results; returns the rejected ones."""
        rejected = [r for r in results if r.status == pb.IngestResult.STATUS_REJECTED]
        self.rejected += len(rejected)
        self.duplicate += sum(r.status == pb.IngestResult.STATUS_DUPLICATE for r in results)
        self.accepted += sum(r.status == pb.IngestResult.STATUS_ACCEPTED for r in results)
        return rejected


def send_batch(
    stub: pb_grpc.GatewayServiceStub,
    target: Target,
    batch: Sequence[NumberedEvent],
    attempts: int = 8,
) -> pb.IngestResponse | Problem:
    """One batch, retried while the gateway is briefly away or rate-limits us.

    Retrying is safe: each event's message_id makes a repeat a duplicate, not a second event,
    and the batch's request_id gets a retry the answer of an attempt that timed out.
    """
    request = pb.IngestRequest(events=[n.event for n in batch], request_id=str(uuid.uuid4()))
    delay = 0.25
    for attempt in range(1, attempts + 1):
        try:
            response: pb.IngestResponse = stub.Ingest(
                request, timeout=target.timeout, metadata=target.metadata()
            )
            return response
        except grpc.RpcError as e:
            found = problem(e, target.gateway)
            retry = found.code in RETRYABLE or (
                found.code == grpc.StatusCode.RESOURCE_EXHAUSTED and found.retry_after is not None
            )
            if not retry or attempt == attempts:
                return found
            time.sleep(found.retry_after if found.retry_after is not None else delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


def check_file(path: Path) -> int:
    """First pass: every line must parse; returns the event count or exits naming bad lines."""
    count, errors = 0, []
    with path.open(encoding="utf-8") as lines:
        for item in read_events(lines):
            if isinstance(item, LineError):
                errors.append(item)
            else:
                count += 1
    for e in errors[:MAX_SHOWN_ERRORS]:
        err.print(f"{path}: {e}", markup=False)
    if len(errors) > MAX_SHOWN_ERRORS:
        err.print(f"... and {len(errors) - MAX_SHOWN_ERRORS} more", markup=False)
    if errors:
        fail(f"{len(errors)} line(s) refused; nothing was sent")
    if not count:
        fail(f"{path} holds no events")
    return count


def ingest(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSON lines, one event a line.")
    ],
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="Events per call.")] = 500,
) -> None:
    """Send the events of FILE (JSON lines) to the gateway, in batches."""
    target: Target = ctx.obj
    target.metadata()
    total = check_file(file)
    tally = Tally()
    aborted: Problem | None = None
    progress = Progress(
        TextColumn("ingesting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    with progress, target.stub() as stub, file.open(encoding="utf-8") as lines:
        task = progress.add_task("ingest", total=total)
        events = (e for e in read_events(lines) if isinstance(e, NumberedEvent))
        for batch in batches(events, batch_size):
            if aborted is not None:
                tally.failed += len(batch)
                continue
            answer = send_batch(stub, target, batch)
            if isinstance(answer, Problem):
                tally.failed += len(batch)
                if answer.code == grpc.StatusCode.INVALID_ARGUMENT:
                    for line in by_line(answer, batch):
                        progress.console.print(f"{file}: {line}", markup=False)
                else:
                    aborted = answer
            else:
                for result in tally.count(answer.results):
                    reasons = tuple((v.field, v.description) for v in result.violations)
                    found = Problem(grpc.StatusCode.INVALID_ARGUMENT, "rejected", reasons)
                    for line in by_line(found, batch):
                        progress.console.print(f"{file}: {line}", markup=False)
            progress.advance(task, len(batch))
    if aborted is not None:
        err.print(f"error: {aborted}", markup=False)
    out.print(str(tally), markup=False, highlight=False)
    if tally.failed or tally.rejected:
        raise typer.Exit(1)

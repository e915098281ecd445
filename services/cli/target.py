"""Where and as whom the `layercake` CLI calls, and how it prints: shared by its commands."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, NoReturn, TypeVar

import grpc
import typer
from google.protobuf import json_format
from google.protobuf.message import Message
from rich.console import Console

from layercake.gateway.v1 import facts_service_pb2_grpc as facts_grpc
from layercake.gateway.v1 import gateway_service_pb2_grpc as pb_grpc
from layercake.gateway.v1 import journeys_service_pb2_grpc as journeys_grpc
from layercake.gateway.v1 import status_service_pb2_grpc as status_grpc
from services.cli.problems import problem

DEFAULT_GATEWAY = "localhost:50051"
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True, highlight=False)

R = TypeVar("R", bound=Message)


class Output(StrEnum):
    table = "table"
    json = "json"


OutputOption = Annotated[Output, typer.Option("-o", "--output", help="table or json.")]


def as_dict(message: Message, zeros: bool = False) -> dict[str, object]:
    """A message as `-o json` prints it: field names as in the protos; with `zeros`, fields
    at their zero value too (where 0 means something, as a stock level's units)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=zeros
    )


class Stubs(pb_grpc.GatewayServiceStub):
    """Every public service of the gateway on one channel: GatewayService's RPCs directly
    (`s.GetProfile`), the others by service (`s.journeys.ApplyJourney`)."""

    def __init__(self, channel: grpc.Channel) -> None:
        super().__init__(channel)  # type: ignore[call-arg]  # (the stubs type only __new__)
        self.journeys = journeys_grpc.JourneysServiceStub(channel)
        self.facts = facts_grpc.FactsServiceStub(channel)
        self.status = status_grpc.StatusServiceStub(channel)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


@dataclass(frozen=True)
class Target:
    """Where and as whom the CLI calls, from the options or their environment variables."""

    gateway: str
    api_key: str
    timeout: float

    def metadata(self) -> tuple[tuple[str, str], ...]:
        if not self.api_key:
            fail("LAYERCAKE_API_KEY is not set: `source .layercake/demo.env` or pass --api-key", 2)
        return (("authorization", f"Bearer {self.api_key}"),)

    @contextmanager
    def stub(self) -> Iterator[Stubs]:
        with grpc.insecure_channel(self.gateway) as channel:
            yield Stubs(channel)

    def call(
        self,
        method: Callable[[Stubs], Callable[..., R]],
        request: Message,
        attempts: int = 3,
    ) -> R:
        """One call, retried with the same request while the gateway is briefly away (a
        mutating request's request_id makes the retry safe); fails with one line otherwise."""
        metadata = self.metadata()
        with self.stub() as stub:
            for attempt in range(1, attempts + 1):
                try:
                    return method(stub)(request, timeout=self.timeout, metadata=metadata)
                except grpc.RpcError as e:
                    found = problem(e, self.gateway)
                    if found.code not in RETRYABLE or attempt == attempts:
                        fail(str(found))
                    time.sleep(0.25 * attempt)
        raise AssertionError("unreachable")

"""Where and as whom the `layercake` CLI calls, and how it prints: shared by its commands."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, Protocol, TypeVar

import grpc
import typer
from google.protobuf import json_format
from google.protobuf.message import Message
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from layercake.gateway.v1 import gateway_service_pb2_grpc as pb_grpc
from services.cli.problems import problem

DEFAULT_GATEWAY = "localhost:50051"
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True, highlight=False)

R = TypeVar("R")  # a reply
S = TypeVar("S")
T = TypeVar("T")
MOST_PER_PAGE = 1000  # the largest page the gateway serves


class Paged(Protocol):
    """A list response (AIP-158): a page of items and the token of the next."""

    next_page_token: str


P = TypeVar("P", bound=Paged)


class Output(StrEnum):
    table = "table"
    json = "json"


OutputOption = Annotated[Output, typer.Option("-o", "--output", help="table or json.")]


def read_text(path: Path, most: int = 256 * 1024) -> str:
    """A definition file's text; one clear line and exit 2 when it cannot be read."""
    try:
        if path.stat().st_size > most:
            fail(f"{path}: larger than {most} bytes", 2)
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as e:
        fail(f"{path}: {e.strerror if isinstance(e, OSError) else e}", 2)


def new_request_id() -> str:
    """A fresh idempotency key for one intended change (reused by `Target.call`'s retries)."""
    return str(uuid.uuid4())


def print_json(message: Message, zeros: bool = False) -> None:
    """A reply as protobuf JSON with the proto's field names, for scripts; with `zeros`,
    fields at their zero value too (where 0 or false means something: units, serving)."""
    out.print_json(
        json_format.MessageToJson(
            message,
            preserving_proto_field_name=True,
            always_print_fields_with_no_presence=zeros,
        )
    )


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Rows for people; every cell is escaped, since values are partner data."""
    table = Table(*columns, title=escape(title), title_justify="left")
    for row in rows:
        table.add_row(*(escape(str(v)) for v in row))
    out.print(table)


def pages(
    fetch: Callable[[str, int], P], items: Callable[[P], Sequence[T]], limit: int = 0
) -> tuple[list[T], P]:
    """Every item of a listing, or the first `limit`, page after page: `fetch(page_token,
    page_size)` asks for one page. Returns them with the last page read (its
    `next_page_token` is empty when none remain; its totals, where it has some)."""
    found: list[T] = []
    token = ""
    while True:
        page = fetch(token, min(limit - len(found), MOST_PER_PAGE) if limit else MOST_PER_PAGE)
        found += items(page)
        token = page.next_page_token
        if not token or (limit and len(found) >= limit):
            return (found[:limit] if limit else found), page


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
    def stub(self) -> Iterator[pb_grpc.GatewayServiceStub]:
        with grpc.insecure_channel(self.gateway) as channel:
            yield pb_grpc.GatewayServiceStub(channel)

    def call(
        self,
        service: Callable[[grpc.Channel], S],
        method: Callable[[S], Callable[..., R]],
        request: Any,
        attempts: int = 3,
    ) -> R:
        """One call of a gateway service (`service` is its stub class), retried with the same
        request while the gateway is briefly away (a mutating request's request_id makes the
        retry safe; an upload is an iterator, so it is sent once); fails with one line
        otherwise."""
        metadata = self.metadata()
        if not isinstance(request, Message):
            attempts = 1
        with grpc.insecure_channel(self.gateway) as channel:
            stub = service(channel)
            for attempt in range(1, attempts + 1):
                try:
                    return method(stub)(request, timeout=self.timeout, metadata=metadata)
                except grpc.RpcError as e:
                    found = problem(e, self.gateway)
                    if found.code not in RETRYABLE or attempt == attempts:
                        fail(str(found))
                    time.sleep(0.25 * attempt)
        raise AssertionError("unreachable")

    def listing(
        self,
        service: Callable[[grpc.Channel], S],
        method: Callable[[S], Callable[..., P]],
        request: Any,
        items: Callable[[P], Sequence[T]],
        limit: int = 0,
    ) -> tuple[list[T], P]:
        """Every item of a list RPC, or the first `limit`, through `pages()`: `request` with
        each page's `page_token` and `page_size` set."""

        def fetch(token: str, size: int) -> P:
            page = type(request)()
            page.CopyFrom(request)
            page.page_token, page.page_size = token, size
            return self.call(service, method, page)

        return pages(fetch, items, limit)

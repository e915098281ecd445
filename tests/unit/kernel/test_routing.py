"""route(): a consumer applies the event types it knows and claims the rest as handled."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.routing import route
from services.kernel.store.unit_of_work import UnitOfWork


def envelope(type: str) -> Envelope:
    return Envelope("e-1", type, "test", "acme", datetime(2026, 3, 1, tzinfo=UTC), b"", "s")


def test_each_type_goes_to_its_handler_and_unknown_types_to_none() -> None:
    seen: list[tuple[str, str]] = []
    handler = route(
        {
            "a.A": lambda _uow, env: seen.append(("A", env.type)),
            "a.B": lambda _uow, env: seen.append(("B", env.type)),
        }
    )
    no_uow = cast(UnitOfWork, None)
    for type in ("a.B", "a.Unknown", "a.A"):
        handler(no_uow, envelope(type))
    assert seen == [("B", "a.B"), ("A", "a.A")]

"""The timer rules that need no database: back-off, when to give up, what `schedule` refuses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy.exc import OperationalError

from services.kernel.errors import ConcurrencyError, Unavailable, Unprocessable
from services.kernel.store.unit_of_work import UnitOfWork
from services.kernel.timers import cancel, schedule
from services.kernel.timers.scheduler import is_fatal, retry_delay
from services.kernel.timers.timer import MAX_PAYLOAD

NOON = datetime(2026, 3, 1, 12, tzinfo=UTC)
# Validation happens before the unit of work is touched: this one would fail if it were.
NO_UOW = cast(UnitOfWork, object())


def test_back_off_doubles_from_the_base_up_to_the_cap() -> None:
    assert [retry_delay(n, 1.0, 20.0) for n in range(1, 8)] == [1, 2, 4, 8, 16, 20, 20]
    assert retry_delay(0, 0.5, 20.0) == 0.5


@pytest.mark.parametrize(
    ("error", "attempts", "fatal"),
    [
        (RuntimeError("bug"), 2, False),
        (RuntimeError("bug"), 3, True),
        (Unprocessable("bad payload"), 1, True),
        (ConcurrencyError("moved on"), 99, False),
        (Unavailable("peer down"), 99, False),
        (TimeoutError(), 99, False),
        (OperationalError("", {}, Exception("gone"), connection_invalidated=True), 99, False),
        (OperationalError("", {}, Exception("no such table: x")), 3, True),
    ],
)
def test_only_lasting_failures_park_a_timer(error: Exception, attempts: int, fatal: bool) -> None:
    assert is_fatal(error, attempts, max_attempts=3) is fatal


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tenant_id": "Not A Tenant"}, "not a tenant id"),
        ({"timer_id": ""}, "timer id must be"),
        ({"timer_id": "x" * 201}, "timer id must be"),
        ({"kind": ""}, "timer kind must be"),
        ({"due_time": datetime(2026, 3, 1, 12)}, "timezone-aware"),
        ({"payload": "text"}, "payload must be bytes"),
        ({"payload": b"x" * (MAX_PAYLOAD + 1)}, "payload must be bytes"),
    ],
)
def test_schedule_refuses_what_it_cannot_keep(change: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "timer_id": "journey-1/wait",
        "due_time": NOON,
        "payload": b"",
        "tenant_id": "acme",
        "kind": "journey.wait",
    } | change
    with pytest.raises(ValueError, match=message):
        schedule(NO_UOW, **args)


def test_cancel_refuses_a_bad_tenant() -> None:
    with pytest.raises(ValueError, match="not a tenant id"):
        cancel(NO_UOW, "t", tenant_id="")

"""ConsumerRunner's contract with its subscription, without a server."""

from __future__ import annotations

from typing import Any

import nats.errors
import pytest

from services.kernel.clock import SystemClock
from services.kernel.messaging.consumer import ConsumerRunner, ConsumerSpec
from services.kernel.store.unit_of_work import UnitOfWorkFactory


class TimingOutSubscription:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [nats.errors.TimeoutError(), TimeoutError()],
    ids=["nats-timeout", "asyncio-timeout"],
)
async def test_an_idle_fetch_is_an_empty_pass_whichever_timeout_nats_raises(
    error: BaseException,
) -> None:
    spec = ConsumerSpec("c", "IDENTITY", "layercake.*.identity.>", lambda _u, _e: None)
    runner = ConsumerRunner(
        spec,
        js=None,  # type: ignore[arg-type]
        db=None,  # type: ignore[arg-type]
        uow=UnitOfWorkFactory(lambda: None, SystemClock()),  # type: ignore[arg-type, return-value]
    )
    runner._sub = TimingOutSubscription(error)  # type: ignore[assignment]
    assert await runner.run_once(timeout=0.01) == []

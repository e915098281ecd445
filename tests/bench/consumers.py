"""Figure 3's kernel meter: a two-phase consumer (no-op async prepare, no-op effects, inbox).

What a service's consumer costs the machine per message beyond a bare fetch+ack:
opening the envelope, the prepare step's scheduling, one transaction per batch
with its inbox rows, the acks after commit.
"""

from __future__ import annotations

from nats.js import JetStreamContext

from services.kernel.messaging.consumer import ConsumerRunner, ConsumerSpec, Outcome
from services.kernel.messaging.envelope import Envelope
from services.kernel.store.database import Database
from services.kernel.store.schema import inbox
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.bench.measures import CONSUMER_BATCH, STREAM, Drain, Measure, Tick, count_rows, subject


async def _prepare(envelope: Envelope) -> str:
    """The async step does nothing, so the figure is the kernel's own cost of having one."""
    return envelope.event_id


def _apply(uow: UnitOfWork, envelope: Envelope, prepared: str) -> None:
    """The effects do nothing beyond the inbox row the runner writes."""


class TwoPhaseConsumer(Drain):
    """ConsumerRunner: fetch(256), prepare each, one transaction with an inbox row each,
    ack after commit."""

    def __init__(
        self,
        js: JetStreamContext,
        db: Database,
        uow: UnitOfWorkFactory[UnitOfWork],
        tenant: str,
        durable: str,
        tick: Tick,
    ) -> None:
        super().__init__(tick)
        spec = ConsumerSpec(durable, STREAM, subject(tenant), _apply, _prepare)
        self.runner = ConsumerRunner(spec, js, db, uow, batch=CONSUMER_BATCH)
        self.db = db

    async def batch(self) -> int:
        results = await self.runner.run_once(timeout=2.0)
        bad = [r for r in results if r.outcome is not Outcome.APPLIED]
        if bad:
            raise RuntimeError(f"kernel consumer: {bad[0]}")
        return len(results)

    async def round(self, n: int) -> Measure:
        await self.runner.subscribe()
        measure = await super().round(n)
        if count_rows(self.db, inbox) < self.done:
            raise RuntimeError("fewer inbox rows than messages applied")
        return measure

"""The journey engine's timer handler: a run's wait, held step or I/O step is due.

Two-phase, as the kernel's scheduler runs it: `prepare` asks identity for the profile
and, for a decide step, the decision service (with the step's deadline; a slow or failed
call becomes the step's fallback), before any transaction opens; `apply` moves the run
in the transaction that retires the timer, so it happens once across restarts and
replicas. `warm` reads the streams of a batch's runs with one query first.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence

from prometheus_client import Histogram

from services.kernel.errors import NotFound
from services.kernel.store.unit_of_work import UnitOfWork
from services.kernel.timers import Timer, TimerHandler
from services.orchestrator.domain.instances.instance import instance_stream_id
from services.orchestrator.domain.instances.profiles import ProfileView
from services.orchestrator.domain.instances.steps import (
    Called,
    Decided,
    IoResult,
    Prepared,
    RunTimer,
)
from services.orchestrator.engine import JourneyEngine
from services.orchestrator.ports import Decider, OrchestratorUnitOfWork, ProfileDirectory, Webhooks

log = logging.getLogger(__name__)
# Namespace of decide requests: one id per run, step and visit, so a second prepare of the
# same visit asks again with the same id and gets the first decision back, while a run that
# loops back to the step asks anew.
DECIDE_REQUESTS = uuid.UUID("0b6f4a52-6d3e-4f0e-9a1c-3c5e2d7f8a91")
DECIDE_STEP_SECONDS = Histogram(
    "layercake_orchestrator_decide_step_seconds",
    "Time a decide step waited for the decision service, by how it ended (decided, or the"
    " fallback's reason: timeout, no_action, unavailable).",
    ["outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


async def decide(decider: Decider | None, tenant_id: str, run: RunTimer) -> Decided:
    """The decision, or the fallback and why: `timeout`, `no_action`, `unavailable`; its
    latency observed by how it ended."""
    started = time.perf_counter()
    decided = await _decide(decider, tenant_id, run)
    outcome = decided.fallback_reason or "decided"
    DECIDE_STEP_SECONDS.labels(outcome).observe(time.perf_counter() - started)
    return decided


async def _decide(decider: Decider | None, tenant_id: str, run: RunTimer) -> Decided:
    if decider is None:
        return Decided(run.step_id, None, "unavailable")
    step = f"{tenant_id}/{run.journey_id}/{run.profile_id}/{run.run}/{run.step_id}"
    request_id = str(uuid.uuid5(DECIDE_REQUESTS, f"{step}/{run.visit}" if run.visit else step))
    context = {**run.context, "journey": {"id": run.journey_id, "step": run.step_id}}
    asked = decider.decide(
        tenant_id, run.profile_id, run.placement, run.timeout, request_id, context
    )
    try:
        decision = await asyncio.wait_for(asked, run.timeout)
    except TimeoutError:
        return Decided(run.step_id, None, "timeout")
    except NotFound:  # no action is eligible for this person
        return Decided(run.step_id, None, "no_action")
    except Exception as e:  # down, refused, or a bug there: the journey goes on
        log.warning("decide failed, falling back", extra={"error": repr(e)})
        return Decided(run.step_id, None, "unavailable")
    return Decided(run.step_id, decision)


def journey_timers(
    engine: JourneyEngine,
    directory: ProfileDirectory,
    decider: Decider | None = None,
    webhooks: Webhooks | None = None,
) -> TimerHandler[Prepared]:
    async def prepare(timer: Timer) -> Prepared:
        run = RunTimer.parse(timer.payload)
        profile = await directory.find(timer.tenant_id, run.profile_id)
        if profile is None:  # identity knows no more of them: the walk sees no traits
            profile = ProfileView(timer.tenant_id, run.profile_id)
        io: IoResult | None = None
        if run.io == "decide":
            io = await decide(decider, timer.tenant_id, run)
        elif run.io == "webhook":
            # the timer's scheduling id: one per visit of the step, the same on a retried fire
            key = timer.id
            outcome = (
                "skipped" if webhooks is None else await webhooks.call(timer.tenant_id, run, key)
            )
            io = Called(run.step_id, outcome)
        return Prepared(profile, io)

    def warm(uow: UnitOfWork, timers: Sequence[Timer]) -> None:
        assert isinstance(uow, OrchestratorUnitOfWork)
        runs = [(t.tenant_id, RunTimer.parse(t.payload)) for t in timers]
        uow.preload(instance_stream_id(tenant, r.journey_id, r.profile_id) for tenant, r in runs)

    def apply(uow: UnitOfWork, timer: Timer, prepared: Prepared) -> None:
        assert isinstance(uow, OrchestratorUnitOfWork)
        engine.on_timer(uow, timer.tenant_id, RunTimer.parse(timer.payload), prepared)

    return TimerHandler(apply=apply, prepare=prepare, warm=warm)

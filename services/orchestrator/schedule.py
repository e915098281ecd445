"""Scheduled entries: a journey entered by `entry.schedule` enters its audience at each
occurrence of its cron.

One kernel timer per journey (`schedule/<journey>`) holds the next occurrence of its live
version: a lifecycle action sets it (publish, resume, rollback) or clears it (pause,
archive, a version with another entry), so a new version replaces the old schedule and a
paused journey holds it. When it fires, the audience enters a page at a time, in profile id
order, each page in the transaction that retires the timer and sets it again (at once, for
the page after the last profile entered; or at the next occurrence once all have had their
turn): each profile is asked once per occurrence, exactly once across replicas, and no
page holds more than `PAGE_SIZE` people in memory. The audience is the orchestrator's own
profile projection (the contact states: consent and time zone), or with
`entry.schedule.audience` that audience's members (as identity's AudienceEntered/Exited
told it), admitted by `entry.when`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.assets import Action, Asset
from services.kernel.assets.lifecycle import AssetState
from services.kernel.store.unit_of_work import UnitOfWork
from services.kernel.timers import Timer, TimerHandler, cancel, schedule
from services.orchestrator.domain.contact_state import TIME_ZONE_TRAIT, ContactState
from services.orchestrator.domain.instances.instance import instance_stream_id
from services.orchestrator.domain.instances.profiles import ProfileView
from services.orchestrator.domain.journeys.schedule import Occurrence, next_occurrence
from services.orchestrator.engine import JourneyEngine
from services.orchestrator.store.audience_members import audience_page
from services.orchestrator.store.contact_states import contact_state_page
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork

SCHEDULE_KIND = "journey.schedule"
PAGE_SIZE = 256  # people entered per transaction (a consumer batch's size)
ENTRY = "schedule"  # the entry an occurrence's runs record (counted as `entered:schedule`)
# the actions after which the live version, or its state, may differ
LIFECYCLE = frozenset(
    {Action.PUBLISH, Action.PAUSE, Action.RESUME, Action.ARCHIVE, Action.ROLLBACK}
)


def schedule_timer_id(journey_id: str) -> str:
    return f"schedule/{journey_id}"


def follow_lifecycle(uow: UnitOfWork, asset: Asset, action: Action) -> None:
    """After `action` on a journey: a timer at the next occurrence of its published
    version's schedule, or none (paused, archived, entered otherwise). Runs in the
    action's transaction, so the timer and the new state commit together."""
    if action not in LIFECYCLE:
        return
    tenant, timer_id = asset.tenant_id, schedule_timer_id(asset.asset_id)
    live = None if asset.archived else asset.live_version
    content = live.content if live is not None else None
    if (
        live is None
        or live.state is not AssetState.PUBLISHED
        or not isinstance(content, pb.Journey)
        or content.entry.WhichOneof("trigger") != "schedule"
    ):
        cancel(uow, timer_id, tenant_id=tenant)
        return
    first = _next(content.entry.schedule, uow.now())
    occurrence = Occurrence(asset.asset_id, live.number, first)
    schedule(uow, timer_id, first, occurrence.payload(), tenant_id=tenant, kind=SCHEDULE_KIND)


def schedule_timers(engine: JourneyEngine, page_size: int = PAGE_SIZE) -> TimerHandler[None]:
    """The handler of `journey.schedule` timers (no I/O: no prepare step)."""

    def apply(uow: UnitOfWork, timer: Timer, _: None) -> None:
        assert isinstance(uow, SqlOrchestratorUnitOfWork)
        occurrence = Occurrence.parse(timer.payload)
        enter_page(uow, engine, timer.tenant_id, occurrence, page_size)

    return TimerHandler(apply=apply)


def enter_page(
    uow: SqlOrchestratorUnitOfWork,
    engine: JourneyEngine,
    tenant_id: str,
    occurrence: Occurrence,
    page_size: int = PAGE_SIZE,
) -> int:
    """Offers the journey to the next page of the audience; sets the timer for what comes
    after. Returns how many entered. A version no longer live, or paused, does nothing
    (the lifecycle action that changed it set the timer anew, or cleared it)."""
    live = uow.journeys.find(tenant_id, occurrence.journey_id)
    if live is None or live.paused or live.version != occurrence.version:
        return 0
    journey = uow.journeys.runnable(tenant_id, occurrence.journey_id, occurrence.version)
    audience = journey.definition.entry.schedule.audience
    if audience:
        page = audience_page(uow.session, tenant_id, audience, occurrence.after, page_size)
    else:
        page = contact_state_page(uow.session, tenant_id, occurrence.after, page_size)
    journey_id = occurrence.journey_id  # the page's runs read with one query, not one each
    uow.preload(instance_stream_id(tenant_id, journey_id, s.profile_id) for s in page)
    entered = 0
    for state in page:
        entry = engine.enter(uow, journey, profile_of(state), None, ENTRY, occurrence.occurrence_id)
        entered += entry.entered
    if len(page) == page_size:  # more may follow: the next page, at once
        following = replace(occurrence, after=page[-1].profile_id)
        due = uow.now()
    else:  # missed occurrences (the service was down) are not made up for
        after = max(occurrence.time, uow.now())
        due = _next(journey.definition.entry.schedule, after)
        following = Occurrence(occurrence.journey_id, occurrence.version, due)
    schedule(
        uow,
        schedule_timer_id(occurrence.journey_id),
        due,
        following.payload(),
        tenant_id=tenant_id,
        kind=SCHEDULE_KIND,
    )
    return entered


def profile_of(state: ContactState) -> ProfileView:
    """A profile as the contact state knows it: consent, its zone as the trait, and the
    addresses identity holds (by name)."""
    traits = {TIME_ZONE_TRAIT: state.time_zone} if state.time_zone else {}
    return ProfileView(
        state.tenant_id,
        state.profile_id,
        traits=traits,
        consent=state.consent,
        sealed_addresses=state.addresses,
    )


def _next(spec: pb.Schedule, after: datetime) -> datetime:
    return next_occurrence(spec.cron, spec.time_zone, after)

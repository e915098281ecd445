"""The journey engine's service layer: entries, events, fired timers, merges and forgets.

Each entry point runs inside one unit of work (a consumer's batch, a timer's fire, an
RPC) and never does network I/O: what needs identity or decision was fetched before the
transaction opened (the consumers' and timers' prepare steps) and arrives as plain
values. Sends go through the `SendStep` port, inside the transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel import rules
from services.kernel.errors import FailedPrecondition, NotFound
from services.orchestrator.domain.facts import StockWaiter
from services.orchestrator.domain.instances.instance import JourneyInstance, instance_stream_id
from services.orchestrator.domain.instances.profiles import (
    BACK_IN_STOCK,
    Decision,
    ProfileView,
    TriggerEvent,
    activation,
    decide_context,
    restock_event,
    snapshot,
)
from services.orchestrator.domain.instances.runnable import RunnableJourney
from services.orchestrator.domain.instances.steps import (
    Called,
    Decided,
    IoResult,
    Prepared,
    RunTimer,
    run_timer_id,
)
from services.orchestrator.domain.instances.walk import (
    Ended,
    Moment,
    Waiting,
    event_arrived,
    timer_due,
    variables,
    walk,
)
from services.orchestrator.domain.sending import (
    Delayed,
    SendRequest,
    Sent,
    Suppressed,
    step_after,
)
from services.orchestrator.facts import StoreFacts
from services.orchestrator.instances import load_instance, save_instance
from services.orchestrator.ports import OrchestratorUnitOfWork, SendStep
from services.orchestrator.profile_updates import request_profile_update

DEFAULT_DECIDE_TIMEOUT = 0.5  # seconds, when a decide step names none


@dataclass(frozen=True)
class Entry:
    """Whether a profile entered, and why not."""

    entered: bool
    # filtered | inside | entered_before | cooldown; back in stock: not_live | not_asked |
    # restocked_before
    refusal: str = ""


@dataclass(frozen=True)
class JourneyEngine:
    send: SendStep

    def env(self, uow: OrchestratorUnitOfWork, tenant_id: str) -> rules.Env:
        """What CEL's functions read: the clock, and the tenant's facts in this transaction."""
        return rules.Env(clock=uow.clock, facts=StoreFacts(uow, tenant_id))

    # -- entry points --------------------------------------------------------------------

    def on_event(
        self, uow: OrchestratorUnitOfWork, event: TriggerEvent, profile: ProfileView
    ) -> None:
        """An ingested event of `profile`: goals and waits of its runs first, then entries
        into the live journeys it triggers, highest priority first."""
        tenant = profile.tenant_id
        for journey in self._awaiting(uow, tenant, profile.profile_id, event.name):
            instance = load_instance(uow, tenant, journey.journey_id, profile.profile_id)
            moment = self._moment(uow, journey, profile, event)
            outcome = event_arrived(instance, journey, moment)
            if outcome == "converted":
                uow.timers.cancel(tenant, run_timer_id(instance.journey_id, instance.profile_id))
            elif outcome == "awaited":
                self._advance(uow, instance, journey, moment, None)
            save_instance(uow, instance, event.message_id)
        for journey in self._triggered(uow, tenant, "event", event.name):
            self.enter(uow, journey, profile, event, "event", event.message_id)

    def prefetch_events(
        self, uow: OrchestratorUnitOfWork, arrivals: Sequence[tuple[TriggerEvent, ProfileView]]
    ) -> None:
        """Reads in bulk what `on_event` will read for each arrival: the profiles' instance
        rows (a query a tenant), then the streams of the runs the events may move or enter
        (one query)."""
        people: dict[str, list[str]] = {}
        for _, profile in arrivals:
            people.setdefault(profile.tenant_id, []).append(profile.profile_id)
        for tenant, profile_ids in people.items():
            uow.instance_records.prefetch(tenant, profile_ids)
        uow.preload(
            instance_stream_id(profile.tenant_id, journey.journey_id, profile.profile_id)
            for event, profile in arrivals
            for journey in self._awaiting(uow, profile.tenant_id, profile.profile_id, event.name)
            + self._triggered(uow, profile.tenant_id, "event", event.name)
        )

    def on_audience_entered(
        self, uow: OrchestratorUnitOfWork, profile: ProfileView, audience_id: str, cause_id: str
    ) -> None:
        """The profile joined an audience: it enters the live journeys entered by it."""
        for journey in self._triggered(uow, profile.tenant_id, "audience", audience_id):
            self.enter(uow, journey, profile, None, "audience", cause_id)

    def enter_by_api(
        self, uow: OrchestratorUnitOfWork, journey_id: str, profile: ProfileView, request_id: str
    ) -> Entry:
        """EnterJourney: the journey must be live, not paused, and entered by API calls."""
        live = uow.journeys.find(profile.tenant_id, journey_id)
        if live is None:
            raise NotFound(f"no published journey {journey_id!r}")
        if live.paused:
            raise FailedPrecondition(f"journey {journey_id!r} is paused")
        journey = uow.journeys.runnable(profile.tenant_id, journey_id, live.version)
        if journey.definition.entry.WhichOneof("trigger") != "api":
            raise FailedPrecondition(f"journey {journey_id!r} is not entered by API calls")
        return self.enter(uow, journey, profile, None, "api", request_id)

    def on_back_in_stock(
        self,
        uow: OrchestratorUnitOfWork,
        profile: ProfileView,
        waiter: StockWaiter,
        units: int,
        cause_id: str,
    ) -> Entry:
        """The product `waiter`'s send was suppressed for is back at their store: when the
        journey asks for it (`reentry.back_in_stock`), the person comes back in once, at its
        start (entry `back_in_stock`, caused by the suppressed send). The policy `never`
        does not keep them out, a cooldown does, as does being inside still; a refusal is
        counted (`back_in_stock_refused:<why>`). The new run decides in the last run's
        context, with the restock as its event."""
        tenant, now = profile.tenant_id, uow.now()
        live = uow.journeys.find(tenant, waiter.journey_id)
        if live is None or live.paused:
            return Entry(False, "not_live")
        journey = uow.journeys.runnable(tenant, waiter.journey_id, live.version)
        if not journey.definition.reentry.back_in_stock:
            return Entry(False, "not_asked")
        instance = load_instance(uow, tenant, journey.journey_id, profile.profile_id)
        refusal = instance.refusal(journey.definition, now)
        if waiter.send_id in instance.restocked:
            refusal = "restocked_before"  # once per suppressed send
        if refusal not in ("", "entered_before"):  # `never` is what back_in_stock overrides
            metric = (journey.version, "", f"back_in_stock_refused:{refusal}")
            uow.instance_records.add_counts(tenant, journey.journey_id, Counter({metric: 1}))
            return Entry(False, refusal)
        event = restock_event(waiter.product, waiter.store, units, waiter.send_id, cause_id, now)
        context = {**instance.context, **decide_context(event)}
        instance.enter(
            journey.version, journey.start, BACK_IN_STOCK, waiter.send_id, now, context=context
        )
        self._advance(uow, instance, journey, self._moment(uow, journey, profile, event), None)
        save_instance(uow, instance, cause_id)
        return Entry(True)

    def enter(
        self,
        uow: OrchestratorUnitOfWork,
        journey: RunnableJourney,
        profile: ProfileView,
        event: TriggerEvent | None,
        entry: str,
        cause_id: str,
    ) -> Entry:
        """Enters `profile` when the entry filter holds and the re-entry policy allows."""
        now = uow.now()
        found = activation(profile, event, None, now=now, journey_id=journey.journey_id, step_id="")
        if not journey.holds("entry.when", found, self.env(uow, profile.tenant_id)):
            return Entry(False, "filtered")
        instance = load_instance(uow, profile.tenant_id, journey.journey_id, profile.profile_id)
        refusal = instance.refusal(journey.definition, now)
        if refusal:
            return Entry(False, refusal)
        context = decide_context(event)
        message_id = event.message_id if event is not None else ""
        instance.enter(
            journey.version,
            journey.start,
            entry,
            cause_id,
            now,
            context=context,
            entry_message_id=message_id,
        )
        self._advance(uow, instance, journey, self._moment(uow, journey, profile, event), None)
        save_instance(uow, instance, cause_id)
        return Entry(True)

    def on_timer(
        self, uow: OrchestratorUnitOfWork, tenant_id: str, timer: RunTimer, prepared: Prepared
    ) -> None:
        """A run's timer fired; a timer left over from an older wait or run does nothing."""
        instance = load_instance(uow, tenant_id, timer.journey_id, timer.profile_id)
        current = (
            instance.active
            and instance.wait is not None
            and instance.run == timer.run
            and instance.step_id == timer.step_id
        )
        if not current:
            return
        if uow.journeys.find(tenant_id, timer.journey_id) is None:  # archived: runs end
            instance.exit("archived", uow.now())
            save_instance(uow, instance)
            return
        journey = uow.journeys.runnable(tenant_id, timer.journey_id, instance.journey_version)
        moment = self._moment(uow, journey, prepared.profile, None)
        timer_due(instance, journey, moment.now)
        self._advance(uow, instance, journey, moment, prepared.io)
        save_instance(uow, instance)

    # -- the walk and the steps that need the outside ------------------------------------

    def _awaiting(
        self, uow: OrchestratorUnitOfWork, tenant_id: str, profile_id: str, name: str
    ) -> list[RunnableJourney]:
        """The journeys the profile is inside of whose goals or waits listen to event `name`."""
        found = []
        for record in uow.instance_records.of_profile(tenant_id, profile_id):
            if record.active:
                journey = uow.journeys.runnable(
                    tenant_id, record.journey_id, record.journey_version
                )
                if journey.awaits(name):
                    found.append(journey)
        return found

    def _triggered(
        self, uow: OrchestratorUnitOfWork, tenant_id: str, trigger: str, name: str
    ) -> list[RunnableJourney]:
        """The live, unpaused journeys whose entry is `trigger` `name`, highest priority first."""
        found = [
            journey
            for live, journey in uow.journeys.live_versions(tenant_id)
            if not live.paused and journey.entered_by(trigger) == name
        ]
        return sorted(found, key=lambda j: (-j.definition.priority, j.journey_id))

    def _moment(
        self,
        uow: OrchestratorUnitOfWork,
        journey: RunnableJourney,
        profile: ProfileView,
        event: TriggerEvent | None,
    ) -> Moment:
        live = uow.journeys.find(profile.tenant_id, journey.journey_id)
        paused = live is not None and live.paused
        return Moment(profile, event, uow.now(), self.env(uow, profile.tenant_id), paused=paused)

    def _advance(
        self,
        uow: OrchestratorUnitOfWork,
        instance: JourneyInstance,
        journey: RunnableJourney,
        moment: Moment,
        io: IoResult | None,
    ) -> None:
        """Walks until the run waits or ends, acting on sends, profile updates and I/O steps."""
        while True:
            stop = walk(instance, journey, moment)
            if isinstance(stop, Ended):
                timer_id = run_timer_id(instance.journey_id, instance.profile_id)
                uow.timers.cancel(instance.tenant_id, timer_id)
                return
            if isinstance(stop, Waiting):
                self.schedule(uow, instance, journey, stop.due)
                return
            step, now = stop.step, moment.now
            kind = step.WhichOneof("action")
            if kind == "send":
                if not self._send(uow, instance, journey, step, moment):
                    return
            elif kind == "update_profile":
                request_profile_update(uow, instance, step)
                instance.take(step.next, "requested", now)
            elif io is not None and io.step_id == step.id:
                _apply_io(instance, step, io, moment)
                io = None
            else:  # decide or webhook: done by the timer's prepare step, before its transaction
                instance.wait_at(now, "io")
                self.schedule(uow, instance, journey, now)
                return

    def _send(
        self,
        uow: OrchestratorUnitOfWork,
        instance: JourneyInstance,
        journey: RunnableJourney,
        step: pb.Step,
        moment: Moment,
    ) -> bool:
        """Asks the send port; False when the run must wait (a delayed send)."""
        now = moment.now
        visit = instance.visit(step.id)
        if visit == 0 and step.id in instance.sent_steps:  # sent by a run absorbed in a merge
            instance.record_send("suppressed", now, reason="already_sent")
            instance.take(step.next, "suppressed:already_sent", now)
            return True
        found = variables(instance, journey, moment)
        request = SendRequest(
            tenant_id=instance.tenant_id,
            instance_id=instance.run_id,
            journey_id=instance.journey_id,
            journey_version=instance.journey_version,
            step_id=step.id,
            step=step.send,
            visit=visit,
            priority=journey.definition.priority,
            run_profile_id=instance.profile_id,
            profile=snapshot(moment.profile, moment.event),
            decision=found["decision"] if instance.decision is not None else None,
            event=found["event"] if moment.event is not None else None,
        )
        outcome = self.send(uow, request)
        match outcome:
            case Sent():
                instance.record_send("sent", now, command_id=outcome.send_id)
                instance.take(step_after(step, outcome) or step.next, "sent", now)
            case Suppressed():
                reason = outcome.reason.value
                instance.record_send("suppressed", now, reason=reason)
                instance.take(step_after(step, outcome) or step.next, f"suppressed:{reason}", now)
            case Delayed():
                reason = outcome.reason.value
                instance.record_send("delayed", now, reason=reason, until=outcome.until)
                instance.wait_at(outcome.until, "send_delayed")
                self.schedule(uow, instance, journey, outcome.until)
                return False
        return True

    def schedule(
        self,
        uow: OrchestratorUnitOfWork,
        instance: JourneyInstance,
        journey: RunnableJourney,
        due: datetime,
    ) -> None:
        """Sets the run's one timer; for an I/O step it says what the prepare step asks.
        The caller has recorded the wait (`instance.wait_at`)."""
        step = journey.step(instance.step_id)
        kind = step.WhichOneof("action")
        io = instance.wait is not None and instance.wait.reason == "io"
        timer = RunTimer(instance.journey_id, instance.profile_id, instance.run, step.id)
        if io and kind == "decide":
            timeout = step.decide.timeout.ToTimedelta().total_seconds()
            timer = replace(
                timer,
                io="decide",
                placement=step.decide.placement,
                timeout=timeout or DEFAULT_DECIDE_TIMEOUT,
                context=dict(instance.context),
                visit=instance.visit(step.id),
            )
        elif io and kind == "webhook":
            timer = replace(timer, io="webhook", url=step.webhook.url)
        uow.timers.schedule(instance.tenant_id, timer.timer_id, due, timer.payload())


def _apply_io(instance: JourneyInstance, step: pb.Step, io: IoResult, moment: Moment) -> None:
    """Records a decide or webhook step's outcome and takes the path it leads to."""
    now = moment.now
    match io:
        case Decided(decision=Decision(action=action)) if action in step.decide.paths:
            decision = io.decision
            assert decision is not None
            instance.record_decision(
                now,
                placement=step.decide.placement,
                action=decision.action,
                product=decision.product,
                score=decision.score,
            )
            instance.take(step.decide.paths[decision.action], f"action:{decision.action}", now)
        case Decided():
            reason = io.fallback_reason or "no_path"
            action = io.decision.action if io.decision is not None else ""
            instance.record_decision(
                now, placement=step.decide.placement, action=action, fallback_reason=reason
            )
            instance.take(step.decide.fallback, f"fallback:{reason}", now)
        case Called():
            instance.take(step.next, f"called:{io.outcome}", now)

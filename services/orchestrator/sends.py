"""The send service: what the journey engine calls for a `send` step (see domain.sending).

Runs in the engine's unit of work: guards in order (consent, address, stock, quiet
hours, frequency caps), then records the outcome in the per-profile send ledger, keyed
by the send id (instance + step), so asking again for the same send answers the same
without sending twice. A suppression is recorded with its reason; a delay returns when
to ask again. A send that passes publishes SendRequested (outbox, same transaction): the
renderer (`consumers.renderer`) turns it into the channel's SendCommand outside this
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.kernel import rules
from services.orchestrator import mapping
from services.orchestrator.domain.channels import CHANNEL_PURPOSES
from services.orchestrator.domain.facts import StockWaiter
from services.orchestrator.domain.frequency_caps import (
    FrequencyCap,
    Full,
    Hold,
    LedgerEntry,
    Outbid,
    Pass,
    SendState,
    check_caps,
)
from services.orchestrator.domain.guards import (
    QuietHours,
    check_address,
    check_consent,
    check_quiet_hours,
    stock_key,
)
from services.orchestrator.domain.sending import (
    Delayed,
    DelayReason,
    SendOutcome,
    SendRequest,
    Sent,
    Suppressed,
    SuppressionReason,
)
from services.orchestrator.facts import StoreFacts
from services.orchestrator.ports import OrchestratorUnitOfWork

DEFAULT_CAPS = (
    FrequencyCap("email", 3, timedelta(days=1)),
    FrequencyCap("*", 5, timedelta(days=1)),
)


@dataclass(frozen=True)
class SendPolicy:
    """The rules every send of a deployment follows (settings: see `sending_settings`)."""

    caps: tuple[FrequencyCap, ...] = DEFAULT_CAPS
    quiet_hours: QuietHours | None = None
    cap_hold: timedelta = timedelta(seconds=30)  # how long a cap's last slot is contested
    default_time_zone: str = "UTC"  # quiet hours for people whose zone is unknown

    @property
    def longest_window(self) -> timedelta:
        return max((c.window for c in self.caps), default=timedelta(0))


def send(uow: OrchestratorUnitOfWork, policy: SendPolicy, request: SendRequest) -> SendOutcome:
    """Guards, then ledger: Sent, Suppressed(reason) or Delayed(until). Idempotent per send id."""
    now = uow.now()
    ledger = uow.send_ledger
    before = ledger.get(request.tenant_id, request.send_id)
    if before is not None and before.state is SendState.SENT:
        return Sent(request.send_id)
    if before is not None and before.state is SendState.SUPPRESSED:
        return Suppressed(SuppressionReason(before.reason.split(":")[0]), before.reason)
    entry = LedgerEntry(
        tenant_id=request.tenant_id,
        profile_id=request.profile.profile_id,
        send_id=request.send_id,
        channel=request.step.channel,
        journey_id=request.journey_id,
        step_id=request.step_id,
        state=SendState.SENT,
        time=now,
        value=request.value,
        priority=request.priority,
        run_profile_id=request.run_profile_id or request.profile.profile_id,
    )
    outcome = _guarded(uow, policy, request, now)
    if isinstance(outcome, Suppressed):
        ledger.record(replace(entry, state=SendState.SUPPRESSED, reason=_reason(outcome)))
    elif isinstance(outcome, Delayed):
        state = SendState.HELD if outcome.reason is DelayReason.CAP_HOLD else SendState.DELAYED
        if before is not None and before.state is SendState.HELD and state is SendState.HELD:
            entry = before  # keeps its place in the contest
        ledger.record(
            replace(entry, state=state, reason=outcome.reason.value, hold_until=outcome.until)
        )
    else:
        ledger.record(entry)
        purpose = CHANNEL_PURPOSES[request.step.channel]
        uow.publish(mapping.send_requested_message(request, purpose, now))
    return outcome


def _guarded(
    uow: OrchestratorUnitOfWork, policy: SendPolicy, request: SendRequest, now: datetime
) -> SendOutcome:
    if suppressed := check_consent(request.step.channel, request.profile.consent):
        return suppressed
    if unreachable := check_address(request.step.channel, request.profile):
        return unreachable
    if request.step.HasField("stock") and (out := _out_of_stock(uow, request, now)):
        return out
    quiet = check_quiet_hours(
        now, request.profile.time_zone, policy.quiet_hours, policy.default_time_zone
    )
    if quiet is not None:
        return quiet
    entries = uow.send_ledger.capping(
        request.tenant_id, request.profile.profile_id, now - policy.longest_window
    )
    verdict = check_caps(
        policy.caps,
        request.step.channel,
        request.send_id,
        request.value,
        entries,
        now,
        policy.cap_hold,
    )
    match verdict:
        case Full(cap):
            return Suppressed(SuppressionReason.FREQUENCY_CAP, f"cap {cap} is full")
        case Outbid(cap, winner):
            return Suppressed(
                SuppressionReason.FREQUENCY_CAP, f"cap {cap}: its last slot went to {winner}"
            )
        case Hold(until):
            return Delayed(until, DelayReason.CAP_HOLD)
        case Pass():
            return Sent(request.send_id)
    raise AssertionError(verdict)


def _out_of_stock(
    uow: OrchestratorUnitOfWork, request: SendRequest, now: datetime
) -> Suppressed | None:
    """Suppressed when the product the send promotes is not in stock at the store; the
    person then waits for it (BackInStock when it returns)."""
    facts = StoreFacts(uow, request.tenant_id)
    key = stock_key(request, now, rules.Env(clock=uow.clock, facts=facts))
    if isinstance(key, Suppressed):
        return key
    units = facts.stock(key.product, key.store)
    if units > 0:
        return None
    uow.facts.add_waiter(
        StockWaiter(
            request.tenant_id,
            key.product,
            key.store,
            request.profile.profile_id,
            request.send_id,
            request.journey_id,
            request.step_id,
            now,
        )
    )
    return Suppressed(SuppressionReason.OUT_OF_STOCK, f"{key.product} at {key.store}: {units}")


def _reason(outcome: Suppressed) -> str:
    """`reason: detail`, clipped to the ledger's column."""
    text = f"{outcome.reason.value}: {outcome.detail}" if outcome.detail else outcome.reason.value
    return text[:200]

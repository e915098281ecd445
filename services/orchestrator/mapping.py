"""Protobuf <-> the orchestrator's domain; the only module besides api/ that knows protobuf."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from google.protobuf import json_format

from layercake.channel.v1 import channel_pb2
from layercake.events.v1 import ingest_pb2
from layercake.orchestrator.v1 import facts_pb2, send_pb2, send_settings_pb2
from layercake.orchestrator.v1 import instance_events_pb2 as ie
from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from services.kernel.errors import Violations
from services.kernel.ids import stable_id
from services.kernel.messaging import subjects
from services.kernel.protobuf import from_timestamp, to_timestamp
from services.kernel.store.event_types import EventTypes
from services.kernel.store.records import OutboxMessage
from services.orchestrator.domain.contact_state import ContactState
from services.orchestrator.domain.facts import MAX_ID, StockFact, StockWaiter
from services.orchestrator.domain.feedback import ChannelFeedback
from services.orchestrator.domain.frequency_caps import FrequencyCap
from services.orchestrator.domain.instances import events as ev
from services.orchestrator.domain.instances.profiles import TriggerEvent
from services.orchestrator.domain.rendering import Content
from services.orchestrator.domain.send_settings import (
    QuietSetting,
    SendSettings,
    check_caps,
    quiet_setting,
)
from services.orchestrator.domain.sending import SendRequest

SOURCE = "orchestrator"
BACK_IN_STOCK = facts_pb2.BackInStock.DESCRIPTOR.full_name
SEND_REQUESTED = send_pb2.SendRequested.DESCRIPTOR.full_name
SEND_COMMAND = channel_pb2.SendCommand.DESCRIPTOR.full_name
CONSENT_WITHDRAWN = send_pb2.ConsentWithdrawn.DESCRIPTOR.full_name


def contact_state_proto(state: ContactState) -> pb.ContactState:
    return pb.ContactState(
        tenant_id=state.tenant_id,
        profile_id=state.profile_id,
        profile_version=state.profile_version,
        consent=dict(state.consent),
        time_zone=state.time_zone,
        update_time=to_timestamp(state.update_time),
    )


def stock_facts(
    tenant_id: str, levels: Iterable[facts_pb2.StockLevel], now: datetime, field: str
) -> list[StockFact]:
    """Stock levels as facts (observed now when the source gives no time); INVALID_ARGUMENT
    naming each bad level's field."""
    bad = Violations()
    found = []
    for i, level in enumerate(levels):
        for name in ("product", "store"):
            value = getattr(level, name)
            if not value or len(value) > MAX_ID:
                bad.add(f"{field}[{i}].{name}", f"must be 1-{MAX_ID} characters")
        observed = from_timestamp(level.observe_time) if level.HasField("observe_time") else now
        found.append(
            StockFact(tenant_id, level.product, level.store, level.units, observed, level.version)
        )
    bad.raise_if_any()
    return found


def stock_level_proto(fact: StockFact) -> facts_pb2.StockLevel:
    return facts_pb2.StockLevel(
        product=fact.product,
        store=fact.store,
        units=fact.units,
        observe_time=to_timestamp(fact.observe_time),
        version=fact.version,
    )


def back_in_stock_message(waiter: StockWaiter, fact: StockFact) -> OutboxMessage:
    """BackInStock for one suppressed send; its event id is fixed by the send and the
    level's time, so a replay cannot tell the person twice."""
    message = facts_pb2.BackInStock(
        tenant_id=waiter.tenant_id,
        profile_id=waiter.profile_id,
        product=waiter.product,
        store=waiter.store,
        units=fact.units,
        journey_id=waiter.journey_id,
        step_id=waiter.step_id,
        send_id=waiter.send_id,
        suppress_time=to_timestamp(waiter.suppress_time),
    )
    return OutboxMessage(
        subject=subjects.integration(waiter.tenant_id, SOURCE, "back_in_stock"),
        type=BACK_IN_STOCK,
        payload=message.SerializeToString(),
        tenant_id=waiter.tenant_id,
        event_id=stable_id(
            waiter.tenant_id, f"back-in-stock:{waiter.send_id}:{fact.observe_time.isoformat()}"
        ),
        source=SOURCE,
        subject_ref=waiter.profile_id,
    )


def stock_waiter(message: facts_pb2.BackInStock) -> StockWaiter:
    """The person a BackInStock released, as they waited."""
    return StockWaiter(
        tenant_id=message.tenant_id,
        product=message.product,
        store=message.store,
        profile_id=message.profile_id,
        send_id=message.send_id,
        journey_id=message.journey_id,
        step_id=message.step_id,
        suppress_time=from_timestamp(message.suppress_time),
    )


def send_requested_message(request: SendRequest, purpose: str, now: datetime) -> OutboxMessage:
    """The send that passed its guards, for the renderer: ids, consent proof and the
    decision, never trait values (the renderer asks identity for those it renders)."""
    message = send_pb2.SendRequested(
        tenant_id=request.tenant_id,
        send_id=request.send_id,
        channel=request.step.channel,
        template_id=request.step.template,
        profile_id=request.profile.profile_id,
        journey_id=request.journey_id,
        journey_version=request.journey_version,
        step_id=request.step_id,
        purpose=purpose,
        profile_version=request.profile.version,
        request_time=to_timestamp(now),
    )
    # no trait values: the stream keeps no personal data; the renderer asks identity for them
    message.profile.update(_json_safe(request.profile.as_cel() | {"traits": {}}))
    message.decision.update(_json_safe(dict(request.decision or {})))
    return OutboxMessage(
        subject=subjects.integration(request.tenant_id, SOURCE, "send_requested"),
        type=SEND_REQUESTED,
        payload=message.SerializeToString(),
        tenant_id=request.tenant_id,
        event_id=stable_id(request.tenant_id, f"requested:{request.send_id}"),
        source=SOURCE,
        subject_ref=request.profile.profile_id,
    )


def _json_safe(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values a protobuf Struct holds (JSON's); anything else as its string."""
    safe: dict[str, Any] = json.loads(json.dumps(dict(values), default=str))
    return safe


def send_command_message(
    requested: send_pb2.SendRequested,
    template_version: int,
    content: Content,
    address: str,
    now: datetime,
) -> OutboxMessage:
    """The channel's command; its event id is fixed by the send id, so JetStream and the
    adapter both see a repeat as one."""
    command = channel_pb2.SendCommand(
        tenant_id=requested.tenant_id,
        send_id=requested.send_id,
        channel=requested.channel,
        profile_id=requested.profile_id,
        address=address,
        content=channel_pb2.Content(subject=content.subject, body=content.body),
        consent=channel_pb2.ConsentProof(
            purpose=requested.purpose,
            granted=True,
            profile_version=requested.profile_version,
            check_time=requested.request_time,
        ),
        journey_id=requested.journey_id,
        journey_version=requested.journey_version,
        step_id=requested.step_id,
        template_id=requested.template_id,
        template_version=template_version,
        request_time=to_timestamp(now),
    )
    return OutboxMessage(
        subject=subjects.channel_send(requested.tenant_id, requested.channel),
        type=SEND_COMMAND,
        payload=command.SerializeToString(),
        tenant_id=requested.tenant_id,
        event_id=stable_id(requested.tenant_id, requested.send_id),
        source=SOURCE,
        subject_ref=requested.profile_id,
    )


FEEDBACK_KINDS = {
    channel_pb2.FEEDBACK_KIND_DELIVERED: "delivered",
    channel_pb2.FEEDBACK_KIND_OPENED: "opened",
    channel_pb2.FEEDBACK_KIND_CLICKED: "clicked",
    channel_pb2.FEEDBACK_KIND_BOUNCED: "bounced",
    channel_pb2.FEEDBACK_KIND_COMPLAINED: "complained",
    channel_pb2.FEEDBACK_KIND_UNSUBSCRIBED: "unsubscribed",
}


def channel_feedback(tenant_id: str, message: channel_pb2.Feedback) -> ChannelFeedback:
    """Feedback as the service layer takes it; ValueError for a kind it does not know or a
    message naming no send or person."""
    kind = FEEDBACK_KINDS.get(message.kind)
    if kind is None or not message.send_id or not message.profile_id:
        raise ValueError("feedback needs a kind, a send_id and a profile_id")
    return ChannelFeedback(
        tenant_id=tenant_id,
        send_id=message.send_id,
        channel=message.channel,
        profile_id=message.profile_id,
        kind=kind,
        detail=message.detail,
        occur_time=from_timestamp(message.occur_time),
    )


def consent_withdrawn_message(feedback: ChannelFeedback, purpose: str) -> OutboxMessage:
    message = send_pb2.ConsentWithdrawn(
        tenant_id=feedback.tenant_id,
        profile_id=feedback.profile_id,
        purpose=purpose,
        channel=feedback.channel,
        send_id=feedback.send_id,
        reason=feedback.kind,
        occur_time=to_timestamp(feedback.occur_time),
    )
    return OutboxMessage(
        subject=subjects.integration(feedback.tenant_id, SOURCE, "consent_withdrawn"),
        type=CONSENT_WITHDRAWN,
        payload=message.SerializeToString(),
        tenant_id=feedback.tenant_id,
        event_id=stable_id(feedback.tenant_id, f"withdrawn:{feedback.send_id}:{feedback.kind}"),
        source=SOURCE,
        subject_ref=feedback.profile_id,
    )


INSTANCE_EVENTS: EventTypes[ev.InstanceEvent, None] = EventTypes()
INSTANCE_EVENTS.register(ie.InstanceEntered, ev.InstanceEntered)
INSTANCE_EVENTS.register(ie.WaitStarted, ev.WaitStarted)
INSTANCE_EVENTS.register(ie.StepTaken, ev.StepTaken)
INSTANCE_EVENTS.register(ie.SplitAssigned, ev.SplitAssigned)
INSTANCE_EVENTS.register(ie.SendRecorded, ev.SendRecorded)
INSTANCE_EVENTS.register(ie.DecisionRecorded, ev.DecisionRecorded)
INSTANCE_EVENTS.register(ie.InstanceExited, ev.InstanceExited)
INSTANCE_EVENTS.register(ie.RunAbsorbed, ev.RunAbsorbed)
INSTANCE_EVENTS.register(ie.RunMigrated, ev.RunMigrated)
INSTANCE_EVENTS.register(ie.FeedbackReceived, ev.FeedbackReceived)


EVENT_INGESTED = ingest_pb2.EventIngested.DESCRIPTOR.full_name
# which identifier names the person most surely, when an event carries several
_REF_ORDER = ("user_id", "crm_id", "email", "phone", "anonymous_id", "device_id", "cookie_id")


def trigger_event(ingested: ingest_pb2.EventIngested) -> TriggerEvent:
    """The engine's view of an ingested event (times in UTC; the receive time when the
    partner gave no event time)."""
    event = ingested.event
    receive = from_timestamp(ingested.receive_time)
    return TriggerEvent(
        message_id=event.message_id,
        type=event.type,
        name=event.event,
        time=from_timestamp(event.timestamp) if event.HasField("timestamp") else receive,
        received_time=receive,
        properties=json_format.MessageToDict(event.properties),
        traits=json_format.MessageToDict(event.traits),
        context=json_format.MessageToDict(event.context),
    )


def profile_refs(ingested: ingest_pb2.EventIngested) -> list[str]:
    """`<type>:<value>` of each identifier the event carries, the surest first."""
    found: list[tuple[int, str]] = []
    for kind, value in json_format.MessageToDict(ingested.event.identifiers).items():
        rank = _REF_ORDER.index(kind) if kind in _REF_ORDER else len(_REF_ORDER)
        for raw in value if isinstance(value, list) else [value]:
            if isinstance(raw, str) and raw:
                found.append((rank, f"{kind}:{raw}"))
    return [ref for _, ref in sorted(found)]


def send_settings_of(
    message: send_settings_pb2.SendSettings, where: str = "settings"
) -> SendSettings:
    """A tenant's send settings from their message; INVALID_ARGUMENT naming each bad field
    (`settings.frequency_caps.caps[0].limit`, `settings.quiet_hours.start`)."""
    bad = Violations()
    caps: tuple[FrequencyCap, ...] | None = None
    if message.HasField("frequency_caps"):
        caps = tuple(
            FrequencyCap(c.channel, c.limit, c.window.ToTimedelta())
            for c in message.frequency_caps.caps
        )
        check_caps(caps, f"{where}.frequency_caps", bad)
    quiet: QuietSetting | None = None
    if message.HasField("quiet_hours"):
        q = message.quiet_hours
        quiet = quiet_setting(q.start, q.end, q.default_time_zone, f"{where}.quiet_hours", bad)
    bad.raise_if_any()
    return SendSettings(caps, quiet)


def send_settings_proto(settings: SendSettings) -> send_settings_pb2.SendSettings:
    message = send_settings_pb2.SendSettings()
    if settings.caps is not None:
        message.frequency_caps.SetInParent()
        for cap in settings.caps:
            added = message.frequency_caps.caps.add(channel=cap.channel, limit=cap.limit)
            added.window.FromTimedelta(cap.window)
    if settings.quiet is not None:
        hours = settings.quiet.hours
        message.quiet_hours.SetInParent()
        message.quiet_hours.default_time_zone = settings.quiet.default_time_zone
        if hours is not None:
            message.quiet_hours.start = hours.start.strftime("%H:%M")
            message.quiet_hours.end = hours.end.strftime("%H:%M")
    return message

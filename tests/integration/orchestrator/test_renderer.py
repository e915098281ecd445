"""From a send that passed its guards to the channel's SendCommand, on a real database:
the published template, personal traits from identity (a fake behind the port), the
outbox; and a template that is not published becomes a `no_template` suppression."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy import select

from layercake.channel.v1 import channel_pb2
from layercake.orchestrator.v1 import journey_pb2 as jpb
from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from services.kernel.assets.projection import AssetProjection
from services.kernel.clock import FixedClock
from services.kernel.errors import Unavailable
from services.kernel.messaging.consumer import ConsumerRunner, Delivery, Outcome
from services.kernel.messaging.envelope import headers_for, open_envelope
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.records import OutboxMessage
from services.kernel.store.schema import outbox
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.orchestrator import sends
from services.orchestrator.consumers.renderer import render_failures, renderer
from services.orchestrator.domain.frequency_caps import SendState
from services.orchestrator.domain.sending import ProfileSnapshot, SendRequest
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork
from tests.conftest import random_id
from tests.contracts.asset_harness import ANN, CAT, OPS
from tests.integration.harness import consume, publish
from tests.integration.orchestrator.people import People

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
TEMPLATE = (
    Path(__file__).parents[3] / "services/orchestrator/examples/cart-reminder.yaml"
).read_text()


ANNS_TRAITS = {"first_name": "Ann", "email": "ann@example.com", "last_name": "Lee"}


class FakeIdentity:
    def __init__(self, held: dict[str, Any] | None = None) -> None:
        self.asked: list[set[str]] = []
        self.held = ANNS_TRAITS if held is None else held

    async def traits(
        self, tenant_id: str, profile_id: str, names: Collection[str], purpose: str = ""
    ) -> dict[str, Any]:
        self.asked.append(set(names))
        return {n: v for n, v in self.held.items() if n in names}


async def publish_template(people: People, service_db: Database, tenant: str = "acme") -> None:
    """Publishes the example, four-eyes, once a profile of the tenant holds the traits it
    reads (as identity's ProfileUpdated would have said)."""
    units = UnitOfWorkFactory(service_db.sessions, FixedClock(NOW), kind=SqlOrchestratorUnitOfWork)
    with units() as uow:
        uow.trait_names.learn(tenant, ["profile.traits.first_name", "profile.traits.email"])
        uow.commit()
    ann, cat, ops = (replace(p, tenant_id=tenant) for p in (ANN, CAT, OPS))
    await people(ann).ApplyTemplate(pb.ApplyTemplateRequest(yaml=TEMPLATE), timeout=10)
    for action, who in (
        (pb.ASSET_ACTION_SUBMIT, ann),
        (pb.ASSET_ACTION_APPROVE, cat),
        (pb.ASSET_ACTION_PUBLISH, ops),
    ):
        request = pb.TransitionTemplateRequest(
            template_id="cart-reminder", action=action, request_id=str(uuid.uuid4())
        )
        await people(who).TransitionTemplate(request, timeout=10)


def request(template: str = "cart-reminder", tenant: str = "acme") -> SendRequest:
    return SendRequest(
        tenant_id=tenant,
        instance_id="i-1",
        journey_id="cart",
        journey_version=1,
        step_id="remind",
        step=jpb.SendStep(channel="email", template=template),
        profile=ProfileSnapshot(
            "p-1",
            {"store_id": "s-12"},
            {"email_marketing": True},
            "UTC",
            3,
            sealed_addresses=frozenset({"email"}),  # known by name, as the contact state knows
        ),
        decision={"action": "water", "product": "water", "score": 0.7},
    )


async def render(service_db: Database, req: SendRequest, identity: FakeIdentity) -> list[Any]:
    units = UnitOfWorkFactory(
        service_db.sessions, FixedClock(NOW), [AssetProjection()], kind=SqlOrchestratorUnitOfWork
    )
    with units() as uow:
        sends.send(uow, sends.SendPolicy(caps=()), req)
        uow.commit()
    with service_db.transaction() as s:
        [row] = s.execute(select(outbox).where(outbox.c.subject.like("%send_requested"))).all()
        s.execute(outbox.delete())
    envelope = open_envelope(row.subject, headers_for(row, NOW), row.payload)
    spec = renderer(ServiceLayer(service_db, units), identity)
    assert spec.prepare is not None
    prepared = await spec.prepare(envelope)
    with units() as uow:
        spec.apply(uow, Delivery(envelope, prepared))
        uow.commit()
    with service_db.transaction() as s:
        return list(s.execute(select(outbox)).all())


async def test_the_command_carries_the_rendered_mail_address_and_consent(
    people: People, service_db: Database
) -> None:
    await publish_template(people, service_db)
    identity = FakeIdentity()
    [row] = await render(service_db, request(), identity)
    assert identity.asked == [{"first_name", "email"}]  # what the mail reads, not last_name
    assert row.subject == "layercake.acme.channel.email.send"
    command = channel_pb2.SendCommand.FromString(row.payload)
    assert command.send_id == "send:i-1:remind" and command.address == "ann@example.com"
    assert command.content.subject == "Ann, your cart is waiting"
    assert "You left water in your cart" in command.content.body
    assert (command.consent.purpose, command.consent.profile_version) == ("email_marketing", 3)
    assert (command.template_id, command.template_version) == ("cart-reminder", 1)


async def test_a_template_not_published_suppresses_the_send(
    people: People, service_db: Database
) -> None:
    assert await render(service_db, request("nowhere"), FakeIdentity()) == []
    units = UnitOfWorkFactory(service_db.sessions, FixedClock(NOW), kind=SqlOrchestratorUnitOfWork)
    with units() as uow:
        entry = uow.send_ledger.get("acme", "send:i-1:remind")
    assert entry is not None and entry.state is SendState.SUPPRESSED
    assert entry.reason.startswith("no_template: template nowhere not published")


async def test_an_address_removed_since_the_guard_suppresses_the_send_unsent(
    people: People, service_db: Database
) -> None:
    await publish_template(people, service_db)
    identity = FakeIdentity({"first_name": "Ann", "email": ""})
    assert await render(service_db, request(), identity) == []  # no command
    units = UnitOfWorkFactory(service_db.sessions, FixedClock(NOW), kind=SqlOrchestratorUnitOfWork)
    with units() as uow:
        entry = uow.send_ledger.get("acme", "send:i-1:remind")
        counts = uow.instance_records.counts("acme", "cart")
    assert entry is not None and entry.state is SendState.SUPPRESSED
    assert entry.reason == "no_address: identity holds no email"
    assert [(c.step_id, c.metric) for c in counts] == [("remind", "suppressed:no_address")]


class DownIdentity:
    async def traits(
        self, tenant_id: str, profile_id: str, names: Collection[str], purpose: str = ""
    ) -> dict[str, Any]:
        raise Unavailable("identity is down")


async def test_a_send_the_renderer_gives_up_on_is_recorded_failed_not_sent(
    people: People, service_db: Database, js: JetStreamContext
) -> None:
    """Identity stays down through every attempt: the message is dead-lettered, and the
    dead letter turns the ledger's `sent` into `failed` with the reason, counted."""
    tenant = random_id("t").replace("-", "")[:20]
    await publish_template(people, service_db, tenant)
    units = UnitOfWorkFactory(
        service_db.sessions, FixedClock(NOW), [AssetProjection()], kind=SqlOrchestratorUnitOfWork
    )
    with units() as uow:
        sends.send(uow, sends.SendPolicy(caps=()), request(tenant=tenant))
        uow.commit()
    with service_db.transaction() as s:
        where = outbox.c.subject == f"layercake.{tenant}.orchestrator.send_requested"
        [row] = s.execute(select(outbox).where(where)).all()
    await publish(
        js, OutboxMessage(row.subject, row.type, row.payload, row.tenant_id, row.event_id)
    )
    durable = random_id("renderer-")
    spec = renderer(ServiceLayer(service_db, units), DownIdentity())
    rendering = ConsumerRunner(
        replace(spec, durable=durable, filter_subject=row.subject),
        js,
        service_db,
        units,
        max_deliver=2,
        ack_wait=1.0,
    )
    failures = render_failures()
    recording = ConsumerRunner(
        replace(
            failures,
            durable=random_id("failures-"),
            filter_subject=f"layercake.{tenant}.dlq.{durable}",
        ),
        js,
        service_db,
        units,
    )
    try:
        results = await consume(rendering, 2, timeout=20)
        await consume(recording, 1)
        await consume(recording, 0)
    finally:
        await rendering.close()
        await recording.close()
    assert results[-1].outcome is Outcome.FAILED
    with units() as uow:
        entry = uow.send_ledger.get(tenant, "send:i-1:remind")
        counts = uow.instance_records.counts(tenant, "cart")
    assert entry is not None and entry.state is SendState.FAILED
    assert entry.reason.startswith("render_failed: ") and "identity is down" in entry.reason
    assert [(c.step_id, c.metric, c.count) for c in counts] == [("remind", "failed", 1)]

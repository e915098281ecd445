"""A published journey sends through the real email adapter into the SMTP sink, as `make
run` wires it: an ingested event enters the person, the send passes its guards, the
renderer asks identity for the traits the template reads, the adapter delivers. The mail
arrives once, even when the event is ingested again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import grpc
import pytest

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import gateway_service_pb2_grpc as ggrpc
from layercake.orchestrator.v1 import orchestrator_service_pb2 as opb
from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as ogrpc
from services.kernel.principals import Actor, Principal, PrincipalKind, Role
from services.kernel.rpc.signing import InternalCalls, SigningInterceptor
from services.local.stack import DEMO_TENANT, LocalStack, Ports
from tests.conftest import random_id
from tests.e2e.conftest import Platform
from tests.e2e.test_walking_skeleton import event
from tests.polling import eventually

pytestmark = pytest.mark.e2e

TEMPLATE = """
template: welcome-mail
channel: email
owner: growth-team
subject: "{{ profile.traits.first_name }}, welcome"
body: "Hi {{ profile.traits.first_name }}, thanks for signing up."
"""
JOURNEY = """
journey: welcome
description: One mail to each new sign-up.
owner: growth-team
entry: {event: signed_up}
reentry: {policy: never}
steps:
  - id: mail
    send: {channel: email, template: welcome-mail}
    next: done
  - id: done
    exit: {}
"""


@pytest.fixture(scope="module")
def mailing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    stack = LocalStack(tmp_path_factory.mktemp("stack"), Ports.free(), channels=True)
    try:
        yield Platform(stack, stack.start())
    finally:
        stack.stop()


def person(name: str, role: Role) -> Principal:
    return Principal(DEMO_TENANT, Actor(name, PrincipalKind.PERSON), frozenset({role}))


def rid() -> str:
    return str(uuid.uuid4())


async def test_a_journey_mail_arrives_once(mailing: Platform) -> None:
    stack = mailing.stack
    internal = InternalCalls(stack.internal_secret().encode())
    channels: list[grpc.aio.Channel] = []

    def stub(who: Principal) -> ogrpc.OrchestratorServiceStub:
        interceptor = SigningInterceptor(internal, lambda _: who)
        channel = grpc.aio.insecure_channel(stack.addr("orchestrator"), interceptors=[interceptor])
        channels.append(channel)
        return ogrpc.OrchestratorServiceStub(channel)

    ann, cat, ops = (
        stub(person("ann", Role.EDITOR)),
        stub(person("cat", Role.APPROVER)),
        stub(person("ops", Role.OPERATOR)),
    )
    try:
        await ann.ApplyTemplate(
            opb.ApplyTemplateRequest(yaml=TEMPLATE, request_id=rid()), timeout=10
        )
        await ann.ApplyJourney(opb.ApplyJourneyRequest(yaml=JOURNEY, request_id=rid()), timeout=10)
        for who, action in (
            (ann, opb.ASSET_ACTION_SUBMIT),
            (cat, opb.ASSET_ACTION_APPROVE),
            (ops, opb.ASSET_ACTION_PUBLISH),
        ):
            await who.TransitionTemplate(
                opb.TransitionTemplateRequest(
                    template_id="welcome-mail", action=action, request_id=rid()
                ),
                timeout=10,
            )
            await who.TransitionJourney(
                opb.TransitionJourneyRequest(journey_id="welcome", action=action, request_id=rid()),
                timeout=10,
            )
        cookie = random_id("mail-")
        signed_up = event(
            cookie,
            event="signed_up",
            traits={"first_name": "Ann", "email": "ann@example.com"},
        )
        async with grpc.aio.insecure_channel(stack.addr("gateway")) as channel:
            gateway = ggrpc.GatewayServiceStub(channel)
            await gateway.Ingest(
                gpb.IngestRequest(events=[signed_up]), metadata=mailing.auth, timeout=10
            )

            async def delivered() -> list[Path]:
                return sorted(stack.mail_dir.glob("*.eml"))

            [mail] = await eventually(delivered, timeout=60)
            again = event(cookie, event="signed_up")  # a new message: re-entry is never
            await gateway.Ingest(
                gpb.IngestRequest(events=[again]), metadata=mailing.auth, timeout=10
            )

        async def both_handled() -> bool:
            reply = await ops.GetJourneyStats(
                opb.GetJourneyStatsRequest(journey_id="welcome"), timeout=5
            )
            counts = {(c.step_id, c.metric): c.count for c in reply.counts}
            assert counts.get(("mail", "sent")) == 1, counts
            return True

        await eventually(both_handled, timeout=30)
        assert sorted(stack.mail_dir.glob("*.eml")) == [mail]
        message = message_from_bytes(mail.read_bytes())
        assert (message["To"], message["Subject"]) == ("ann@example.com", "Ann, welcome")
        assert "thanks for signing up" in message.get_payload()
    finally:
        for channel in channels:
            await channel.close()

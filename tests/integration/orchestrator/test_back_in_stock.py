"""Back in stock in a running orchestrator: real NATS, its facts consumer, outbox relay and
back-in-stock consumer; identity and decision are their contract fakes."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

from nats.js import JetStreamContext

from layercake.orchestrator.v1 import facts_pb2
from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as pb_grpc
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.protobuf import to_timestamp
from services.kernel.store.records import OutboxMessage
from services.orchestrator.bootstrap import build
from services.orchestrator.consumers.facts import FACTS_PUBLISHED
from services.orchestrator.domain.instances.profiles import ProfileView
from tests.conftest import random_id
from tests.integration.harness import publish, running
from tests.integration.orchestrator.journey_support import ingested, publish_journey, stats_of
from tests.orchestrator_fakes import FakeDecider, FakeDirectory
from tests.polling import eventually
from tests.signing import signed_channel

PROMO = (Path(__file__).parents[2] / "unit/orchestrator/journeys/drinks-promo.yaml").read_text()


def diet_soda_at_s12(tenant: str, units: int) -> OutboxMessage:
    level = facts_pb2.StockLevel(
        product="diet_soda", store="s-12", units=units, observe_time=to_timestamp(datetime.now(UTC))
    )
    body = facts_pb2.FactsPublished(stock_levels=[level])
    return OutboxMessage(
        subject=f"layercake.{tenant}.facts.stock",
        type=FACTS_PUBLISHED,
        payload=body.SerializeToString(),
        tenant_id=tenant,
    )


async def test_the_person_suppressed_for_stock_comes_back_once_when_it_returns(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    tenant = random_id("t")
    directory, decider = FakeDirectory(), FakeDecider()
    decider.action, decider.product = "diet_soda", "diet_soda"
    consent = {"email_marketing": True}
    view = ProfileView(tenant, "p-ann", {"store_id": "s-12", "email": "ann@example.com"}, consent)
    directory.add(view, "email:ann@example.com")
    app = functools.partial(build, directory=directory, decider=decider)
    async with running("orchestrator", app, nats_server.url, tmp_path) as runtime:
        publish_journey(runtime, tenant, PROMO)
        await publish(js, diet_soda_at_s12(tenant, 0))
        assert runtime.server is not None
        async with signed_channel(f"127.0.0.1:{runtime.server.port}") as channel:
            stub = pb_grpc.OrchestratorServiceStub(channel)

            async def counts_when(check: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
                counts = await stats_of(stub, tenant, "drinks-promo")
                assert {k: counts.get(k, 0) for k in check} == check, counts
                return counts

            async def no_soda_at_first() -> bool:
                assert runtime.context is not None
                with runtime.context.uow() as uow:
                    return uow.facts.stock(tenant, "diet_soda", "s-12") is not None

            await eventually(no_soda_at_first, timeout=30)
            await publish(js, ingested(tenant, "checkout_viewed", "ann@example.com"))
            first = {("promote", "suppressed:out_of_stock"): 1, ("other", "sent"): 1}
            await eventually(functools.partial(counts_when, first), timeout=30)
            await publish(js, diet_soda_at_s12(tenant, 6))
            back = {("", "entered:back_in_stock"): 1, ("promote", "sent"): 1}
            counts = await eventually(functools.partial(counts_when, back), timeout=30)
    assert counts[("", "entered")] == 2 and counts[("", "exited:completed")] == 2
    assert decider.calls == 2

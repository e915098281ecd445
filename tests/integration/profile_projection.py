"""What every service promises about its projection of identity's ProfileUpdated and ProfilesMerged.

A service's test class subclasses `ProfileProjectionContract` and supplies its
consumer, query and RPC; every test here then runs against that service, on
SQLite and PostgreSQL (the `service_db` fixture of the service's conftest).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import grpc
import pytest
from nats.js import JetStreamContext
from sqlalchemy import MetaData, select

from layercake.events.v1 import identity_events_pb2
from services.kernel.clock import FixedClock
from services.kernel.config import ServiceSettings
from services.kernel.errors import NotFound
from services.kernel.messaging import subjects
from services.kernel.messaging.consumer import ConsumerRunner, ConsumerSpec, Outcome
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.rpc.server import Servicer
from services.kernel.runtime import App
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.schema import inbox
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.harness import (
    consume,
    isolated,
    publish,
    running,
    schema_drift,
    serving,
    violations,
)
from tests.polling import eventually
from tests.profile_events import as_outbox, profile_forgotten, profile_updated, profiles_merged
from tests.signing import signed_channel

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


class ProfileProjectionContract(ABC):
    service: ClassVar[str]
    durable: ClassVar[str]
    metadata: ClassVar[MetaData]
    unit_of_work: ClassVar[type[UnitOfWork]] = UnitOfWork  # the service's adapter of its port

    @abstractmethod
    def consumer(self) -> ConsumerSpec: ...

    @abstractmethod
    def build(self, settings: ServiceSettings) -> App: ...

    @abstractmethod
    def servicer(self, layer: ServiceLayer) -> Servicer: ...

    @abstractmethod
    def stored_version(self, uow: UnitOfWork, tenant_id: str, profile_id: str) -> int:
        """The profile version the service holds, through its query handler (NotFound if none)."""

    @abstractmethod
    def stored_fields(self, uow: UnitOfWork, tenant_id: str, profile_id: str) -> dict[str, int]:
        """The field versions of the service's copy, through its query handler."""

    @abstractmethod
    async def rpc_version(self, channel: grpc.aio.Channel, tenant_id: str, profile_id: str) -> int:
        """The profile version the service's RPC answers with."""

    @pytest.fixture
    def uow(self, service_db: Database) -> UnitOfWorkFactory:
        return UnitOfWorkFactory(service_db.sessions, FixedClock(NOW), kind=self.unit_of_work)

    @pytest.fixture
    def layer(self, service_db: Database, uow: UnitOfWorkFactory) -> ServiceLayer:
        return ServiceLayer(service_db, uow)

    def runner(
        self, js: JetStreamContext, db: Database, uow: UnitOfWorkFactory, tenant: str
    ) -> ConsumerRunner:
        return ConsumerRunner(
            isolated(self.consumer(), tenant), js, db, uow, max_deliver=1, retry_delay=0.05
        )

    async def deliver(
        self,
        js: JetStreamContext,
        db: Database,
        uow: UnitOfWorkFactory,
        *messages: identity_events_pb2.ProfileUpdated,
    ) -> None:
        """Publishes `messages` (one tenant's) in order and consumes them; all must apply."""
        for message in messages:
            await publish(js, as_outbox(message))
        tenant = messages[0].tenant_id
        results = await consume(self.runner(js, db, uow, tenant), len(messages))
        assert {r.outcome for r in results} == {Outcome.APPLIED}

    async def project(
        self,
        js: JetStreamContext,
        db: Database,
        uow: UnitOfWorkFactory,
        tenant: str,
        *versions: int,
    ) -> str:
        """Delivers ProfileUpdated of one new profile at `versions`, in order; returns its id."""
        profile_id = random_id("p-")
        await self.deliver(js, db, uow, *(profile_updated(tenant, profile_id, v) for v in versions))
        return profile_id

    async def version(self, layer: ServiceLayer, tenant: str, profile_id: str) -> int:
        return await layer.run(self.stored_version, tenant, profile_id)

    def test_follows_all_of_identity_with_one_consumer_under_its_durable_name(self) -> None:
        spec = self.consumer()
        assert (spec.durable, spec.stream) == (self.durable, "IDENTITY")
        assert spec.filter_subject == subjects.integration("*", "identity", ">")

    def test_migrations_create_the_tables_the_store_uses(self, service_db: Database) -> None:
        assert schema_drift(service_db, self.metadata) == []

    async def test_newest_version_wins_whatever_the_delivery_order(
        self,
        js: JetStreamContext,
        service_db: Database,
        uow: UnitOfWorkFactory,
        layer: ServiceLayer,
    ) -> None:
        tenant = random_id("t")
        profile_id = await self.project(js, service_db, uow, tenant, 2, 5, 3, 5, 1)
        assert await self.version(layer, tenant, profile_id) == 5

    async def test_a_redelivered_event_is_applied_once(
        self, js: JetStreamContext, service_db: Database, uow: UnitOfWorkFactory
    ) -> None:
        tenant = random_id("t")
        message = as_outbox(profile_updated(tenant, random_id("p-"), 1))
        await publish(js, message)
        await publish(js, message)  # same ce-id, as a redelivery after a crash
        results = await consume(self.runner(js, service_db, uow, tenant), 2)
        assert [r.outcome for r in results] == [Outcome.APPLIED, Outcome.DUPLICATE]

    async def test_a_merge_leaves_one_copy_with_both_profiles_fields(
        self,
        js: JetStreamContext,
        service_db: Database,
        uow: UnitOfWorkFactory,
        layer: ServiceLayer,
    ) -> None:
        tenant, survivor, gone = random_id("t"), random_id("p-"), random_id("p-")
        runner = self.runner(js, service_db, uow, tenant)
        changes = [
            profile_updated(tenant, survivor, 2, consent={"email_marketing": True}),
            profile_updated(
                tenant, gone, 6, traits={"timezone": "Europe/Paris"}, consent={"analytics": True}
            ),
        ]
        for message in [*map(as_outbox, changes), profiles_merged(tenant, survivor, [gone], 3)]:
            await publish(js, message)
        assert {r.outcome for r in await consume(runner, 3)} == {Outcome.APPLIED}
        fields = await layer.run(self.stored_fields, tenant, survivor)
        assert fields == {"consent:email_marketing": 2, "consent:analytics": 2, "trait:timezone": 2}
        with pytest.raises(NotFound):
            await self.version(layer, tenant, gone)
        # identity's update at the merge's version, then a redelivered merge (a new event id)
        await publish(
            js, as_outbox(profile_updated(tenant, survivor, 3, consent={"analytics": False}))
        )
        await publish(js, profiles_merged(tenant, survivor, [gone], 3))
        assert [r.outcome for r in await consume(runner, 2)] == [Outcome.APPLIED] * 2
        assert await layer.run(self.stored_fields, tenant, survivor) == fields | {
            "consent:analytics": 3
        }
        assert await self.version(layer, tenant, survivor) == 3
        with pytest.raises(NotFound):
            await self.version(layer, tenant, gone)

    async def test_a_forget_deletes_the_copies_of_the_profile_and_its_aliases(
        self,
        js: JetStreamContext,
        service_db: Database,
        uow: UnitOfWorkFactory,
        layer: ServiceLayer,
    ) -> None:
        tenant = random_id("t")
        forgotten, alias, kept = random_id("p-"), random_id("p-"), random_id("p-")
        runner = self.runner(js, service_db, uow, tenant)
        for profile_id in (forgotten, alias, kept):
            await publish(js, as_outbox(profile_updated(tenant, profile_id, 2)))
        await publish(js, profile_forgotten(tenant, forgotten, [alias]))
        await publish(js, profile_forgotten(tenant, forgotten, [alias]))  # redelivered
        assert {r.outcome for r in await consume(runner, 5)} == {Outcome.APPLIED}
        for gone in (forgotten, alias):
            with pytest.raises(NotFound):
                await self.version(layer, tenant, gone)
        assert await self.version(layer, tenant, kept) == 2

    async def test_other_event_types_are_claimed_and_ignored(
        self,
        js: JetStreamContext,
        service_db: Database,
        uow: UnitOfWorkFactory,
        layer: ServiceLayer,
    ) -> None:
        tenant, profile_id = random_id("t"), random_id("p-")
        message = as_outbox(
            profile_updated(tenant, profile_id, 1),
            type="layercake.events.v1.SomethingNew",
            payload=b"\xff not a ProfileUpdated",
        )
        await publish(js, message)
        results = await consume(self.runner(js, service_db, uow, tenant), 1)
        assert [r.outcome for r in results] == [Outcome.APPLIED]
        with pytest.raises(NotFound):
            await self.version(layer, tenant, profile_id)
        with service_db.transaction() as s:
            claimed = s.execute(
                select(inbox.c.event_id).where(inbox.c.event_id == message.event_id)
            )
            assert claimed.all()

    @pytest.mark.parametrize(("profile_id", "version"), [("", 3), ("p-1", 0)])
    async def test_an_update_without_profile_id_or_version_is_dead_lettered_at_once(
        self,
        js: JetStreamContext,
        service_db: Database,
        uow: UnitOfWorkFactory,
        profile_id: str,
        version: int,
    ) -> None:
        tenant = random_id("t")
        runner = self.runner(js, service_db, uow, tenant)
        await publish(js, as_outbox(profile_updated(tenant, profile_id, version)))
        results = await consume(runner, 1)
        assert [r.outcome for r in results] == [Outcome.POISON]
        dead = await js.get_last_msg(
            "DEADLETTER", subjects.dead_letter(tenant, runner.spec.durable)
        )
        assert dead.headers is not None and "ProfileUpdated" in dead.headers["lc-error"]

    async def test_rpc_refuses_a_bad_request_naming_each_field(self, layer: ServiceLayer) -> None:
        async with serving(self.servicer(layer)) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as empty:
                await self.rpc_version(channel, "", "")
            with pytest.raises(grpc.aio.AioRpcError) as bad_tenant:
                await self.rpc_version(channel, "Not A Tenant", "p-1")
        assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert sorted(violations(empty.value)) == ["profile_id", "tenant_id"]
        assert bad_tenant.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations(bad_tenant.value) == ["tenant_id"]

    async def test_rpc_answers_not_found_for_an_unknown_profile(self, layer: ServiceLayer) -> None:
        async with serving(self.servicer(layer)) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as unknown:
                await self.rpc_version(channel, random_id("t"), random_id("p-"))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

    async def test_rpc_shows_a_tenant_only_its_own_profiles(
        self,
        js: JetStreamContext,
        service_db: Database,
        uow: UnitOfWorkFactory,
        layer: ServiceLayer,
    ) -> None:
        mine, theirs = random_id("t"), random_id("t")
        profile_id = await self.project(js, service_db, uow, mine, 4)
        async with serving(self.servicer(layer)) as channel:
            assert await self.rpc_version(channel, mine, profile_id) == 4
            with pytest.raises(grpc.aio.AioRpcError) as other:
                await self.rpc_version(channel, theirs, profile_id)
        assert other.value.code() == grpc.StatusCode.NOT_FOUND

    async def test_service_built_by_bootstrap_projects_and_serves(
        self, js: JetStreamContext, nats_server: NatsServer, tmp_path: Path
    ) -> None:
        tenant, profile_id = random_id("t"), random_id("p-")
        async with running(self.service, self.build, nats_server.url, tmp_path) as runtime:
            assert runtime.server is not None
            await publish(js, as_outbox(profile_updated(tenant, profile_id, 7)))
            async with signed_channel(f"127.0.0.1:{runtime.server.port}") as channel:

                async def projected() -> bool:
                    return await self.rpc_version(channel, tenant, profile_id) == 7

                await eventually(projected, timeout=15)

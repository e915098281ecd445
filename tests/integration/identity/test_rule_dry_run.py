"""DryRunIdentifierRules: a draft of the identifier rules previewed over the tenant's
messages in INGEST reports exactly the merges that publishing it then makes."""

from __future__ import annotations

from collections import defaultdict

import grpc
import pytest
from nats.js import JetStreamContext
from sqlalchemy import select

from layercake.identity.v1 import identifier_rules_pb2 as rules_pb
from layercake.identity.v1 import identity_service_pb2 as pb
from layercake.identity.v1 import identity_service_pb2_grpc as pb_grpc
from services.identity import handlers, mapping
from services.identity.api.servicer import identity_servicer
from services.identity.domain.identifiers import Identifier
from services.identity.domain.rule_preview import Group, compare
from services.identity.store.tables import profile_identifiers
from services.kernel.assets import Action, AssetMetadata
from services.kernel.principals import Role
from services.kernel.rpc.server import create_server
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.contracts.asset_harness import person
from tests.integration.harness import consume
from tests.integration.identity.test_forget import consumer
from tests.integration.identity.test_ingest_to_profile import send
from tests.signing import INTERNAL, signed_channel

DRAFT = rules_pb.IdentifierRules(blocklist=["kiosk"], identifier_traits={"crm": "crm_id"})
EVENTS = [  # one kiosk device shared by two people; one CRM id that only the draft reads
    {"message_id": "m-1", "identifiers": {"cookie_id": "c1", "device_id": "kiosk"}},
    {"message_id": "m-2", "identifiers": {"cookie_id": "c2", "device_id": "kiosk"}},
    {"message_id": "m-3", "identifiers": {"cookie_id": "c3"}, "traits": {"crm": "x1"}},
    {"message_id": "m-4", "identifiers": {"cookie_id": "c4"}, "traits": {"crm": "x1"}},
    {"message_id": "m-5", "identifiers": {"cookie_id": "c5"}},
]


def draft(uow: UnitOfWorkFactory, tenant: str, publish: bool) -> None:
    ann, bob, ops = (
        person(name, role, Role.APPROVER, tenant=tenant)
        for name, role in (("ann", Role.EDITOR), ("bob", Role.EDITOR), ("ops", Role.OPERATOR))
    )
    with uow() as u:
        handlers.edit_identifier_rules(u, ann, DRAFT, AssetMetadata(owner="data", team="d"))
        if publish:
            handlers.transition_identifier_rules(u, ann, Action.SUBMIT)
            handlers.transition_identifier_rules(u, bob, Action.APPROVE)
            handlers.transition_identifier_rules(u, ops, Action.PUBLISH)
        u.commit()


def graph(db: Database, tenant: str) -> list[Group]:
    c = profile_identifiers.c
    held: dict[str, set[Identifier]] = defaultdict(set)
    with db.transaction() as s:
        for r in s.execute(select(profile_identifiers).where(c.tenant_id == tenant)):
            held[r.profile_id].add(Identifier(r.id_type, r.id_value, r.hashed))
    return [frozenset(ids) for ids in held.values()]


async def test_the_dry_run_reports_exactly_the_merges_the_published_draft_then_makes(
    js: JetStreamContext, identity_db: Database, identity_uow: UnitOfWorkFactory
) -> None:
    previewed, applied = random_id("t"), random_id("t")
    for tenant, publish in ((previewed, False), (applied, True)):
        draft(identity_uow, tenant, publish)
        for event in EVENTS:
            await send(js, tenant, {"type": "identify"} | event)
        runner = consumer(js, identity_db, identity_uow, tenant)
        assert len(await consume(runner, len(EVENTS))) == len(EVENTS)

    layer = ServiceLayer(identity_db, identity_uow)
    server = create_server("127.0.0.1:0", [identity_servicer(layer, None, js)], internal=INTERNAL)
    await server.server.start()
    try:
        viewer = frozenset({Role.VIEWER})
        async with signed_channel(f"127.0.0.1:{server.port}", roles=viewer) as channel:
            stub = pb_grpc.IdentityServiceStub(channel)
            ask = pb.DryRunIdentifierRulesRequest(tenant_id=previewed, version=1)
            preview = await stub.DryRunIdentifierRules(ask, timeout=10)
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await stub.DryRunIdentifierRules(
                    pb.DryRunIdentifierRulesRequest(tenant_id=previewed, version=2), timeout=10
                )
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await server.server.stop(None)

    made = compare(graph(identity_db, previewed), graph(identity_db, applied), len(EVENTS))
    assert preview == mapping.rule_preview_proto(made)
    assert [[i.value for i in g.identifiers] for g in preview.appearing_merges] == [
        ["c3", "c4", "x1"]
    ]
    assert [[i.value for i in g.identifiers] for g in preview.disappearing_merges] == [
        ["c1", "c2", "kiosk"]
    ]
    assert (preview.message_count, preview.changed_profile_count) == (5, 3)

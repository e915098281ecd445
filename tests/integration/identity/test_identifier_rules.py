"""Identifier rules as a controlled asset: the lifecycle contract, checked drafts, and the
published version driving resolution, cached and dropped by the publish event."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf.message import Message
from sqlalchemy import select

from layercake.identity.v1 import identifier_rules_pb2 as pb
from services.identity import handlers
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.rule_content import IDENTIFIER_RULES
from services.identity.domain.rules import DEFAULT_RULES
from services.identity.store.rules_cache import RulesCache
from services.kernel.assets import Action, AssetMetadata
from services.kernel.errors import InvalidArgument, NotFound
from services.kernel.messaging.envelope import Envelope
from services.kernel.store.database import Database
from services.kernel.store.schema import outbox
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.contracts.asset_harness import ANN, BOB, OPS, open_assets, person
from tests.contracts.asset_lifecycle import AssetLifecycleContract

METADATA = AssetMetadata(owner="data-team", team="data")


def rules(n: int) -> pb.IdentifierRules:
    return pb.IdentifierRules(
        types=[
            pb.IdentifierTypeRule(type="user_id", priority=100, limit="1"),
            pb.IdentifierTypeRule(type="device_id", priority=50, limit=f"{n} per week"),
            pb.IdentifierTypeRule(type="partner:*", priority=40, limit="2"),
        ],
        blocklist=["guest"],
        identifier_traits={"email": "email"},
        max_identifiers=100 + n,
        default_region="GB",
    )


class TestIdentifierRulesLifecycle(AssetLifecycleContract):
    kind = IDENTIFIER_RULES

    def content(self, n: int) -> Message:
        return rules(n)

    def metadata(self) -> AssetMetadata:
        return METADATA


def test_a_bad_draft_is_refused_naming_each_field(tmp_path: Path) -> None:
    bad = rules(1)
    bad.types.add(type="shoe_size", priority=1, limit="2")
    bad.types.add(type="user_id", priority=-1, limit="5 per fortnight")
    bad.identifier_traits["nick"] = "nickname"
    with (
        open_assets(
            "memory",
            tmp_path,
            kind=IDENTIFIER_RULES,
            content=lambda n: bad,
            metadata=lambda: METADATA,
        ) as assets,
        pytest.raises(InvalidArgument) as e,
    ):
        assets.edit("default", 1, ANN)
    assert [v.field for v in e.value.violations] == [
        "content.types[3].type",
        "content.types[4].type",
        "content.types[4].priority",
        "content.types[4].limit",
        "content.identifier_traits[nick]",
    ]


async def test_the_published_rules_drive_resolution_once_the_publish_event_arrives(
    identity_db: Database, identity_uow: UnitOfWorkFactory
) -> None:
    tenant = random_id("t")
    ann, bob, ops = (person(p.actor.id, *p.roles, tenant=tenant) for p in (ANN, BOB, OPS))
    cache = RulesCache()
    at = datetime(2026, 3, 1, tzinfo=UTC)

    def ingest(message_id: str, *ids: tuple[str, str]) -> str:
        with identity_uow() as u:
            tenant_rules = cache.get(u, tenant)
            command = ApplyIngestedEvent(tenant, message_id, at, ids)
            profile = handlers.apply_ingested_event(u, command, message_id, tenant_rules)
            u.commit()
        return profile.profile_id

    assert ingest("m0", ("device_id", "d0")) and cache.get(identity_uow(), tenant) is DEFAULT_RULES
    with identity_uow() as u:
        handlers.edit_identifier_rules(u, ann, rules(1), METADATA)
        handlers.transition_identifier_rules(u, ann, Action.SUBMIT)
        handlers.transition_identifier_rules(u, bob, Action.APPROVE)
        handlers.transition_identifier_rules(u, ops, Action.PUBLISH)
        u.commit()
    with identity_db.transaction() as s:
        row = s.execute(
            select(outbox).where(outbox.c.subject.endswith("identifier_rules_published"))
        ).one()
    # until the event arrives, the cached defaults stay (2 user ids may still merge)
    with identity_uow() as u:
        assert cache.get(u, tenant) is DEFAULT_RULES
    envelope = Envelope(row.event_id, row.type, row.source, tenant, at, row.payload, row.subject)
    await cache.on_published(envelope)
    with identity_uow() as u:
        live = cache.get(u, tenant)
    assert live.rule("user_id").limit == 1 and live.rule("partner:acme").limit == 2
    assert "guest" in live.blocklist and live.max_identifiers == 101

    first = ingest("m1", ("user_id", "u1"), ("anonymous_id", "a1"))
    second = ingest("m2", ("user_id", "u2"), ("anonymous_id", "a2"))
    assert ingest("m3", ("anonymous_id", "a1"), ("anonymous_id", "a2")) == first  # refused
    assert ingest("m4", ("anonymous_id", "a2"), ("cookie_id", "guest")) == second
    assert ingest("m5", ("user_id", "u1"), ("device_id", "d1"), ("phone", "+44 20 7946 0018"))
    assert ingest("m7", ("user_id", "u1"), ("device_id", "d1")) == first
    assert ingest("m6", ("user_id", "u1"), ("device_id", "d2")) == first  # 1 device a week
    with identity_db.transaction() as s:
        assert handlers.get_profile(s, tenant, "anonymous_id:a2").profile_id == second
        # a lookup reads the number as the tenant's region does
        assert handlers.get_profile(s, tenant, "phone:020 7946 0018").profile_id == first
        for dropped in ("cookie_id:guest", "device_id:d2"):  # blocklisted; over the limit
            with pytest.raises(NotFound):
                handlers.get_profile(s, tenant, dropped)

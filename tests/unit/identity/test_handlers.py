"""Identity's handlers on the in-memory unit of work: no database, same contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from layercake.events.v1 import identity_events_pb2
from layercake.identity.v1 import identifier_rules_pb2 as rules_pb
from services.identity import handlers
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.errors import BadIdentifier
from services.identity.domain.profile import Profile
from services.identity.domain.rules import DEFAULT_RULES
from services.identity.rules_cache import RulesCache
from services.identity.store.memory import IdentityState, InMemoryIdentityUnitOfWork, in_memory
from services.kernel.assets import Action, AssetMetadata
from services.kernel.clock import FixedClock
from services.kernel.errors import InvalidArgument, NotFound
from services.kernel.messaging.envelope import Envelope
from services.kernel.store.memory import InMemoryDatabase
from tests.contracts.asset_harness import ANN, BOB, OPS

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
Db = InMemoryDatabase[IdentityState]


def ingest(
    db: Db,
    message_id: str,
    *ids: tuple[str, str],
    hour: int = 0,
    tenant: str = "acme",
    consent: dict[str, bool] | None = None,
    cache: RulesCache | None = None,
    **traits: str,
) -> Profile:
    command = ApplyIngestedEvent(
        tenant, message_id, T0 + timedelta(hours=hour), ids, traits, consent or {}
    )
    with InMemoryIdentityUnitOfWork(db) as uow:
        rules = DEFAULT_RULES if cache is None else cache.get(uow, tenant)
        profile = handlers.apply_ingested_event(uow, command, message_id, rules)
        uow.commit()
    return profile


def lookup(db: Db, ref: str, tenant: str = "acme") -> Profile:
    with InMemoryIdentityUnitOfWork(db) as uow:
        return handlers.get_profile(uow, tenant, ref)


def published(db: Db, type_name: str) -> list[bytes]:
    return [m.payload for m in db.state.outbox if m.type == f"layercake.events.v1.{type_name}"]


@pytest.fixture
def db() -> Db:
    return in_memory(FixedClock(T0))


def test_an_event_makes_a_profile_found_by_each_identifier_and_its_id(db: Db) -> None:
    made = ingest(
        db,
        "m1",
        ("email", " Ann@Example.com"),
        ("cookie_id", "c1"),
        first_name='"Ann"',
        consent={"email_marketing": True},
    )
    by_email = lookup(db, "email:ann@example.com")
    assert lookup(db, "cookie_id:c1") == by_email == lookup(db, made.profile_id)
    assert by_email.traits["first_name"].json_value == '"Ann"'
    assert by_email.consent == {"email_marketing": True}
    assert all("ann" not in i.value for i in by_email.identifiers)  # the email is hashed
    (payload,) = published(db, "ProfileUpdated")
    update = identity_events_pb2.ProfileUpdated.FromString(payload)
    # created, consent changed, the event taken (the links and traits it set are on it)
    assert (update.profile_id, update.version, update.identifier_count) == (made.profile_id, 3, 2)
    assert len(update.linked_identifiers) == 2
    assert set(update.sealed_traits) == {"first_name"} and b"Ann" not in payload


def test_two_devices_then_one_email_merge_into_the_oldest_and_aliases_answer_it(db: Db) -> None:
    first = ingest(db, "m1", ("device_id", "d1"), plan='"free"')
    second = ingest(db, "m2", ("device_id", "d2"), hour=1, plan='"gold"')
    ingest(db, "m3", ("device_id", "d1"), ("email", "ann@example.com"), hour=2)
    survivor = ingest(db, "m4", ("device_id", "d2"), ("email", "ann@example.com"), hour=3)
    assert survivor.profile_id == first.profile_id
    assert lookup(db, second.profile_id) == lookup(db, "device_id:d2") == lookup(db, "device_id:d1")
    assert lookup(db, "device_id:d1").traits["plan"].json_value == '"gold"'  # later event wins
    (payload,) = published(db, "ProfilesMerged")
    merged = identity_events_pb2.ProfilesMerged.FromString(payload)
    assert merged.survivor_profile_id == first.profile_id
    assert list(merged.merged_profile_ids) == [second.profile_id]


def test_a_tenant_never_sees_another_tenants_profile(db: Db) -> None:
    made = ingest(db, "m1", ("email", "ann@example.com"), tenant="acme")
    ingest(db, "m1", ("cookie_id", "c1"), tenant="other")  # the other tenant gets a key
    for ref in ("email:ann@example.com", made.profile_id):
        with pytest.raises(NotFound):
            lookup(db, ref, tenant="other")


def test_a_lookup_refuses_a_bad_request_and_misses_clearly(db: Db) -> None:
    with pytest.raises(InvalidArgument) as bad:
        lookup(db, "", tenant="Not A Tenant")
    assert sorted(v.field for v in bad.value.violations) == ["profile_ref", "tenant_id"]
    with pytest.raises(InvalidArgument) as phone:
        lookup(db, "phone:not a number")
    assert [v.field for v in phone.value.violations] == ["profile_ref"]
    with pytest.raises(NotFound):
        lookup(db, "email:nobody@example.com")  # the tenant has no key yet
    ingest(db, "m1", ("cookie_id", "c1"))
    with pytest.raises(NotFound):
        lookup(db, "email:nobody@example.com")


def test_an_event_of_blocklisted_identifiers_only_is_refused_and_nothing_kept(db: Db) -> None:
    with pytest.raises(BadIdentifier):
        ingest(db, "m1", ("email", "test@test.com"), ("anonymous_id", "undefined"))
    assert db.state.outbox == [] and db.state.streams == {}


async def test_the_published_rules_drive_resolution_once_the_publish_event_arrives(
    db: Db,
) -> None:
    cache = RulesCache()
    content = rules_pb.IdentifierRules(
        types=[
            rules_pb.IdentifierTypeRule(type="user_id", priority=100, limit="1"),
            rules_pb.IdentifierTypeRule(type="device_id", priority=50, limit="1 per week"),
        ],
        blocklist=["guest"],
        max_identifiers=100,
        default_region="GB",
    )
    tenant = ANN.tenant_id
    ingest(db, "m0", ("device_id", "d0"), tenant=tenant, cache=cache)  # caches the defaults
    with InMemoryIdentityUnitOfWork(db) as uow:
        handlers.edit_identifier_rules(uow, ANN, content, AssetMetadata(owner="data", team="d"))
        handlers.transition_identifier_rules(uow, ANN, Action.SUBMIT)
        handlers.transition_identifier_rules(uow, BOB, Action.APPROVE)
        handlers.transition_identifier_rules(uow, OPS, Action.PUBLISH)
        uow.commit()
    (message,) = [m for m in db.state.outbox if m.subject.endswith("identifier_rules_published")]
    with InMemoryIdentityUnitOfWork(db) as uow:  # the cached defaults stay until the event
        assert cache.get(uow, tenant) is DEFAULT_RULES
    await cache.on_published(
        Envelope(message.event_id, message.type, "identity", tenant, T0, message.payload, "")
    )

    def under_rules(message_id: str, *ids: tuple[str, str]) -> str:
        return ingest(db, message_id, *ids, tenant=tenant, cache=cache).profile_id

    first = under_rules("m1", ("user_id", "u1"), ("anonymous_id", "a1"))
    second = under_rules("m2", ("user_id", "u2"), ("anonymous_id", "a2"))
    assert under_rules("m3", ("anonymous_id", "a1"), ("anonymous_id", "a2")) == first  # refused
    assert under_rules("m4", ("anonymous_id", "a2"), ("cookie_id", "guest")) == second
    assert under_rules("m5", ("user_id", "u1"), ("device_id", "d1"), ("phone", "+44 20 7946 0018"))
    assert under_rules("m6", ("user_id", "u1"), ("device_id", "d2")) == first  # 1 device a week
    assert lookup(db, "anonymous_id:a2", tenant).profile_id == second
    assert lookup(db, "phone:020 7946 0018", tenant).profile_id == first  # the tenant's region
    for dropped in ("cookie_id:guest", "device_id:d2"):  # blocklisted; over the limit
        with pytest.raises(NotFound):
            lookup(db, dropped, tenant)

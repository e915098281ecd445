"""The gateway's unit of work, in memory and on SQLite/PostgreSQL: the kernel's promises, and
its repositories' (principals, API keys, message ids), so handlers' unit tests on the fake
say what the database does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from services.gateway.bootstrap import MIGRATIONS, PROJECTIONS
from services.gateway.domain.tracking_plan import PlanCount, parse_plan
from services.gateway.ports import GatewayUnitOfWork
from services.gateway.store.memory import GatewayState, InMemoryGatewayUnitOfWork
from services.gateway.store.unit_of_work import SqlGatewayUnitOfWork
from services.kernel.principals import Actor, Role, Scope
from tests.conftest import ALL_BACKENDS, random_id
from tests.contracts.unit_of_work import NOW, UnitOfWorkContract, Units, units_for

OPERATOR = Actor.system("contract")
WEEK = NOW + timedelta(days=7)


def gateway(units: Units) -> GatewayUnitOfWork:
    uow = units.new()
    assert isinstance(uow, GatewayUnitOfWork)
    return uow


def principal(units: Units, tenant: str, principal_id: str, *roles: str) -> None:
    with gateway(units) as uow:
        account = uow.accounts.get(tenant, principal_id)
        account.create("system", f"{principal_id} bot", list(roles), NOW)
        uow.accounts.save(account, OPERATOR)
        uow.commit()


def key(units: Units, tenant: str, principal_id: str, key_id: str, *scopes: str) -> None:
    with gateway(units) as uow:
        account = uow.accounts.get(tenant, principal_id)
        account.issue_key(key_id, "ab" * 32, list(scopes), f"{key_id} key", NOW)
        uow.accounts.save(account, OPERATOR)
        uow.commit()


class TestGatewayUnitOfWork(UnitOfWorkContract):
    @pytest.fixture(params=ALL_BACKENDS)
    def units(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Units]:
        with units_for(
            request.param,
            tmp_path,
            MIGRATIONS,
            SqlGatewayUnitOfWork,
            InMemoryGatewayUnitOfWork,
            GatewayState,
            PROJECTIONS,
        ) as units:
            yield units

    def test_principals_are_read_in_their_tenant_by_id_and_in_pages(self, units: Units) -> None:
        tenant, other = random_id("t"), random_id("t")
        for name in ("cy", "ann", "bob"):
            principal(units, tenant, name, "viewer")
        principal(units, other, "ann", "admin")
        with gateway(units) as uow:
            ann = uow.principals.get(tenant, "ann")
            assert ann is not None and ann.display_name == "ann bot"
            assert ann.principal.roles == {Role.VIEWER} and ann.create_time == NOW
            assert uow.principals.get(tenant, "dee") is None
            assert [p.principal_id for p in uow.principals.list(tenant, "", 2)] == ["ann", "bob"]
            assert [p.principal_id for p in uow.principals.list(tenant, "bob", 2)] == ["cy"]
            assert [p.principal.tenant_id for p in uow.principals.list(other, "", 9)] == [other]

    def test_keys_carry_their_principals_current_roles(self, units: Units) -> None:
        tenant = random_id("t")
        principal(units, tenant, "ci", "editor", "approver")
        key(units, tenant, "ci", "k1aaaaaa", "ingest")
        with gateway(units) as uow:
            account = uow.accounts.get(tenant, "ci")
            account.revoke_role("approver", NOW)
            uow.accounts.save(account, OPERATOR)
            uow.commit()
        with gateway(units) as uow:
            record = uow.api_keys.find(["k1aaaaaa", "missing0"])["k1aaaaaa"]
            assert record.scopes == {Scope.INGEST} and record.secret_sha256 == "ab" * 32
            assert record.principal.roles == {Role.EDITOR} and record.tenant_id == tenant
            assert not record.revoked

    def test_a_revoked_key_is_found_but_not_active(self, units: Units) -> None:
        tenant = random_id("t")
        principal(units, tenant, "ci", "editor")
        key(units, tenant, "ci", "k2aaaaaa")
        key(units, tenant, "ci", "k3aaaaaa")
        with gateway(units) as uow:
            account = uow.accounts.get(tenant, "ci")
            account.revoke_key("k2aaaaaa", "leaked", NOW)
            uow.accounts.save(account, OPERATOR)
            uow.commit()
        with gateway(units) as uow:
            assert uow.api_keys.find(["k2aaaaaa"])["k2aaaaaa"].revoked
            active = {r.key_id for r in uow.api_keys.active() if r.tenant_id == tenant}
            assert active == {"k3aaaaaa"}
            gone = uow.api_keys.get(tenant, "k2aaaaaa")
            assert gone is not None and gone.revoke_time == NOW and not gone.effective_scopes

    def test_keys_are_listed_and_got_only_in_their_tenant(self, units: Units) -> None:
        tenant, other = random_id("t"), random_id("t")
        principal(units, tenant, "ann", "admin")
        principal(units, tenant, "bob", "viewer")
        principal(units, other, "ann", "admin")
        key(units, tenant, "ann", "k5aaaaaa")
        key(units, tenant, "bob", "k4aaaaaa")
        key(units, tenant, "ann", "k6aaaaaa")
        key(units, other, "ann", "k7aaaaaa")
        with gateway(units) as uow:
            assert uow.api_keys.get(other, "k5aaaaaa") is None
            found = uow.api_keys.get(tenant, "k5aaaaaa")
            assert found is not None and found.display_name == "k5aaaaaa key"
            listed = uow.api_keys.list(tenant, "", "", 9)
            assert [k.key_id for k in listed] == ["k4aaaaaa", "k5aaaaaa", "k6aaaaaa"]
            assert [k.key_id for k in uow.api_keys.list(tenant, "", "k4aaaaaa", 1)] == ["k5aaaaaa"]
            anns = uow.api_keys.list(tenant, "ann", "", 9)
            assert [k.key_id for k in anns] == ["k5aaaaaa", "k6aaaaaa"]

    def test_message_ids_are_seen_within_their_window_per_tenant(self, units: Units) -> None:
        with gateway(units) as uow:
            assert uow.message_ids.remember("acme", {"m-1": 7, "m-2": 8}, NOW, WEEK) == {}
            before = NOW - timedelta(days=7)
            uow.message_ids.remember("acme", {"m-old": 3}, before, NOW - timedelta(seconds=1))
            uow.message_ids.remember("globex", {"m-3": 9}, NOW, WEEK)
            uow.commit()
        with gateway(units) as uow:
            asked = ["m-1", "m-2", "m-3", "m-old", "m-new"]
            assert uow.message_ids.seen("acme", asked, NOW) == {"m-1": 7, "m-2": 8}
            assert uow.message_ids.seen("acme", ["m-1"], WEEK) == {}  # the window ended
            assert uow.message_ids.seen("acme", [], NOW) == {}
            # an expired id accepted again starts a new window
            assert uow.message_ids.remember("acme", {"m-old": 11}, NOW, WEEK) == {}
            assert uow.message_ids.seen("acme", ["m-old"], NOW) == {"m-old": 11}
            # one held within its window stays as it was, and is named with its position
            held = uow.message_ids.remember("acme", {"m-1": 12, "m-4": 12}, NOW, WEEK)
            assert held == {"m-1": 7}
            assert uow.message_ids.seen("acme", ["m-1", "m-4"], NOW) == {"m-1": 7, "m-4": 12}

    def test_a_keys_rate_bucket_is_kept_between_units_and_starts_full(self, units: Units) -> None:
        with gateway(units) as uow:
            fresh = uow.rate_buckets.get("k1", 2.0, 50.0, 1000.0)
            assert (fresh.tokens, fresh.updated) == (50.0, 1000.0)
            fresh.tokens = 7.5
            uow.rate_buckets.save("k1", fresh)
            uow.commit()
        with gateway(units) as uow:
            kept = uow.rate_buckets.get("k1", 2.0, 50.0, 2000.0)
            assert (kept.tokens, kept.updated) == (7.5, 1000.0)
            kept.take(1.0, 1001.0)  # refilled 2 tokens, took 1
            uow.rate_buckets.save("k1", kept)
            uow.commit()
        with gateway(units) as uow:
            assert uow.rate_buckets.get("k1", 2.0, 50.0, 2000.0).tokens == 8.5
            assert uow.rate_buckets.get("k2", 2.0, 50.0, 2000.0).tokens == 50.0

    def test_message_ids_are_pruned_in_bounded_batches(self, units: Units) -> None:
        with gateway(units) as uow:
            before = NOW - timedelta(days=7)
            uow.message_ids.remember("acme", {f"old-{i}": i for i in range(5)}, before, NOW)
            uow.message_ids.remember("acme", {"m-1": 1}, NOW, WEEK)
            uow.commit()
        with gateway(units) as uow:
            assert uow.message_ids.prune(NOW, limit=3) == 3
            uow.commit()
        with gateway(units) as uow:
            assert uow.message_ids.prune(NOW, limit=3) == 2
            assert uow.message_ids.prune(NOW, limit=3) == 0
            assert uow.message_ids.seen("acme", ["m-1"], NOW) == {"m-1": 1}

    def test_plan_counts_add_up_per_tenant_and_event_type(self, units: Units) -> None:
        for _ in range(2):
            with gateway(units) as uow:
                counts = {"Order Completed": PlanCount(2, 0), "identify": PlanCount(0, 1)}
                uow.plan_counts.add("acme", counts, NOW)
                uow.commit()
        with gateway(units) as uow:
            uow.plan_counts.add("globex", {"Order Completed": PlanCount(1, 1)}, WEEK)
            uow.commit()
        with gateway(units) as uow:
            assert uow.plan_counts.counts("acme") == {
                "Order Completed": PlanCount(4, 0, NOW),
                "identify": PlanCount(0, 2, NOW),
            }
            assert uow.plan_counts.counts("globex") == {"Order Completed": PlanCount(1, 1, WEEK)}
            assert uow.plan_counts.counts("initech") == {}

    def test_a_tracking_plan_is_rebuilt_from_its_stream(self, units: Units) -> None:
        tenant = random_id("t")
        document = {"unplanned": "block", "events": {"E": {"mode": "flag", "schema": {}}}}
        with gateway(units) as uow:
            plan = uow.tracking_plans.get(tenant)
            assert plan.content is None and plan.version == 0
            plan.apply_plan(parse_plan(document), NOW)
            uow.tracking_plans.save(plan, OPERATOR)
            uow.commit()
        with gateway(units) as uow:
            held = uow.tracking_plans.get(tenant)
            assert (held.version, held.content, held.apply_time) == (1, parse_plan(document), NOW)
        assert len(units.outbox()) == 1  # every replica hears of it

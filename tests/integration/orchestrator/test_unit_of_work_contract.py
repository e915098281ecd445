"""The orchestrator's unit of work, in memory and on SQLite/PostgreSQL: the kernel's
promises, and its repositories' (contact states, instance rows, step counts, timers)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.kernel.profile_copies import ProfileCopies
from services.kernel.timers.schema import timers
from services.kernel.unit_of_work import AbstractUnitOfWork
from services.orchestrator.bootstrap import MIGRATIONS
from services.orchestrator.domain.audience_members import Membership
from services.orchestrator.domain.contact_state import ContactState
from services.orchestrator.domain.facts import StockFact, StockWaiter
from services.orchestrator.domain.frequency_caps import LedgerEntry, SendState
from services.orchestrator.ports import OrchestratorUnitOfWork
from services.orchestrator.repositories import InstanceRecord, StepCount
from services.orchestrator.store.memory import InMemoryOrchestratorUnitOfWork, OrchestratorState
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork
from tests.conftest import ALL_BACKENDS
from tests.contracts.unit_of_work import ProfileCopiesContract, Units, units_for

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)


class TestOrchestratorUnitOfWork(ProfileCopiesContract):
    @pytest.fixture(params=ALL_BACKENDS)
    def units(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Units]:
        with units_for(
            request.param,
            tmp_path,
            MIGRATIONS,
            SqlOrchestratorUnitOfWork,
            InMemoryOrchestratorUnitOfWork,
            OrchestratorState,
        ) as units:
            yield units

    def copy(self, version: int, tenant_id: str = "acme", profile_id: str = "p-1") -> ContactState:
        consent = {"email_marketing": True}
        return ContactState(tenant_id, profile_id, version, consent, "UTC", AT, {"consent.x": 2})

    def copies(self, uow: AbstractUnitOfWork) -> ProfileCopies[ContactState]:
        assert isinstance(uow, OrchestratorUnitOfWork)
        return uow.contact_states

    def entry(
        self, send_id: str, state: SendState, at: datetime, profile: str = "p-1"
    ) -> LedgerEntry:
        hold = at + timedelta(seconds=30) if state is SendState.HELD else None
        return LedgerEntry(
            "acme",
            profile,
            send_id,
            "email",
            "cart",
            "remind",
            state,
            at,
            0.5,
            priority=3,
            hold_until=hold,
        )

    def test_the_send_ledger_keeps_each_sends_latest_state(self, units: Units) -> None:
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            uow.send_ledger.record(self.entry("s-1", SendState.HELD, AT))
            uow.send_ledger.record(self.entry("s-1", SendState.SENT, AT + timedelta(seconds=30)))
            uow.commit()
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            assert uow.send_ledger.get("acme", "s-1") == self.entry(
                "s-1", SendState.SENT, AT + timedelta(seconds=30)
            )
            assert uow.send_ledger.get("other", "s-1") is None

    def test_audience_members_are_kept_per_profile_and_forgotten(self, units: Units) -> None:
        vip, old = (
            Membership("acme", "vip", "p-1", True, 3),
            Membership("acme", "old", "p-1", False, 2),
        )
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            uow.audience_members.put(replace(vip, member=False, version=1))
            uow.audience_members.put(vip)  # replaces the row
            uow.audience_members.put(old)
            uow.audience_members.put(replace(vip, tenant_id="other"))
            uow.commit()
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            assert uow.audience_members.of_profile("acme", "p-1") == {"vip": vip, "old": old}
            assert uow.audience_members.forget("acme", "p-1") == 2
            assert uow.audience_members.of_profile("acme", "p-1") == {}
            assert uow.audience_members.of_profile("other", "p-1") != {}

    def test_trait_names_are_learnt_once_per_tenant(self, units: Units) -> None:
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            uow.trait_names.learn("acme", ["first_name", "tier", "first_name"])
            uow.trait_names.learn("acme", ["tier", "store_id"])  # known ones are kept once
            uow.trait_names.learn("other", ["shoe_size"])
            uow.commit()
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            assert uow.trait_names.of_tenant("acme") == {"first_name", "tier", "store_id"}
            assert uow.trait_names.of_tenant("other") == {"shoe_size"}
            assert uow.trait_names.of_tenant("nobody") == frozenset()

    def test_caps_read_the_profiles_recent_sends_and_every_hold(self, units: Units) -> None:
        old = AT - timedelta(days=3)
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            for entry in (
                self.entry("recent", SendState.SENT, AT),
                self.entry("old", SendState.SENT, old),
                self.entry("old-hold", SendState.HELD, old),
                self.entry("elsewhere", SendState.SENT, AT, profile="p-2"),
            ):
                uow.send_ledger.record(entry)
            uow.commit()
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            found = uow.send_ledger.capping("acme", "p-1", AT - timedelta(days=1))
            assert sorted(e.send_id for e in found) == ["old-hold", "recent"]

    def test_stock_levels_and_their_waiters(self, units: Units) -> None:
        waiter = StockWaiter("acme", "water", "s-12", "p-1", "send:i-1:remind", "cart", "r", AT)
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            uow.facts.put_stock(StockFact("acme", "water", "s-12", 0, AT))
            uow.facts.put_stock(StockFact("acme", "water", "s-12", 4, AT, version=2))
            uow.facts.add_waiter(waiter)
            uow.facts.add_waiter(waiter)  # a repeat is one waiter
            uow.facts.add_waiter(replace(waiter, store="s-13", send_id="send:i-2:remind"))
            uow.commit()
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            assert uow.facts.stock("acme", "water", "s-12") == StockFact(
                "acme", "water", "s-12", 4, AT, 2
            )
            assert uow.facts.stock("other", "water", "s-12") is None
            assert uow.facts.pop_waiters("acme", "water", "s-12") == [waiter]
            assert uow.facts.pop_waiters("acme", "water", "s-12") == []
            uow.commit()
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            assert len(uow.facts.pop_waiters("acme", "water", "s-13")) == 1

    def test_a_merged_away_profiles_sends_count_for_the_survivor(self, units: Units) -> None:
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            uow.send_ledger.record(self.entry("s-1", SendState.SENT, AT, profile="p-gone"))
            uow.send_ledger.record(self.entry("s-2", SendState.SENT, AT, profile="p-1"))
            assert uow.send_ledger.move_profile("acme", "p-gone", "p-1") == 1
            uow.commit()
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            found = uow.send_ledger.capping("acme", "p-1", AT - timedelta(days=1))
            assert sorted(e.send_id for e in found) == ["s-1", "s-2"]
            assert uow.send_ledger.capping("acme", "p-gone", AT - timedelta(days=1)) == []

    def test_a_forgotten_persons_sends_and_waits_are_erased(self, units: Units) -> None:
        waiter = StockWaiter("acme", "water", "s-12", "p-1", "send:i-1:remind", "cart", "r", AT)
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            uow.send_ledger.record(self.entry("s-1", SendState.SENT, AT, profile="p-1"))
            uow.send_ledger.record(self.entry("s-2", SendState.SENT, AT, profile="p-2"))
            uow.facts.add_waiter(waiter)
            uow.facts.add_waiter(replace(waiter, profile_id="p-2", send_id="send:i-2:remind"))
            assert uow.send_ledger.forget("acme", "p-1") == 1
            assert uow.facts.forget_waiter("acme", "p-1") == 1
            uow.commit()
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            assert uow.send_ledger.get("acme", "s-1") is None
            assert uow.send_ledger.get("acme", "s-2") is not None
            assert [w.profile_id for w in uow.facts.pop_waiters("acme", "water", "s-12")] == ["p-2"]

    # -- the journey engine's repositories ----------------------------------------------

    def record(
        self, profile_id: str, journey_id: str = "cart", **changes: object
    ) -> InstanceRecord:
        values: dict[str, object] = {
            "tenant_id": "acme",
            "journey_id": journey_id,
            "profile_id": profile_id,
            "journey_version": 1,
            "run": 1,
            "active": True,
            "step_id": "wait",
            "wait_reason": "wait",
            "wait_event": "",
            "due_time": AT,
            "enter_time": AT,
            "exit_reason": "",
            "stream_version": 2,
        }
        return InstanceRecord(**(values | changes))  # type: ignore[arg-type]

    def test_instance_rows_are_replaced_and_found_by_profile(self, units: Units) -> None:
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            uow.instance_records.put(self.record("p-1"))
            uow.instance_records.put(self.record("p-1", "welcome"))
            uow.instance_records.put(self.record("p-2"))
            done = self.record("p-1", active=False, wait_reason="", due_time=None, run=1)
            uow.instance_records.put(done)
            uow.commit()
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            found = uow.instance_records.of_profile("acme", "p-1")
            assert found == [done, self.record("p-1", "welcome")]
            assert uow.instance_records.of_profile("other", "p-1") == []
            waiting = uow.instance_records.waiting("acme", "cart")
            assert waiting == [StepCount(1, "wait", "waiting", 1)]
            assert uow.instance_records.active_of("acme", "cart", 1) == [self.record("p-2")]
            assert uow.instance_records.active_of("acme", "cart", 2) == []

    def test_step_counts_add_up_across_transactions(self, units: Units) -> None:
        for _ in range(2):
            with units.new() as uow:
                assert isinstance(uow, OrchestratorUnitOfWork)
                uow.instance_records.add_counts(
                    "acme", "cart", {(1, "", "entered"): 2, (1, "remind", "sent"): 1}
                )
                uow.commit()
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            assert uow.instance_records.counts("acme", "cart") == [
                StepCount(1, "", "entered", 4),
                StepCount(1, "remind", "sent", 2),
            ]
            assert uow.instance_records.counts("acme", "other") == []

    def test_timers_are_set_replaced_and_cancelled_with_the_transaction(self, units: Units) -> None:
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            uow.timers.schedule("acme", "j/cart/p-1", AT, b"1")
        with units.new() as uow:  # rolled back: nothing held
            assert isinstance(uow, OrchestratorUnitOfWork)
            assert held_timers(uow) == {}
            uow.timers.schedule("acme", "j/cart/p-1", AT, b"2")
            uow.timers.cancel("acme", "j/cart/p-1")  # the last word on a timer wins
            uow.timers.schedule("acme", "j/cart/p-2", AT, b"3")
            assert held_timers(uow) == {("acme", "j/cart/p-2"): b"3"}  # a read sees them
            uow.timers.schedule("acme", "j/cart/p-1", AT, b"4")
            uow.timers.schedule("acme", "j/cart/p-1", AT, b"5")
            uow.commit()
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            assert held_timers(uow) == {("acme", "j/cart/p-1"): b"5", ("acme", "j/cart/p-2"): b"3"}
            uow.timers.cancel("acme", "j/cart/p-1")
            uow.timers.cancel("other", "j/cart/p-2")  # another tenant's: not these
            uow.commit()
        with units.new() as uow:
            assert held_timers(uow) == {("acme", "j/cart/p-2"): b"3"}

    def test_a_failed_savepoint_drops_the_rows_counts_and_timers_it_wrote(
        self, units: Units
    ) -> None:
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            uow.instance_records.put(self.record("p-1"))
            uow.instance_records.prefetch("acme", ["p-1", "p-2"])
            with pytest.raises(RuntimeError), uow.savepoint():
                uow.instance_records.put(self.record("p-2"))
                uow.instance_records.add_counts("acme", "cart", {(1, "", "entered"): 1})
                uow.timers.schedule("acme", "j/cart/p-2", AT, b"1")
                assert [r.profile_id for r in uow.instance_records.of_profile("acme", "p-2")]
                raise RuntimeError("the block fails")
            assert uow.instance_records.of_profile("acme", "p-2") == []
            uow.commit()
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            assert uow.instance_records.active_of("acme", "cart", 1) == [self.record("p-1")]
            assert uow.instance_records.counts("acme", "cart") == []
            assert held_timers(uow) == {}

    def test_prefetched_instances_include_the_transactions_own_rows(self, units: Units) -> None:
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            uow.instance_records.put(self.record("p-1"))
            uow.commit()
        with units.new() as uow:
            assert isinstance(uow, OrchestratorUnitOfWork)
            uow.instance_records.prefetch("acme", ["p-1", "p-2"])
            moved = self.record("p-1", step_id="remind")
            uow.instance_records.put(moved)
            uow.instance_records.put(self.record("p-2", "welcome"))
            assert uow.instance_records.of_profile("acme", "p-1") == [moved]
            assert uow.instance_records.of_profile("acme", "p-2") == [self.record("p-2", "welcome")]
            assert uow.instance_records.of_profile("other", "p-1") == []


def held_timers(uow: AbstractUnitOfWork) -> dict[tuple[str, str], bytes]:
    """The journey timers the unit of work sees: (tenant, timer id) -> payload."""
    if isinstance(uow, InMemoryOrchestratorUnitOfWork):
        return {key: payload for key, (_, payload) in uow.state.timers.items()}
    assert isinstance(uow, SqlOrchestratorUnitOfWork)
    t = timers
    rows = uow.session.execute(select(t.c.tenant_id, t.c.timer_id, t.c.payload))
    return {(tenant, timer_id): payload for tenant, timer_id, payload in rows}

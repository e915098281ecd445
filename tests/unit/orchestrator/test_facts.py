"""Business facts: newest stock level wins, out-of-stock sends swap, back-in-stock releases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from layercake.orchestrator.v1 import facts_pb2
from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel import rules
from services.kernel.clock import FixedClock
from services.kernel.errors import InvalidArgument
from services.orchestrator import facts, mapping, sends
from services.orchestrator.domain.facts import StockFact
from services.orchestrator.domain.sending import (
    ProfileSnapshot,
    SendRequest,
    Sent,
    Suppressed,
    SuppressionReason,
    step_after,
)
from services.orchestrator.store.memory import InMemoryOrchestratorUnitOfWork, in_memory

NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
POLICY = sends.SendPolicy(caps=())


def level(units: int, at: datetime | None = None, version: int = 0) -> facts_pb2.StockLevel:
    message = facts_pb2.StockLevel(product="water", store="s-12", units=units, version=version)
    if at is not None:
        stamp = Timestamp()
        stamp.FromDatetime(at)
        message.observe_time.CopyFrom(stamp)
    return message


def request(instance: str = "i-1", store: str = "s-12") -> SendRequest:
    step = pb.SendStep(channel="email", template="cart-reminder", alternative="other")
    step.stock.product = "decision.product"
    step.stock.store = "profile.traits.store_id"
    return SendRequest(
        tenant_id="acme",
        instance_id=instance,
        journey_id="cart",
        journey_version=1,
        step_id="remind",
        step=step,
        profile=ProfileSnapshot(
            "p-1", {"store_id": store, "email": "ann@example.com"}, {"email_marketing": True}, "UTC"
        ),
        decision={"action": "water", "product": "water", "score": 0.5},
    )


class Harness:
    def __init__(self) -> None:
        self.clock = FixedClock(NOW)
        self.db = in_memory(self.clock)

    def set(self, *levels: facts_pb2.StockLevel) -> facts.StockApplied:
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            found = mapping.stock_facts("acme", levels, self.clock.now(), "stock_levels")
            applied = facts.record_stock_levels(uow, found)
            uow.commit()
        return applied

    def stock(self) -> int:
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            return facts.StoreFacts(uow, "acme").stock("water", "s-12")

    def send(self, req: SendRequest) -> sends.SendOutcome:
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            outcome = sends.send(uow, POLICY, req)
            uow.commit()
        return outcome


def test_the_newest_observation_wins_whatever_the_arrival_order() -> None:
    h = Harness()
    assert h.set(level(5, NOW)) == facts.StockApplied(1, 0)
    assert h.set(level(9, NOW - timedelta(minutes=1))) == facts.StockApplied(0, 0)
    assert h.stock() == 5
    assert h.set(level(7, NOW, version=2)).applied == 1  # same time, later source counter
    assert h.set(level(7, NOW, version=2)).applied == 0  # a repeat
    assert h.stock() == 7


def test_an_unknown_product_is_out_of_stock_for_cel() -> None:
    h = Harness()
    with InMemoryOrchestratorUnitOfWork(h.db) as uow:
        rule = rules.compile_rule(
            'facts.stock("water", "s-12") > 0', rules.CONDITION, asset="t", field="f"
        )
        env = rules.Env(clock=h.clock, facts=facts.StoreFacts(uow, "acme"))
        assert rule.evaluate({}, env).value is False
        uow.facts.put_stock(StockFact("acme", "water", "s-12", 3, NOW))
        assert rule.evaluate({}, env).value is True


def test_out_of_stock_suppresses_and_the_alternative_goes_instead() -> None:
    h = Harness()
    h.set(level(0, NOW))
    outcome = h.send(request())
    assert outcome == Suppressed(SuppressionReason.OUT_OF_STOCK, "water at s-12: 0")
    step = pb.Step(id="remind", send=request().step, next="done")
    assert step_after(step, outcome) == "other"
    h.set(level(4, NOW + timedelta(minutes=1)))
    assert h.send(request("i-2")) == Sent("send:i-2:remind")


def test_a_send_without_a_store_to_check_is_suppressed_out_of_stock() -> None:
    h = Harness()
    h.set(level(4, NOW))
    outcome = h.send(request(store=""))
    assert isinstance(outcome, Suppressed) and outcome.reason is SuppressionReason.OUT_OF_STOCK
    assert "no store" in outcome.detail


def test_back_in_stock_tells_each_suppressed_person_once() -> None:
    h = Harness()
    h.set(level(0, NOW))
    h.send(request("i-1"))
    h.send(request("i-2"))
    assert h.set(level(0, NOW + timedelta(minutes=1))).released == 0  # still out
    back = h.set(level(3, NOW + timedelta(minutes=2)))
    assert back == facts.StockApplied(1, 2)
    events = [facts_pb2.BackInStock.FromString(m.payload) for m in h.db.state.outbox]
    assert sorted(e.send_id for e in events) == ["send:i-1:remind", "send:i-2:remind"]
    assert {(e.profile_id, e.product, e.store, e.units) for e in events} == {
        ("p-1", "water", "s-12", 3)
    }
    assert {m.subject for m in h.db.state.outbox} == {"layercake.acme.orchestrator.back_in_stock"}
    assert h.set(level(5, NOW + timedelta(minutes=3))).released == 0  # already released


def test_a_level_without_product_or_store_is_refused_by_field() -> None:
    bad = [level(1), facts_pb2.StockLevel(product="", store="s" * 101, units=1)]
    with pytest.raises(InvalidArgument) as e:
        mapping.stock_facts("acme", bad, NOW, "stock_levels")
    assert {v.field for v in e.value.violations} == {
        "stock_levels[1].product",
        "stock_levels[1].store",
    }

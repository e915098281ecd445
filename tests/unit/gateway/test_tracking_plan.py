"""Tracking plans: parsed and checked when applied, judging events per event type."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import json_format

from layercake.gateway.v1 import ingest_pb2
from services.gateway import handlers, tracking_plans
from services.gateway.domain.ingest import IncomingEvent, Limits, Status
from services.gateway.domain.keys import Caller
from services.gateway.domain.tracking_plan import (
    CompiledPlan,
    Mode,
    TrackingPlan,
    Unplanned,
    parse_plan,
)
from services.gateway.ingest_commits import IngestCommits
from services.kernel.errors import InvalidArgument
from services.kernel.principals import Actor, Principal, PrincipalKind, Scope
from tests.unit.gateway.fakes import CountingLayer, FakeIngestLog, FakePlans

AT = datetime(2026, 3, 1, tzinfo=UTC)
ORDER = {
    "type": "object",
    "required": ["total"],
    "properties": {"total": {"type": "number", "minimum": 0}, "coupon": {"type": "string"}},
}
PLAN = {
    "unplanned": "block",
    "events": {
        "Order Completed": {"mode": "reject", "schema": ORDER},
        "identify": {"mode": "flag", "schema": {"properties": {"age": {"type": "integer"}}}},
    },
}


def track(name: str, **properties: object) -> IncomingEvent:
    return IncomingEvent("m", "track", name, payloads={"properties": properties})


def plan(document: object = PLAN) -> CompiledPlan:
    return CompiledPlan(parse_plan(document), 1)


def test_a_plan_is_read_with_its_modes_and_unplanned_rule() -> None:
    content = parse_plan(PLAN)
    assert content.unplanned is Unplanned.BLOCK
    assert content.events["Order Completed"].mode is Mode.REJECT
    assert content.events["identify"].mode is Mode.FLAG
    assert parse_plan(json.loads(content.to_json())) == content


def test_a_bad_plan_names_each_field() -> None:
    bad = {
        "unplanned": "maybe",
        "extra": 1,
        "events": {
            "A": {"mode": "shout", "schema": {}},
            "B": {"schema": {"type": "nonsense"}},
            "C": "no",
        },
    }
    with pytest.raises(InvalidArgument) as refused:
        parse_plan(bad)
    assert sorted(v.field for v in refused.value.violations) == [
        'plan.events["A"].mode',
        'plan.events["B"].schema["type"]',
        'plan.events["C"]',
        "plan.extra",
        "plan.unplanned",
    ]


def test_a_violating_event_of_a_reject_plan_is_rejected_naming_each_field() -> None:
    judged = plan().judge("events[2]", track("Order Completed", total=-1, coupon=5))
    assert judged.flagged == ()
    assert [v.field for v in judged.rejected] == [
        "events[2].properties.coupon",
        "events[2].properties.total",
    ]
    assert all(v.description.startswith("tracking plan: ") for v in judged.rejected)
    assert plan().judge("events[0]", track("Order Completed", total=3)).rejected == ()


def test_a_flag_plan_accepts_and_flags() -> None:
    event = IncomingEvent("m", "identify", payloads={"traits": {"age": "old"}})
    judged = plan().judge("events[0]", event)
    assert judged.rejected == ()
    assert [v.field for v in judged.flagged] == ["events[0].traits.age"]


def test_unplanned_types_are_blocked_or_let_through() -> None:
    blocked = plan().judge("events[1]", track("Signed Up"))
    assert [v.field for v in blocked.rejected] == ["events[1].event"]
    allowed = plan(PLAN | {"unplanned": "allow"}).judge("events[1]", track("Signed Up"))
    assert allowed.rejected == allowed.flagged == ()


def test_the_aggregate_records_a_version_only_when_the_plan_changes() -> None:
    tracking = TrackingPlan(tenant_id="acme")
    assert tracking.apply_plan(parse_plan(PLAN), AT)
    assert not tracking.apply_plan(parse_plan(PLAN), AT)
    assert tracking.apply_plan(parse_plan(PLAN | {"unplanned": "allow"}), AT)
    replayed = TrackingPlan.replay(tracking.pending, 2)
    assert replayed.content == tracking.content and replayed.tenant_id == "acme"
    compiled = replayed.compiled()
    assert compiled is not None and compiled.version == 2


async def test_ingest_rejects_flags_and_counts_by_the_tenants_plan() -> None:
    def event(message_id: str, name: str, **properties: object) -> ingest_pb2.IngestEvent:
        body = {
            "message_id": message_id,
            "type": "track",
            "event": name,
            "timestamp": "2026-03-01T00:00:00Z",
            "identifiers": {"cookie_id": "ck"},
            "properties": properties,
        }
        return json_format.ParseDict(body, ingest_pb2.IngestEvent())

    ann = Principal("acme", Actor("ann", PrincipalKind.PERSON), frozenset())
    acme = Caller("k1", frozenset(Scope), ann)
    signed_up = {"Signed Up": {"mode": "flag", "schema": ORDER}}
    flagging = PLAN | {"events": PLAN["events"] | signed_up}  # type: ignore[operator]
    layer, log = CountingLayer(), FakeIngestLog()
    request = handlers.Ingest(
        [
            event("m-1", "Order Completed", total=3),
            event("m-2", "Order Completed", total="3"),
            event("m-3", "Signed Up"),
            event("m-4", "Churned"),
        ],
        100,
        AT,
        None,
        Limits(),
        timedelta(days=7),
    )
    outcomes = await handlers.ingest(
        IngestCommits(log, layer), layer, FakePlans(acme=plan(flagging)), acme, request
    )
    assert [o.status for o in outcomes] == [
        Status.ACCEPTED,
        Status.REJECTED,
        Status.ACCEPTED,
        Status.REJECTED,
    ]
    assert [v.field for v in outcomes[2].violations] == ["events[2].properties"]  # flagged
    assert len(log.messages) == 2  # the rejected ones are never published
    counts = await layer.read(tracking_plans.tracking_plan_counts, "acme")
    assert {k: (c.rejected, c.flagged) for k, c in counts.items()} == {
        "Order Completed": (1, 0),
        "Signed Up": (0, 1),
        "Churned": (1, 0),
    }


async def test_a_plan_is_applied_once_per_change_and_read_back() -> None:
    layer, admin = CountingLayer(), Actor.system("test")
    first = await layer.run(tracking_plans.apply_tracking_plan, "acme", PLAN, admin)
    again = await layer.run(tracking_plans.apply_tracking_plan, "acme", PLAN, admin)
    assert first.version == again.version == 1
    with pytest.raises(InvalidArgument):
        await layer.run(tracking_plans.apply_tracking_plan, "acme", {"unplanned": 1}, admin)
    held = await layer.read(tracking_plans.get_tracking_plan, "acme")
    assert held.content == parse_plan(PLAN) and held.apply_time is not None
    assert (await layer.read(tracking_plans.get_tracking_plan, "other")).compiled() is None
    [stored] = layer.db.state.outbox
    assert stored.subject == "layercake.acme.gateway.tracking_plan_applied"

"""The gateway's async service layer on fakes: validate first, then publish in the key's tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import json_format

from layercake.events.v1 import ingest_pb2
from layercake.gateway.v1.ingest_pb2 import IngestEvent
from services.gateway import handlers, mapping
from services.gateway.domain.ingest import Limits, Status
from services.gateway.domain.keys import Caller
from services.gateway.ingest_commits import IngestCommits
from services.kernel.errors import InvalidArgument
from services.kernel.principals import Actor, Principal, PrincipalKind, Scope
from tests.unit.gateway.fakes import CountingLayer, FakeIngestLog, FakePlans, FakeProfiles

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
ACCEPTED = Status.ACCEPTED
ACME = Caller(
    "k1", frozenset(Scope), Principal("acme", Actor("ann", PrincipalKind.PERSON), frozenset())
)


def event(message_id: str, **extra: object) -> IngestEvent:
    body = {
        "message_id": message_id,
        "type": "identify",
        "timestamp": "2026-03-01T12:00:00Z",
        "identifiers": {"cookie_id": "ck"},
    } | extra
    return json_format.ParseDict(body, IngestEvent())


def request(*events: IngestEvent, at: datetime = AT) -> handlers.Ingest:
    return handlers.Ingest(events, 100, at, None, Limits(), timedelta(days=7))


async def test_ingest_publishes_each_event_in_the_keys_tenant() -> None:
    log, ids = FakeIngestLog(), CountingLayer()
    outcomes = await handlers.ingest(
        IngestCommits(log, ids), ids, FakePlans(), ACME, request(event("m-1"), event("m-2"))
    )
    assert [(o.status, o.sequence) for o in outcomes] == [(ACCEPTED, 1), (ACCEPTED, 1)]
    assert len(log.batches) == 1  # one message for the request
    assert [m.subject for m in log.messages] == ["layercake.acme.ingest"] * 2
    assert [m.event_id for m in log.messages] == [
        mapping.ingest_event_id("acme", "m-1"),
        mapping.ingest_event_id("acme", "m-2"),
    ]


async def test_bad_events_are_rejected_by_index_and_the_good_ones_accepted() -> None:
    log, ids = FakeIngestLog(), CountingLayer()
    outcomes = await handlers.ingest(
        IngestCommits(log, ids),
        ids,
        FakePlans(),
        ACME,
        request(event("m-1"), event("m-2", type="page"), event("m-3")),
    )
    assert [o.status for o in outcomes] == [ACCEPTED, Status.REJECTED, ACCEPTED]
    assert [v.field for v in outcomes[1].violations] == ["events[1].type"]
    assert [o.index for o in outcomes] == [0, 1, 2]
    assert len(log.messages) == 2


async def test_a_repeat_is_a_duplicate_for_the_whole_window_not_only_jetstreams() -> None:
    log, ids = FakeIngestLog(), CountingLayer()
    await handlers.ingest(IngestCommits(log, ids), ids, FakePlans(), ACME, request(event("m-1")))
    six_days = await handlers.ingest(
        IngestCommits(log, ids), ids, FakePlans(), ACME, request(event("m-1"), at=AT + timedelta(6))
    )
    assert [o.status for o in six_days] == [Status.DUPLICATE]
    eight_days = await handlers.ingest(
        IngestCommits(log, ids), ids, FakePlans(), ACME, request(event("m-1"), at=AT + timedelta(8))
    )
    assert [o.status for o in eight_days] == [ACCEPTED]
    assert len(log.messages) == 2


async def test_one_lookup_per_request_and_a_repeat_within_it_is_a_duplicate() -> None:
    log, ids = FakeIngestLog(), CountingLayer()
    outcomes = await handlers.ingest(
        IngestCommits(log, ids),
        ids,
        FakePlans(),
        ACME,
        request(event("m-1"), event("m-2"), event("m-1")),
    )
    assert [o.status for o in outcomes] == [ACCEPTED, ACCEPTED, Status.DUPLICATE]
    assert ids.reads == 1 and len(log.messages) == 2


async def test_a_request_over_its_bounds_is_refused_whole() -> None:
    log, ids = FakeIngestLog(), CountingLayer()
    with pytest.raises(InvalidArgument) as refused:
        await handlers.ingest(IngestCommits(log, ids), ids, FakePlans(), ACME, request())
    assert [v.field for v in refused.value.violations] == ["events"]
    assert log.messages == []


async def test_the_stored_time_is_the_corrected_one() -> None:
    log, ids = FakeIngestLog(), CountingLayer()
    ahead = event("m-1", timestamp="2026-03-01T18:00:00Z")  # the client's clock: 6 h fast
    sent = datetime(2026, 3, 1, 18, 1, tzinfo=UTC)
    await handlers.ingest(
        IngestCommits(log, ids),
        ids,
        FakePlans(),
        ACME,
        handlers.Ingest([ahead], 100, AT, sent, Limits(), timedelta(days=7)),
    )
    stored = ingest_pb2.EventIngested.FromString(log.messages[0].payload)
    assert stored.event.timestamp.ToJsonString() == "2026-03-01T11:59:00Z"


async def test_get_profile_asks_in_the_keys_tenant_and_validates_the_ref() -> None:
    profiles = FakeProfiles()
    found = await handlers.get_profile(profiles, ACME, "email:ann@example.com")
    assert found.profile.tenant_id == "acme"
    assert [(r.tenant_id, r.profile_ref) for r in profiles.requests] == [
        ("acme", "email:ann@example.com")
    ]
    for bad in ("", "  ", "x" * 513):
        with pytest.raises(InvalidArgument):
            await handlers.get_profile(profiles, ACME, bad)
    assert len(profiles.requests) == 1

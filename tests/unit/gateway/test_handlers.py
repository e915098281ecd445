"""The gateway's async service layer on fakes: validate first, then publish in the key's tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import json_format

from layercake.events.v1 import ingest_pb2
from layercake.gateway.v1.ingest_pb2 import IngestEvent
from services.gateway import handlers, ingest_mapping
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
        ingest_mapping.ingest_event_id("acme", "m-1"),
        ingest_mapping.ingest_event_id("acme", "m-2"),
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
    first = IngestCommits(log, ids)
    await handlers.ingest(first, ids, FakePlans(), ACME, request(event("m-1")))
    await first.remembered()  # in the store: the next requests go through commits of their own
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


def nested(levels: int) -> dict[str, object]:
    value: dict[str, object] = {"a": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("limits", "payload", "why"),
    [
        (Limits(), {"n" * 257: 1}, "holds a name of 257 characters"),
        (Limits(), {"v": "x" * (8 * 1024 + 1)}, "is 8193 bytes"),
        (Limits(max_depth=3), {"p": nested(3)}, "nests deeper than 3 levels"),
        (Limits(max_name_chars=8), {"a-long-name": 1}, "holds a name of 11 characters"),
    ],
)
async def test_a_payload_just_over_a_bound_is_walked_and_rejected(
    limits: Limits, payload: dict[str, object], why: str
) -> None:
    """The rules skip the walk of a payload too small to break a bound: these are not."""
    log, ids = FakeIngestLog(), CountingLayer()
    given = handlers.Ingest(
        [event("m-1", properties=payload)], 100, AT, None, limits, timedelta(days=7)
    )
    [outcome] = await handlers.ingest(IngestCommits(log, ids), ids, FakePlans(), ACME, given)
    assert outcome.status == Status.REJECTED
    [violation] = outcome.violations
    assert violation.field.startswith("events[0].properties")
    assert why in violation.description
    assert log.messages == []

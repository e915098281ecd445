"""The gateway's async service layer on fakes: validate first, then publish in the key's tenant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf import json_format

from layercake.events.v1 import ingest_pb2
from services.gateway import handlers, mapping
from services.gateway.domain.keys import Caller
from services.kernel.errors import InvalidArgument
from services.kernel.principals import Actor, Principal, PrincipalKind, Scope
from tests.unit.gateway.fakes import FakeIngestLog, FakeProfiles

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
ACME = Caller(
    "k1", frozenset(Scope), Principal("acme", Actor("ann", PrincipalKind.PERSON), frozenset())
)


def event(message_id: str, **extra: object) -> ingest_pb2.IngestEvent:
    body = {
        "message_id": message_id,
        "type": "identify",
        "timestamp": "2026-03-01T12:00:00Z",
        "identifiers": {"cookie_id": "ck"},
    } | extra
    return json_format.ParseDict(body, ingest_pb2.IngestEvent())


async def test_ingest_publishes_each_event_in_the_keys_tenant() -> None:
    log = FakeIngestLog()
    published = await handlers.ingest(log, ACME, [event("m-1"), event("m-2")], AT)
    assert [p.sequence for p in published] == [1, 2]
    assert [m.subject for m in log.messages] == ["layercake.acme.ingest"] * 2
    assert [m.event_id for m in log.messages] == [
        mapping.ingest_event_id("acme", "m-1"),
        mapping.ingest_event_id("acme", "m-2"),
    ]
    again = await handlers.ingest(log, ACME, [event("m-1")], AT)
    assert again == [handlers.Published(1, True)]


async def test_one_bad_event_publishes_nothing() -> None:
    log = FakeIngestLog()
    with pytest.raises(InvalidArgument) as refused:
        await handlers.ingest(log, ACME, [event("m-1"), event("m-2", type="page")], AT)
    assert [v.field for v in refused.value.violations] == ["events[1].type"]
    assert log.messages == []


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

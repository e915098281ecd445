"""Proto <-> domain at the gateway's edge: stored events, ingest ids and envelopes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from google.protobuf import json_format

from layercake.events.v1 import gateway_events_pb2, ingest_pb2
from layercake.gateway.v1.ingest_pb2 import IngestEvent
from services.gateway import ingest_mapping, mapping
from services.gateway.domain.events import (
    ApiKeyIssued,
    ApiKeyRevoked,
    PrincipalCreated,
    RoleGranted,
    RoleRevoked,
    TenantCreated,
)
from services.kernel.errors import UnknownEventType
from services.kernel.messaging.envelope import headers_for
from services.kernel.principals import Actor, PrincipalKind, Role, Scope
from services.kernel.store.records import EventMetadata, StoredEvent

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def stored(event: object) -> StoredEvent:
    new = mapping.EVENTS.new_event(event, None)  # type: ignore[arg-type]
    return StoredEvent(
        1,
        "tenant-acme",
        1,
        new.event_id,
        new.type,
        new.payload,
        EventMetadata("acme", Actor.system("test")),
        AT,
    )


def test_gateway_events_round_trip_through_their_protos() -> None:
    for event in (
        TenantCreated("acme", "Acme", AT),
        PrincipalCreated("ann", PrincipalKind.SYSTEM, "Ann's bot", AT),
        RoleGranted("ann", Role.EDITOR, AT),
        RoleRevoked("ann", Role.EDITOR, AT),
        ApiKeyIssued("ann", "k1", "ab" * 32, frozenset({Scope.ADMIN, Scope.INGEST}), "ci", AT),
        ApiKeyRevoked("ann", "k1", "leaked", AT),
    ):
        row = stored(event)
        assert row.type.startswith("layercake.gateway.v1.")
        assert mapping.EVENTS.decode(row, None) == event


def test_an_unknown_stored_type_is_an_error_naming_type_and_stream() -> None:
    row = StoredEvent(
        1,
        "tenant-acme",
        1,
        "e",
        "layercake.gateway.v1.Future",
        b"",
        EventMetadata("acme", Actor.system("test")),
        AT,
    )
    with pytest.raises(UnknownEventType, match=r"'tenant-acme'.*'layercake\.gateway\.v1\.Future'"):
        mapping.EVENTS.decode(row, None)


def test_changes_of_what_keys_may_do_go_out_for_every_replica() -> None:
    events = [
        PrincipalCreated("ann", PrincipalKind.PERSON, "ann", AT),
        RoleGranted("ann", Role.EDITOR, AT),
        ApiKeyIssued("ann", "k1", "ab" * 32, frozenset({Scope.INGEST}), "", AT),
        RoleRevoked("ann", Role.EDITOR, AT),
        ApiKeyRevoked("ann", "k1", "", AT),
    ]
    messages = [m for e in events if (m := mapping.integration_event("acme", e, AT, ""))]
    assert [(m.subject, m.type) for m in messages] == [
        ("layercake.acme.gateway.role_granted", "layercake.events.v1.RoleGranted"),
        ("layercake.acme.gateway.role_revoked", "layercake.events.v1.RoleRevoked"),
        ("layercake.acme.gateway.api_key_revoked", "layercake.events.v1.ApiKeyRevoked"),
    ]
    revoked = gateway_events_pb2.RoleRevoked.FromString(messages[1].payload)
    assert (revoked.tenant_id, revoked.principal_id, revoked.role) == ("acme", "ann", "editor")
    assert {(m.tenant_id, m.subject_ref) for m in messages} == {("acme", "ann")}


def test_ingest_event_id_is_deterministic_per_tenant_and_message() -> None:
    first = ingest_mapping.ingest_event_id("acme", "m-1")
    assert first == ingest_mapping.ingest_event_id("acme", "m-1")
    assert first != ingest_mapping.ingest_event_id("acme", "m-2")
    assert first != ingest_mapping.ingest_event_id("other", "m-1")


@pytest.mark.parametrize("message_id", ["m-1", "7f1c-0001", "é-ünïcode", "x" * 128, ""])
def test_ingest_event_ids_are_the_uuid5_of_tenant_and_message_id(message_id: str) -> None:
    expected = uuid.uuid5(ingest_mapping.INGEST_NAMESPACE, f"acme/{message_id}")
    assert ingest_mapping.ingest_event_id("acme", message_id) == str(expected)


def test_event_ingested_envelope() -> None:
    event = json_format.ParseDict(
        {
            "message_id": "m-1",
            "type": "identify",
            "timestamp": "2026-03-01T12:00:00Z",
            "identifiers": {"cookie_id": "ck"},
        },
        IngestEvent(),
    )
    [message] = ingest_mapping.event_ingested(
        "acme", [("m-1", event.SerializeToString())], AT, "k1"
    )
    body = ingest_pb2.EventIngested.FromString(message.payload)
    assert (body.tenant_id, body.api_key_id) == ("acme", "k1")
    assert json_format.MessageToDict(body.event) == json_format.MessageToDict(event)
    assert body.receive_time.ToDatetime(tzinfo=UTC) == AT
    headers = headers_for(message, AT)
    assert headers["ce-type"] == "layercake.events.v1.EventIngested"
    assert headers["ce-source"] == "gateway"
    assert headers["ce-tenantid"] == "acme"
    assert (
        headers["ce-id"] == headers["Nats-Msg-Id"] == ingest_mapping.ingest_event_id("acme", "m-1")
    )
    assert message.subject == "layercake.acme.ingest"


def test_incoming_reads_identifiers_and_a_missing_timestamp() -> None:
    event = json_format.ParseDict(
        {
            "message_id": "m",
            "type": "track",
            "event": "e",
            "identifiers": {"email": ["a@b.c"], "cookie_id": "ck"},
            "consent": {"analytics": False},
        },
        IngestEvent(),
    )
    plain = ingest_mapping.incoming(event, event.ByteSize())
    assert plain.timestamp is None
    assert plain.identifiers == {"email": ["a@b.c"], "cookie_id": "ck"}
    assert plain.consent == {"analytics": False}


def test_incoming_keeps_non_string_identifier_values_for_the_rules_to_refuse() -> None:
    event = json_format.ParseDict(
        {"identifiers": {"a": 1, "b": [True, "x"], "c": None, "d": {"k": "v"}}},
        IngestEvent(),
    )
    assert ingest_mapping.incoming(event, event.ByteSize()).identifiers == {
        "a": 1.0,
        "b": [True, "x"],
        "c": None,
        "d": {"k": "v"},
    }

"""The orchestrator's contact-state rules and its reading of ProfileUpdated, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest

from services.kernel.errors import InvalidArgument
from services.kernel.protobuf import from_timestamp
from services.kernel.store.unit_of_work import UnitOfWork
from services.orchestrator import handlers, mapping
from services.orchestrator.domain.contact_state import (
    ProfileUpdated,
    contact_state,
    known_time_zone,
)
from tests.profile_events import as_envelope, profile_updated

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize("zone", ["America/Chicago", "Europe/Paris", "UTC", "Asia/Kolkata"])
def test_an_iana_time_zone_is_kept(zone: str) -> None:
    assert known_time_zone(zone) == zone


@pytest.mark.parametrize(
    "zone", ["", "Mars/Olympus", "america/chicago", " UTC", "localtime", "Factory", "../etc/passwd"]
)
def test_anything_else_is_an_unknown_time_zone(zone: str) -> None:
    assert known_time_zone(zone) == ""


def test_contact_state_copies_consent_checks_the_zone_and_stamps_the_time() -> None:
    update = ProfileUpdated("acme", "p-1", 4, {"email_marketing": True}, "Nowhere/Land")
    state = contact_state(update, NOW)
    assert (state.tenant_id, state.profile_id, state.profile_version) == ("acme", "p-1", 4)
    assert state.consent == {"email_marketing": True}
    assert state.time_zone == ""
    assert state.update_time == NOW


def test_mapping_reads_the_time_zone_trait_and_consent() -> None:
    message = profile_updated(
        "acme",
        "p-1",
        3,
        traits={"timezone": "America/Chicago", "visits": 3},
        consent={"sms_marketing": False},
    )
    update = mapping.profile_updated(as_envelope(message))
    assert update == ProfileUpdated("acme", "p-1", 3, {"sms_marketing": False}, "America/Chicago")


@pytest.mark.parametrize("raw", ["-5", "not json", '{"zone": "UTC"}', ""])
def test_a_time_zone_trait_that_is_not_a_json_string_reads_as_none(raw: str) -> None:
    message = profile_updated("acme", "p-1", 1, raw_traits={"timezone": raw})
    assert mapping.profile_updated(as_envelope(message)).time_zone == ""


def test_the_tenant_is_the_envelopes_not_the_payloads() -> None:
    message = profile_updated("other", "p-1", 1)
    assert mapping.profile_updated(as_envelope(message, tenant_id="acme")).tenant_id == "acme"


def test_contact_state_proto_carries_every_field() -> None:
    state = contact_state(
        ProfileUpdated("acme", "p-1", 9, {"email_marketing": True}, "Europe/Paris"), NOW
    )
    proto = mapping.contact_state_proto(state)
    assert (proto.tenant_id, proto.profile_id, proto.profile_version) == ("acme", "p-1", 9)
    assert dict(proto.consent) == {"email_marketing": True}
    assert proto.time_zone == "Europe/Paris"
    assert from_timestamp(proto.update_time) == NOW


@pytest.mark.parametrize(
    ("tenant_id", "profile_id", "bad"),
    [
        ("", "", ["tenant_id", "profile_id"]),
        ("Acme Corp", "p-1", ["tenant_id"]),
        ("acme", "", ["profile_id"]),
    ],
)
def test_get_contact_state_names_each_bad_field_before_any_io(
    tenant_id: str, profile_id: str, bad: list[str]
) -> None:
    no_database = cast(UnitOfWork, None)  # validation must fail before the store is touched
    with pytest.raises(InvalidArgument) as error:
        handlers.get_contact_state(no_database, tenant_id, profile_id)
    assert [v.field for v in error.value.violations] == bad

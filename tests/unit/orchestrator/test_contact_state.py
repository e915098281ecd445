"""The orchestrator's contact-state rules and its reading of ProfileUpdated, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest

from services.kernel.errors import InvalidArgument
from services.kernel.profile_changes import ProfileChange, ProfilesMerge
from services.kernel.protobuf import from_timestamp
from services.orchestrator import handlers, mapping
from services.orchestrator.domain.contact_state import (
    contact_state_after,
    contact_state_folded,
    known_time_zone,
)
from services.orchestrator.domain.guards import check_address
from services.orchestrator.domain.instances.profiles import snapshot
from services.orchestrator.ports import OrchestratorUnitOfWork
from services.orchestrator.schedule import profile_of

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize("zone", ["America/Chicago", "Europe/Paris", "UTC", "Asia/Kolkata"])
def test_an_iana_time_zone_is_kept(zone: str) -> None:
    assert known_time_zone(zone) == zone


@pytest.mark.parametrize(
    "zone", ["", "Mars/Olympus", "america/chicago", " UTC", "localtime", "Factory", "../etc/passwd"]
)
def test_anything_else_is_an_unknown_time_zone(zone: str) -> None:
    assert known_time_zone(zone) == ""


def change(version: int, **parts: object) -> ProfileChange:
    return ProfileChange("acme", "p-1", version, **parts)  # type: ignore[arg-type]


def test_a_first_change_copies_consent_checks_the_zone_and_stamps_the_time() -> None:
    state = contact_state_after(
        None, change(4, consent={"email_marketing": True}, traits={"timezone": "Nowhere/Land"}), NOW
    )
    assert state is not None
    assert (state.tenant_id, state.profile_id, state.profile_version) == ("acme", "p-1", 4)
    assert state.consent == {"email_marketing": True}
    assert state.time_zone == ""
    assert state.update_time == NOW


def test_a_change_keeps_what_it_does_not_touch() -> None:
    first = contact_state_after(
        None, change(1, consent={"email_marketing": True}, traits={"timezone": "UTC"}), NOW
    )
    later = contact_state_after(first, change(2, consent={"sms_marketing": False}), NOW)
    assert later is not None
    assert later.consent == {"email_marketing": True, "sms_marketing": False}
    assert (later.time_zone, later.profile_version) == ("UTC", 2)


def test_an_older_change_loses_each_part_a_newer_one_set() -> None:
    newest = contact_state_after(
        None, change(3, consent={"email_marketing": True}, traits={"timezone": "UTC"}), NOW
    )
    late = contact_state_after(
        newest,
        change(
            2,
            consent={"email_marketing": False, "analytics": True},
            traits={"timezone": "Europe/Paris"},
        ),
        NOW,
    )
    assert late is not None
    assert late.consent == {"email_marketing": True, "analytics": True}
    assert (late.time_zone, late.profile_version) == ("UTC", 3)


def test_a_repeat_changes_nothing() -> None:
    once = change(2, consent={"analytics": True}, traits={"visits": 3})
    state = contact_state_after(None, once, NOW)
    assert contact_state_after(state, once, NOW) is None


@pytest.mark.parametrize("value", [-5, None, {"zone": "UTC"}, ""])
def test_a_time_zone_trait_that_is_not_a_string_is_no_zone(value: object) -> None:
    state = contact_state_after(None, change(1, traits={"timezone": value}), NOW)
    assert state is not None and state.time_zone == ""


def test_contact_state_proto_carries_every_field() -> None:
    state = contact_state_after(
        None, change(9, consent={"email_marketing": True}, traits={"timezone": "Europe/Paris"}), NOW
    )
    assert state is not None
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
    no_database = cast(OrchestratorUnitOfWork, None)  # validation fails before any lookup
    with pytest.raises(InvalidArgument) as error:
        handlers.get_contact_state(no_database, tenant_id, profile_id)
    assert [v.field for v in error.value.violations] == bad


def test_a_merge_moves_the_parts_the_survivor_lacks_into_it() -> None:
    merge = ProfilesMerge("acme", "p-1", ("p-2",), 5)
    survivor = contact_state_after(None, change(4, consent={"analytics": True}), NOW)
    gone = ProfileChange("acme", "p-2", 9, {"timezone": "Europe/Paris"}, {"analytics": False})
    merged = contact_state_after(None, gone, NOW)
    assert merged is not None
    folded = contact_state_folded(survivor, merged, merge, NOW)
    assert folded is not None
    assert (folded.profile_id, dict(folded.consent), folded.time_zone) == (
        "p-1",
        {"analytics": True},
        "Europe/Paris",
    )
    assert contact_state_folded(folded, merged, merge, NOW) is None  # redelivered: a no-op


def test_the_address_traits_identity_sets_are_known_by_name_only() -> None:
    sealed = change(3, personal_traits=frozenset({"email", "first_name"}))
    state = contact_state_after(None, sealed, NOW)
    assert state is not None and state.addresses == {"email"}  # a name is no address
    later = contact_state_after(state, change(4, traits={"push_token": "tok-1"}), NOW)
    assert later is not None and later.addresses == {"email", "push_token"}
    phone_later = contact_state_after(later, change(5, personal_traits=frozenset({"phone"})), NOW)
    assert phone_later is not None and phone_later.addresses == {"email", "push_token", "phone"}
    assert contact_state_after(phone_later, sealed, NOW) is None  # an older change: nothing new
    nothing = contact_state_after(None, change(1, personal_traits=frozenset({"last_name"})), NOW)
    assert nothing is not None and nothing.addresses == frozenset()


def test_a_merge_gives_the_survivor_the_address_it_lacks() -> None:
    merge = ProfilesMerge("acme", "p-1", ("p-2",), 5)
    survivor = contact_state_after(None, change(4, consent={"email_marketing": True}), NOW)
    gone = ProfileChange("acme", "p-2", 2, personal_traits=frozenset({"email"}))
    merged = contact_state_after(None, gone, NOW)
    assert survivor is not None and survivor.addresses == frozenset()
    assert merged is not None
    folded = contact_state_folded(survivor, merged, merge, NOW)
    assert folded is not None and folded.addresses == {"email"}


def test_a_scheduled_entry_sees_the_addresses_the_contact_state_knows() -> None:
    sealed = change(3, consent={"email_marketing": True}, personal_traits=frozenset({"email"}))
    state = contact_state_after(None, sealed, NOW)
    assert state is not None
    person = snapshot(profile_of(state), None)  # as a scheduled entry's run sees them
    assert check_address("email", person) is None
    assert check_address("sms", person) is not None

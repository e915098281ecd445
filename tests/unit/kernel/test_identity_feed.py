"""Reading identity's ProfileUpdated once, for every service that projects it."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message

from layercake.common.v1 import common_pb2
from layercake.events.v1 import identity_events_pb2 as ie
from services.kernel.errors import Unprocessable
from services.kernel.messaging import subjects
from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.identity_feed import (
    audience_change,
    computed_trait_change,
    follow_identity,
    profile_change,
    profile_forget,
    profiles_merge,
)
from services.kernel.profile_changes import ProfileChange, ProfileForget, ProfilesMerge
from tests.profile_events import (
    AT,
    as_envelope,
    profile_forgotten,
    profile_updated,
    profiles_merged,
)


def merged_envelope(survivor: str, merged: list[str], version: int) -> Envelope:
    record = profiles_merged("acme", survivor, merged, version)
    return Envelope(
        record.event_id, record.type, record.source, "acme", AT, record.payload, record.subject
    )


def test_a_change_is_read_with_its_traits_decoded() -> None:
    message = profile_updated(
        "acme",
        "p-1",
        3,
        traits={"visits": 3, "plan": "gold"},
        raw_traits={"bad": "not json"},
        consent={"sms_marketing": False},
        identifiers=[("cookie_id", "ck-1")],
        identifier_count=4,
    )
    assert profile_change(as_envelope(message)) == ProfileChange(
        "acme",
        "p-1",
        3,
        traits={"visits": 3, "plan": "gold", "bad": None},
        consent={"sms_marketing": False},
        identifier_count=4,
    )


def test_a_change_names_the_personal_traits_it_set_and_carries_none_of_their_values() -> None:
    message = profile_updated("acme", "p-1", 2, traits={"plan": "gold"})
    message.sealed_traits["first_name"].sealed_json_value = b"nonce+ciphertext"
    change = profile_change(as_envelope(message))
    assert change.personal_traits == {"first_name"} and "first_name" not in change.traits
    assert change.trait_names == {"plan", "first_name"}
    assert change.fields() == ["trait:plan"]  # names only: nothing versioned by them


def test_without_linked_identifiers_the_count_is_no_change() -> None:
    message = profile_updated("acme", "p-1", 2, identifier_count=4)
    assert profile_change(as_envelope(message)).identifier_count is None


def test_the_tenant_is_the_envelopes_not_the_payloads() -> None:
    message = profile_updated("other", "p-1", 1)
    assert profile_change(as_envelope(message, tenant_id="acme")).tenant_id == "acme"


@pytest.mark.parametrize(("profile_id", "version"), [("", 1), ("p-1", 0), ("p-1", -2)])
def test_a_change_of_no_profile_or_version_is_unprocessable(profile_id: str, version: int) -> None:
    with pytest.raises(Unprocessable):
        profile_change(as_envelope(profile_updated("acme", profile_id, version)))


def test_one_consumer_follows_the_whole_identity_stream() -> None:
    spec = follow_identity(
        "x-profiles", lambda uow, change: None, lambda uow, merge: None, lambda uow, forget: None
    )
    assert (spec.durable, spec.stream) == ("x-profiles", "IDENTITY")
    assert spec.filter_subject == subjects.integration("*", "identity", ">")


def test_a_merge_is_read_and_a_merge_of_no_survivor_or_version_is_unprocessable() -> None:
    assert profiles_merge(merged_envelope("p-1", ["p-2", "p-3"], 4)) == ProfilesMerge(
        "acme", "p-1", ("p-2", "p-3"), 4
    )
    for survivor, version in [("", 4), ("p-1", 0)]:
        with pytest.raises(Unprocessable):
            profiles_merge(merged_envelope(survivor, ["p-2"], version))


def test_a_forget_is_read_with_its_aliases_and_a_forget_of_no_profile_is_unprocessable() -> None:
    def envelope(profile_id: str) -> Envelope:
        r = profile_forgotten("acme", profile_id, ["p-2", ""])
        return Envelope(r.event_id, r.type, r.source, "acme", AT, r.payload, r.subject)

    forget = profile_forget(envelope("p-1"))
    assert forget == ProfileForget("acme", "p-1", ("p-2",))
    assert forget.profile_ids == ("p-1", "p-2")
    with pytest.raises(Unprocessable):
        profile_forget(envelope(""))


def _envelope(message: Message) -> Envelope:
    return Envelope(
        "e-1", message.DESCRIPTOR.full_name, "identity", "acme", AT, message.SerializeToString(), ""
    )


def test_computed_traits_and_audiences_are_read_as_changes() -> None:
    value = common_pb2.TraitValue(json_value="3")
    changed = ie.ComputedTraitChanged(
        profile_id="p-1", name="purchases_30d", value=value, version=5
    )
    emptied = ie.ComputedTraitChanged(profile_id="p-1", name="max_total", version=6)
    entered = ie.AudienceEntered(profile_id="p-1", audience_id="buyers", version=7)
    exited = ie.AudienceExited(profile_id="p-1", audience_id="buyers", version=8)
    assert computed_trait_change(_envelope(changed)) == ProfileChange(
        "acme", "p-1", 5, computed={"purchases_30d": 3}
    )
    assert computed_trait_change(_envelope(emptied)).computed == {"max_total": None}
    assert audience_change(_envelope(entered)).audiences == {"buyers": True}
    assert audience_change(_envelope(exited)) == ProfileChange(
        "acme", "p-1", 8, audiences={"buyers": False}
    )
    later = audience_change(_envelope(exited))
    assert later.newer_than(later.stamped({})).empty  # a redelivery changes nothing
    for bad in (
        ie.ComputedTraitChanged(profile_id="p-1", version=1),
        ie.ComputedTraitChanged(name="x", version=1),
        ie.AudienceEntered(profile_id="p-1", version=1),
        ie.AudienceExited(profile_id="p-1", audience_id="a", version=0),
    ):
        with pytest.raises(Unprocessable):
            read = computed_trait_change if "Computed" in bad.DESCRIPTOR.name else audience_change
            read(_envelope(bad))


def test_the_follower_routes_computed_traits_and_audiences_to_its_change_handler() -> None:
    seen: list[ProfileChange] = []
    spec = follow_identity(
        "x", lambda uow, change: seen.append(change), lambda uow, m: None, lambda uow, f: None
    )
    entered = ie.AudienceEntered(profile_id="p-1", audience_id="buyers", version=2)
    spec.handler(None, _envelope(entered))  # type: ignore[arg-type]
    assert seen == [ProfileChange("acme", "p-1", 2, audiences={"buyers": True})]

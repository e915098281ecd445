"""The lifecycle's tables, kinds, event mapping and refusals, without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from layercake.common.v1 import common_pb2
from services.kernel import rules
from services.kernel.assets import (
    ACTION_SCOPES,
    KINDS,
    TRANSITIONS,
    Action,
    Asset,
    AssetKind,
    AssetKindRegistry,
    AssetMetadata,
    Refusal,
)
from services.kernel.assets import events as ev
from services.kernel.assets.content import ChangeKind, FieldChange
from services.kernel.assets.mapping import field_change_message, from_stored, to_new_event
from services.kernel.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
    UnknownEventType,
)
from services.kernel.principals import Actor, Principal, PrincipalKind, Role
from services.kernel.rpc.status import from_rpc_error, to_status
from services.kernel.store.records import EventMetadata, StoredEvent
from tests.unit.kernel.test_status import decode, details_of

KIND = AssetKind("test_asset", common_pb2.Profile, frozenset({"owner"}))
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ANN = Principal("acme", Actor("ann", PrincipalKind.PERSON), frozenset({Role.EDITOR}))


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, set()),
        (Role.EDITOR, {Action.EDIT, Action.SUBMIT}),
        (Role.APPROVER, {Action.APPROVE, Action.REJECT}),
        (
            Role.OPERATOR,
            {Action.PUBLISH, Action.PAUSE, Action.RESUME, Action.ARCHIVE, Action.ROLLBACK},
        ),
        (Role.ADMIN, set(Action)),
    ],
)
def test_each_role_may_do_what_the_role_table_grants(role: Role, allowed: set[Action]) -> None:
    principal = Principal("acme", ANN.actor, frozenset({role}))
    assert {a for a in Action if principal.may(ACTION_SCOPES[a])} == allowed


def test_every_action_has_a_transition_row_and_nothing_leaves_archived() -> None:
    assert set(TRANSITIONS) == set(Action) == set(ACTION_SCOPES)
    assert all("archived" not in row for row in TRANSITIONS.values())


def test_a_kind_names_real_metadata_fields_and_registers_once() -> None:
    with pytest.raises(ValueError, match="no metadata field"):
        AssetKind("bad", common_pb2.Profile, frozenset({"colour"}))
    with pytest.raises(ValueError, match="must match"):
        AssetKind("Bad Kind", common_pb2.Profile)
    kinds = AssetKindRegistry()
    kinds.register(KIND)
    kinds.register(KIND)
    with pytest.raises(ValueError, match="already registered"):
        kinds.register(AssetKind("test_asset", common_pb2.Tenant))
    with pytest.raises(KeyError, match="no asset kind 'journey'"):
        kinds.get("journey")


def test_bad_ids_content_and_metadata_are_invalid_arguments_naming_the_field() -> None:
    with pytest.raises(InvalidArgument) as bad_id:
        Asset.blank("acme", KIND, "Not An Id")
    assert [v.field for v in bad_id.value.violations] == ["asset_id"]
    asset = Asset.blank("acme", KIND, "a1")
    with pytest.raises(InvalidArgument) as bad:
        asset.edit(ANN, common_pb2.Profile(), AssetMetadata(tags=("ok", "Not ok")), at=AT)
    assert [v.field for v in bad.value.violations] == ["metadata.tags[1]"]
    with pytest.raises(InvalidArgument) as wrong_type:
        asset.edit(ANN, common_pb2.Tenant(), AssetMetadata(), at=AT)
    assert [v.field for v in wrong_type.value.violations] == ["content"]
    assert not asset.pending


def test_the_kinds_validator_runs_when_a_draft_is_saved() -> None:
    def no_empty_profile_id(asset: str, content: object) -> list[FieldViolation]:
        assert isinstance(content, common_pb2.Profile) and asset == "strict a1"
        return [] if content.profile_id else [FieldViolation("profile_id", "is required")]

    strict = AssetKind("strict", common_pb2.Profile, validate=no_empty_profile_id)
    with pytest.raises(InvalidArgument, match="profile_id: is required"):
        Asset.blank("acme", strict, "a1").edit(ANN, common_pb2.Profile(), AssetMetadata(), at=AT)


def test_a_cel_compile_error_names_the_asset_field_and_position() -> None:
    def compile_conditions(asset: str, content: Message) -> list[FieldViolation]:
        assert isinstance(content, struct_pb2.Struct)
        texts = {f"when.{k}": v.string_value for k, v in content.fields.items()}
        rules.compile_rules(texts, rules.AUDIENCE, asset=asset)
        return []

    audience = AssetKind("test_audience", struct_pb2.Struct, validate=compile_conditions)
    asset = Asset.blank("acme", audience, "us-buyers")
    good = struct_pb2.Struct()
    good.update({"entry": 'profile.traits.country == "US"'})
    asset.edit(ANN, good, AssetMetadata(), at=AT)
    bad = struct_pb2.Struct()
    bad.update({"entry": 'profile.traits.country == "US"', "exit": "profile.traits.country =="})
    with pytest.raises(InvalidArgument) as refused:
        asset.edit(ANN, bad, AssetMetadata(tags=("Bad",)), at=AT)
    fields = {v.field: v.description for v in refused.value.violations}
    assert set(fields) == {"metadata.tags[0]", "when.exit"}
    assert fields["when.exit"].startswith("test_audience us-buyers at 1:")
    assert asset.get_version(1).content == good


def test_every_event_survives_the_trip_through_protobuf() -> None:
    kinds = AssetKindRegistry()
    kinds.register(KIND)
    change = ev.Change(ANN.actor, "why", AT)
    system = ev.Change(Actor.system("bot"), "", AT)
    content = common_pb2.Profile(profile_id="p1")
    content.consent["sms"] = True
    events = [
        ev.AssetCreated("acme", KIND, "a1", change),
        ev.AssetDraftSaved(1, content, AssetMetadata(owner="ann", tags=("x",)), change),
        ev.AssetSubmitted(1, system),
        ev.AssetApproved(1, change),
        ev.AssetRejected(1, change),
        ev.AssetPublished(1, "ab" * 32, change),
        ev.AssetPaused(1, change),
        ev.AssetResumed(1, change),
        ev.AssetRolledBack(3, 1, "ab" * 32, change),
        ev.AssetArchived(change),
        ev.AssetPolicySet("acme", False, change),
    ]
    for i, event in enumerate(events, start=1):
        new = to_new_event(event)
        stored = StoredEvent(
            i,
            "asset/acme/test_asset/a1",
            i,
            new.event_id,
            new.type,
            new.payload,
            EventMetadata("acme", ANN.actor),
            AT,
        )
        assert from_stored(stored, kinds) == event


def test_a_refusal_reaches_the_caller_with_its_reason_and_fields() -> None:
    error = FailedPrecondition(
        "test_asset 'a1' version 1 lacks metadata.owner",
        reason=Refusal.REQUIRED_METADATA_MISSING.value,
        violations=[FieldViolation("metadata.owner", "is required for a test_asset")],
    )
    status = to_status(error)
    assert status.code == grpc.StatusCode.FAILED_PRECONDITION
    rich = decode(status)
    (info,) = details_of(rich, error_details_pb2.ErrorInfo)
    assert info.reason == "REQUIRED_METADATA_MISSING"
    (bad,) = details_of(rich, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["metadata.owner"]


def test_a_field_change_becomes_json_values() -> None:
    added = field_change_message(FieldChange("content.tags[0]", ChangeKind.ADDED, None, {"a": 1}))
    assert added.path == "content.tags[0]" and not added.HasField("old_value")
    assert added.new_value.struct_value.fields["a"].number_value == 1


def test_a_peers_refusal_keeps_its_reason_and_fields() -> None:
    """A service calling another sees FOUR_EYES_REQUIRED, not a bare PERMISSION_DENIED."""
    for error in [
        PermissionDenied("ann edited it", reason=Refusal.FOUR_EYES_REQUIRED.value),
        FailedPrecondition(
            "lacks owner",
            reason=Refusal.REQUIRED_METADATA_MISSING.value,
            violations=[FieldViolation("metadata.owner", "is required")],
        ),
    ]:
        status = to_status(error)
        call = grpc.aio.AioRpcError(
            status.code,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(*status.trailing_metadata),
            details=status.details,
        )
        back = from_rpc_error(call)
        assert (type(back), back.reason, back.violations) == (
            type(error),
            error.reason,
            error.violations,
        )


def test_the_readme_example_runs() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("## Controlled assets: adding a kind", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    last = code.strip().splitlines()[-1].split("#")[0].strip()
    namespace: dict[str, Any] = {}
    try:
        exec(code.replace(last, f"digest = {last}"), namespace)
    finally:
        KINDS._kinds.pop("segment", None)
    assert len(namespace["digest"]) == 64
    assert [t.change.actor.id for t in namespace["asset"].history] == ["ann", "ann", "cat", "ops"]


def test_an_unknown_event_in_an_asset_stream_is_named_with_its_stream() -> None:
    kinds = AssetKindRegistry()
    kinds.register(KIND)
    stored = StoredEvent(
        1,
        "asset/acme/test_asset/a1",
        1,
        "e1",
        "layercake.x.v1.Later",
        b"",
        EventMetadata("acme", ANN.actor),
        AT,
    )
    with pytest.raises(UnknownEventType, match="asset/acme/test_asset/a1"):
        from_stored(stored, kinds)

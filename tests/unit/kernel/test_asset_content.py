"""Content hashes and field-by-field diffs over protobuf descriptors."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2

from layercake.common.v1 import asset_pb2, common_pb2
from services.kernel.assets import ChangeKind, FieldChange, content_hash, diff


def profile(**traits: str) -> common_pb2.Profile:
    p = common_pb2.Profile(tenant_id="acme", profile_id="p1", version=1)
    for name, value in traits.items():
        p.traits[name].json_value = value
    return p


def test_equal_content_hashes_equal_whatever_the_map_insertion_order() -> None:
    a, b = common_pb2.Profile(), common_pb2.Profile()
    for key in ["x", "y", "z"]:
        a.consent[key] = True
    for key in ["z", "y", "x"]:
        b.consent[key] = True
    assert content_hash(a) == content_hash(b)
    b.consent["x"] = False
    assert content_hash(a) != content_hash(b)
    assert len(content_hash(a)) == 64


def test_scalars_changed_and_unchanged() -> None:
    a, b = profile(), profile()
    b.version = 2
    assert diff(a, b) == [FieldChange("version", ChangeKind.CHANGED, 1, 2)]
    assert diff(a, a) == []


def test_repeated_fields_compare_by_position() -> None:
    a, b = profile(), profile()
    a.identifiers.add(type="email", value="a")
    b.identifiers.add(type="email", value="b")
    b.identifiers.add(type="cookie_id", value="c")
    assert diff(a, b) == [
        FieldChange("identifiers[0].value", ChangeKind.CHANGED, "a", "b"),
        FieldChange("identifiers[1]", ChangeKind.ADDED, None, {"type": "cookie_id", "value": "c"}),
    ]
    assert diff(b, a)[1] == FieldChange(
        "identifiers[1]", ChangeKind.REMOVED, {"type": "cookie_id", "value": "c"}
    )


def test_map_entries_added_removed_and_changed_inside_their_message() -> None:
    a, b = profile(kept="1", gone="2"), profile(kept="3", new="4")
    assert diff(a, b) == [
        FieldChange('traits["gone"]', ChangeKind.REMOVED, {"json_value": "2"}),
        FieldChange('traits["kept"].json_value', ChangeKind.CHANGED, "1", "3"),
        FieldChange('traits["new"]', ChangeKind.ADDED, None, {"json_value": "4"}),
    ]


def test_message_fields_added_removed_and_timestamps_compared_whole() -> None:
    a, b = profile(), profile()
    b.create_time.FromSeconds(60)
    assert diff(a, b) == [
        FieldChange("create_time", ChangeKind.ADDED, None, "1970-01-01T00:01:00Z")
    ]
    a.create_time.FromSeconds(30)
    assert diff(a, b) == [
        FieldChange(
            "create_time", ChangeKind.CHANGED, "1970-01-01T00:00:30Z", "1970-01-01T00:01:00Z"
        )
    ]
    assert diff(b, profile())[0].kind == ChangeKind.REMOVED


def test_enums_by_name_and_struct_fields_by_key() -> None:
    a = asset_pb2.AssetFieldChange(kind=asset_pb2.ASSET_FIELD_CHANGE_KIND_ADDED)
    b = asset_pb2.AssetFieldChange(kind=asset_pb2.ASSET_FIELD_CHANGE_KIND_REMOVED)
    b.new_value.CopyFrom(struct_pb2.Value(string_value="x"))
    assert diff(a, b, "content.") == [
        FieldChange(
            "content.kind",
            ChangeKind.CHANGED,
            "ASSET_FIELD_CHANGE_KIND_ADDED",
            "ASSET_FIELD_CHANGE_KIND_REMOVED",
        ),
        FieldChange("content.new_value", ChangeKind.ADDED, None, "x"),
    ]
    s, t = struct_pb2.Struct(), struct_pb2.Struct()
    s.update({"total": 20, "same": "x"})
    t.update({"total": 25, "same": "x"})
    assert diff(s, t) == [FieldChange('["total"]', ChangeKind.CHANGED, 20.0, 25.0)]


def test_different_types_do_not_diff() -> None:
    with pytest.raises(ValueError, match="cannot diff"):
        diff(common_pb2.Profile(), common_pb2.Tenant())

"""The gateway's public asset and facts messages, mapped from the internal ones."""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from layercake.common.v1 import asset_pb2 as internal
from layercake.common.v1 import common_pb2
from layercake.gateway.v1 import asset_pb2, facts_service_pb2
from layercake.orchestrator.v1 import facts_pb2, journey_pb2
from services.gateway import asset_mapping
from services.kernel.protobuf import as_twin


def test_a_version_shows_states_kinds_and_actors_as_the_kernels_strings() -> None:
    version = internal.AssetVersion(
        tenant_id="acme",
        kind="journey",
        asset_id="welcome",
        version=3,
        state=internal.ASSET_STATE_PAUSED,
        metadata=internal.AssetMetadata(owner="growth", tags=["a", "b"]),
        content_hash="ab" * 32,
        authors=[
            common_pb2.Actor(id="ann", kind=common_pb2.ACTOR_KIND_USER),
            common_pb2.Actor(id="crm", kind=common_pb2.ACTOR_KIND_SYSTEM),
        ],
        source_version=1,
        create_time=Timestamp(seconds=10),
    )
    public = asset_mapping.version_message(version)
    assert (public.kind, public.asset_id, public.version, public.state) == (
        "journey",
        "welcome",
        3,
        "paused",
    )
    assert list(public.authors) == ["person:ann", "system:crm"]
    assert public.metadata == asset_pb2.AssetMetadata(owner="growth", tags=["a", "b"])
    assert public.create_time.seconds == 10 and not public.HasField("update_time")


def test_a_field_change_keeps_only_the_values_it_has() -> None:
    added = internal.AssetFieldChange(
        path="content.priority", kind=internal.ASSET_FIELD_CHANGE_KIND_ADDED
    )
    added.new_value.number_value = 20
    public = asset_mapping.field_change_message(added)
    assert (public.kind, public.new_value.number_value) == ("added", 20)
    assert not public.HasField("old_value")


def test_a_definition_is_its_protobuf_json_with_the_yaml_field_names() -> None:
    journey = journey_pb2.Journey(journey_id="welcome", priority=5)
    journey.steps.add(id="done").exit.SetInParent()
    document = json_format.MessageToDict(asset_mapping.definition(journey))
    assert document == {
        "journey_id": "welcome",
        "priority": 5.0,
        "steps": [{"id": "done", "exit": {}}],
    }


def test_twins_carry_every_field_both_ways() -> None:
    level = facts_service_pb2.StockLevel(
        product="water",
        store="s-1",
        units=-2,
        observe_time=Timestamp(seconds=5, nanos=7),
        version=9,
    )
    inside = as_twin(level, facts_pb2.StockLevel)
    assert inside.SerializeToString(deterministic=True) == level.SerializeToString(
        deterministic=True
    )
    assert as_twin(inside, facts_service_pb2.StockLevel) == level

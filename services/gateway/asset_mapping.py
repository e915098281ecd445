"""Internal asset messages (`layercake.common.v1`) as the gateway's public ones.

The public API shows states, kinds and actors as the kernel's strings (`draft`, `added`,
`person:ann`); a definition travels as its protobuf JSON form, the shape Apply takes.
"""

from __future__ import annotations

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

from layercake.common.v1 import asset_pb2 as internal
from layercake.common.v1 import common_pb2
from layercake.gateway.v1 import asset_pb2 as pb
from services.kernel.assets.content import ChangeKind
from services.kernel.assets.lifecycle import Action, AssetState
from services.kernel.principals import PrincipalKind
from services.kernel.protobuf import as_twin

_STATES = {internal.AssetState.Value(f"ASSET_STATE_{s.name}"): s.value for s in AssetState}
_CHANGE_KINDS = {
    internal.AssetFieldChangeKind.Value(f"ASSET_FIELD_CHANGE_KIND_{k.name}"): k.value
    for k in ChangeKind
}
_ACTIONS: dict[Action, internal.AssetAction.ValueType] = {
    a: internal.AssetAction.Value(f"ASSET_ACTION_{a.name}") for a in Action if a is not Action.EDIT
}
_ACTOR_KINDS = {
    common_pb2.ACTOR_KIND_USER: PrincipalKind.PERSON.value,
    common_pb2.ACTOR_KIND_SYSTEM: PrincipalKind.SYSTEM.value,
}


def metadata_message(metadata: internal.AssetMetadata) -> pb.AssetMetadata:
    return as_twin(metadata, pb.AssetMetadata)


def internal_metadata(metadata: pb.AssetMetadata) -> internal.AssetMetadata:
    return as_twin(metadata, internal.AssetMetadata)


def action_message(action: Action) -> internal.AssetAction.ValueType:
    """A lifecycle action as the internal services' enum (identity takes it so)."""
    return _ACTIONS[action]


def actor_text(actor: common_pb2.Actor) -> str:
    """`person:ann`, `system:crm`: how principals are written everywhere else."""
    return f"{_ACTOR_KINDS.get(actor.kind, 'unknown')}:{actor.id}"


def version_message(version: internal.AssetVersion) -> pb.AssetVersion:
    message = pb.AssetVersion(
        kind=version.kind,
        asset_id=version.asset_id,
        version=version.version,
        state=_STATES.get(version.state, ""),
        metadata=metadata_message(version.metadata),
        content_hash=version.content_hash,
        authors=[actor_text(a) for a in version.authors],
        source_version=version.source_version,
    )
    if version.HasField("create_time"):
        message.create_time.CopyFrom(version.create_time)
    if version.HasField("update_time"):
        message.update_time.CopyFrom(version.update_time)
    return message


def field_change_message(change: internal.AssetFieldChange) -> pb.AssetFieldChange:
    message = pb.AssetFieldChange(path=change.path, kind=_CHANGE_KINDS.get(change.kind, ""))
    if change.HasField("old_value"):
        message.old_value.CopyFrom(change.old_value)
    if change.HasField("new_value"):
        message.new_value.CopyFrom(change.new_value)
    return message


def definition(content: Message) -> struct_pb2.Struct:
    """A definition in its protobuf JSON form (field names as written in YAML)."""
    document = struct_pb2.Struct()
    document.update(json_format.MessageToDict(content, preserving_proto_field_name=True))
    return document

"""Asset events <-> protobuf (`layercake.common.v1`): the one place that knows both.

Domain events and their messages share field names, so one codec maps them all; they
are registered in the kernel's `EventTypes` (schema versions, upcasters, one rule for
unknown types) like every other service's events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

from layercake.common.v1 import asset_pb2 as pb
from layercake.common.v1 import common_pb2
from services.kernel.assets import events as ev
from services.kernel.assets.asset import Asset, is_asset_stream, kind_of_stream
from services.kernel.assets.content import ChangeKind, FieldChange
from services.kernel.assets.kinds import AssetKind, AssetKindRegistry, AssetMetadata
from services.kernel.assets.lifecycle import Action, AssetState
from services.kernel.errors import InvalidArgument
from services.kernel.principals import Actor, PrincipalKind
from services.kernel.protobuf import from_timestamp, to_timestamp
from services.kernel.store.event_types import EventTypes
from services.kernel.store.records import NewEvent, StoredEvent

_KINDS = {PrincipalKind.PERSON: common_pb2.ACTOR_KIND_USER}
_KINDS[PrincipalKind.SYSTEM] = common_pb2.ACTOR_KIND_SYSTEM
_STATES = {s: pb.AssetState.Value(f"ASSET_STATE_{s.name}") for s in AssetState}
_CHANGE_KINDS = {
    k: pb.AssetFieldChangeKind.Value(f"ASSET_FIELD_CHANGE_KIND_{k.name}") for k in ChangeKind
}

# Decoding an asset's events needs its kind (content type); a policy's needs nothing.
Context = AssetKind | None


def _encoder(message_type: type[Message]) -> Callable[[Any, Context], Message]:
    def encode(event: Any, _kind: Context) -> Message:
        message = message_type()
        for f in fields(event):
            value = getattr(event, f.name)
            if f.name == "change":
                message.change.CopyFrom(_change(value))  # type: ignore[attr-defined]
            elif f.name == "content":
                message.content.Pack(value, deterministic=True)  # type: ignore[attr-defined]
            elif f.name == "metadata":
                message.metadata.CopyFrom(metadata_message(value))  # type: ignore[attr-defined]
            elif f.name == "kind":
                message.kind = value.name  # type: ignore[attr-defined]
            else:
                setattr(message, f.name, value)
        return message

    return encode


def _decoder(event_type: type[Any]) -> Callable[[Message, Context], Any]:
    def decode(message: Message, kind: Context) -> Any:
        values: dict[str, Any] = {}
        for f in fields(event_type):
            raw = getattr(message, f.name)
            if f.name == "change":
                values[f.name] = _from_change(raw)
            elif f.name == "metadata":
                values[f.name] = metadata_of(raw)
            elif f.name in {"kind", "content"}:
                if kind is None or (f.name == "kind" and raw != kind.name):
                    raise ValueError(f"{event_type.__name__} of kind {raw!r} read as {kind}")
                values[f.name] = kind if f.name == "kind" else _unpack(raw, kind)
            else:
                values[f.name] = raw
        return event_type(**values)

    return decode


# Every event of an asset's or a policy's stream; a new one is a message, a dataclass
# with the same field names, and a line here.
EVENTS: EventTypes[ev.AssetEvent | ev.PolicyEvent, Context] = EventTypes()
for _domain, _message in [
    (ev.AssetCreated, pb.AssetCreated),
    (ev.AssetDraftSaved, pb.AssetDraftSaved),
    (ev.AssetSubmitted, pb.AssetSubmitted),
    (ev.AssetApproved, pb.AssetApproved),
    (ev.AssetRejected, pb.AssetRejected),
    (ev.AssetPublished, pb.AssetPublished),
    (ev.AssetPaused, pb.AssetPaused),
    (ev.AssetResumed, pb.AssetResumed),
    (ev.AssetArchived, pb.AssetArchived),
    (ev.AssetRolledBack, pb.AssetRolledBack),
    (ev.AssetPolicySet, pb.AssetPolicySet),
]:
    EVENTS.register(_message, _domain, encode=_encoder(_message), decode=_decoder(_domain))


def to_new_event(event: ev.AssetEvent | ev.PolicyEvent) -> NewEvent:
    """The event as the store keeps it: its message serialized, typed by the message name."""
    return EVENTS.new_event(event, None)


def from_stored(stored: StoredEvent, kinds: AssetKindRegistry) -> ev.AssetEvent | ev.PolicyEvent:
    """The domain event of a stored one; content is decoded as its kind's message type
    (the kind named in the stream id), so a stream can never hold another kind's content.
    An unknown type is UnknownEventType, as everywhere in the kernel."""
    kind = (
        kinds.get(kind_of_stream(stored.stream_id)) if is_asset_stream(stored.stream_id) else None
    )
    return EVENTS.decode(stored, kind)


def _unpack(packed: Any, kind: AssetKind) -> Message:
    content = kind.content_type()
    if not packed.Unpack(content):
        raise ValueError(f"content of type {packed.type_url} is not a {kind.name}")
    return content


def metadata_message(metadata: AssetMetadata) -> pb.AssetMetadata:
    return pb.AssetMetadata(
        display_name=metadata.display_name,
        description=metadata.description,
        owner=metadata.owner,
        team=metadata.team,
        support_contact=metadata.support_contact,
        tags=list(metadata.tags),
    )


def metadata_of(message: pb.AssetMetadata) -> AssetMetadata:
    return AssetMetadata(
        message.display_name,
        message.description,
        message.owner,
        message.team,
        message.support_contact,
        tuple(message.tags),
    )


def actor_message(actor: Actor) -> common_pb2.Actor:
    return common_pb2.Actor(id=actor.id, kind=_KINDS[actor.kind])


def state_message(state: AssetState) -> pb.AssetState.ValueType:
    return _STATES[state]


def version_message(asset: Asset, number: int) -> pb.AssetVersion:
    """The `AssetVersion` summary APIs answer with."""
    v = asset.get_version(number)
    return pb.AssetVersion(
        tenant_id=asset.tenant_id,
        kind=asset.kind.name if asset.kind else "",
        asset_id=asset.asset_id,
        version=v.number,
        state=_STATES[v.state],
        metadata=metadata_message(v.metadata),
        content_hash=v.content_hash,
        authors=[actor_message(a) for a in sorted(v.authors, key=str)],
        source_version=v.source_version,
        create_time=to_timestamp(v.create_time),
        update_time=to_timestamp(v.update_time),
    )


def field_change_message(change: FieldChange) -> pb.AssetFieldChange:
    message = pb.AssetFieldChange(path=change.path, kind=_CHANGE_KINDS[change.kind])
    if change.kind != ChangeKind.ADDED:
        message.old_value.CopyFrom(_json_value(change.old))
    if change.kind != ChangeKind.REMOVED:
        message.new_value.CopyFrom(_json_value(change.new))
    return message


def _json_value(value: Any) -> struct_pb2.Value:
    return json_format.ParseDict(value, struct_pb2.Value())


def _change(change: ev.Change) -> pb.AssetChange:
    return pb.AssetChange(
        actor=actor_message(change.actor),
        reason=change.reason,
        change_time=to_timestamp(change.time),
    )


def _from_change(message: pb.AssetChange) -> ev.Change:
    kind = PrincipalKind.SYSTEM
    if message.actor.kind == common_pb2.ACTOR_KIND_USER:
        kind = PrincipalKind.PERSON
    return ev.Change(
        Actor(message.actor.id, kind), message.reason, from_timestamp(message.change_time)
    )


_ACTIONS = {pb.AssetAction.Value(f"ASSET_ACTION_{a.name}"): a for a in Action if a != Action.EDIT}


def action_of(value: pb.AssetAction.ValueType) -> Action:
    """The lifecycle action a Transition request names; INVALID_ARGUMENT naming `action`."""
    action = _ACTIONS.get(value)
    if action is None:
        raise InvalidArgument.field(
            "action",
            "must be one of submit, approve, reject, publish, pause, resume, archive, rollback",
        )
    return action

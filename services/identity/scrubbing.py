"""A forgotten person's stored events, their clear identifier values scrubbed.

Trait values and event details are sealed with the profile's key, so deleting the key
erases them; identifiers are kept in clear (cookie, device and CRM ids) or as the
tenant's keyed digest (emails, phones), for matching. Forgetting rewrites the person's
events so each clear value becomes its suppression digest (the tenant's keyed hash of
`<type>:<value>`, marked hashed): the events still replay (the profile is forgotten at
their end), a later event carrying the value is still recognised, and no clear value
is left. Every identifier nested anywhere in a stored event is found by its proto type.

The integration events identity publishes that carry a person's data are erased from the
streams instead (`PERSONAL_EVENTS`).
"""

from __future__ import annotations

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message

from layercake.common.v1 import common_pb2
from layercake.events.v1 import identity_events_pb2 as ie
from services.identity.domain.identifiers import Hasher, Identifier

IDENTIFIER = common_pb2.Identifier.DESCRIPTOR.full_name

# Identity's integration events that carry a person's data (identifiers, traits, computed
# values, audiences): forgetting erases them from the streams. Merges, unmerges and the
# forget itself carry only ids, and followers need them to route what they hold.
PERSONAL_EVENTS = frozenset(
    m.DESCRIPTOR.full_name
    for m in (ie.ProfileUpdated, ie.ComputedTraitChanged, ie.AudienceEntered, ie.AudienceExited)
)


def scrubbed(
    type_name: str, payload: bytes, hasher: Hasher, only: frozenset[str] | None = None
) -> bytes | None:
    """The stored event's payload with its clear identifiers as digests (`only` those with
    these digests: a split-off person's, in the events of the profile they left); None when
    it holds none (nothing to rewrite)."""
    descriptor = descriptor_pool.Default().FindMessageTypeByName(type_name)
    message = message_factory.GetMessageClass(descriptor).FromString(payload)
    return message.SerializeToString() if _scrub(message, hasher, only) else None


def _scrub(message: Message, hasher: Hasher, only: frozenset[str] | None) -> bool:
    if message.DESCRIPTOR.full_name == IDENTIFIER:
        identifier = message
        assert isinstance(identifier, common_pb2.Identifier)
        if identifier.hashed or not identifier.value:
            return False
        digest = hasher(Identifier(identifier.type, identifier.value).key)
        if only is not None and digest not in only:
            return False
        identifier.value, identifier.hashed = digest, True
        return True
    changed = False
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is None:
                continue
            items = list(value.values())
        else:
            items = list(value) if field.is_repeated else [value]
        for item in items:
            changed = _scrub(item, hasher, only) or changed
    return changed

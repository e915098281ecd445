"""Forgetting a person (GDPR erasure) and refusing them afterwards: identity's service layer.

`forget_profile` appends `ProfileForgotten` (the projection deletes the read models and
lists the person's identifiers as suppressed), turns the clear identifier values of their
events and unrelayed messages into digests (scrubbing.py), deletes the keys sealing their
personal data, queues their raw messages in `INGEST` and the messages identity published
about them in `IDENTITY` for erasure (stream_eraser.py), asks for a sweep of the tenant's
dead letters (copies of either a consumer set aside), and publishes the integration
event. A message about them the relay settles after the forget is queued by the relay's
hook (store/forgetting.py `record_relayed`), so none is left behind.
`ingest_event` is how every ingested event enters identity: one that carries a
forgotten identifier is recorded as suppressed, never resolved, retried nor
dead-lettered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

from services.identity import handlers, mapping
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.forgetting import (
    FORGOTTEN,
    Forgotten,
    Suppressed,
    suppression_digests,
)
from services.identity.domain.identifiers import Identifier
from services.identity.domain.profile import Profile
from services.identity.domain.rules import IdentifierRules
from services.identity.domain.segments import NONE as NO_SEGMENTS
from services.identity.domain.segments import Segments
from services.identity.ports import IdentityUnitOfWork, StreamMessage, Sweep
from services.identity.rules_cache import RulesCache, TenantRules, published_rules
from services.identity.scrubbing import PERSONAL_EVENTS, scrubbed
from services.kernel import telemetry
from services.kernel.assets.policy import authorize
from services.kernel.messaging.envelope import Envelope
from services.kernel.principals import Principal, Scope
from services.kernel.store.records import EventMetadata

log = logging.getLogger(__name__)


def forget_profile(
    uow: IdentityUnitOfWork,
    principal: Principal,
    profile_ref: str,
    request_id: str,
    rules: TenantRules = published_rules,
) -> Forgotten:
    """Forgets the profile `profile_ref` names (an alias: the profile it was merged into) and
    the profiles merged into it. PERMISSION_DENIED without `profiles:write` in the tenant;
    NOT_FOUND once forgotten. Commits: the keys are gone whatever happens next."""
    tenant = principal.tenant_id
    authorize(principal, tenant, Scope.PROFILES_WRITE, "forgetting a profile")
    profile = handlers.get_profile(uow, tenant, profile_ref, rules)
    aliases = all_aliases(uow, profile)
    at = uow.now()
    hasher = uow.tenant_keys.hasher(tenant, at)
    digests = suppression_digests(profile.identifiers, hasher)
    profile.forget(aliases, digests, at, request_id)
    traceparent = telemetry.current_traceparent()
    metadata = EventMetadata(
        tenant_id=tenant,
        actor=principal.actor,
        causation_id=request_id[:64],
        correlation_id=request_id[:64],
        traceparent=traceparent,
    )
    uow.profiles.save(profile, metadata)
    forgotten = Forgotten(profile.profile_id, tuple(sorted(aliases)), at)
    for profile_id in forgotten.profile_ids:  # computed traits' windows of their events
        for name in uow.computed_windows.of_profile(tenant, profile_id):
            uow.computed_windows.delete(tenant, profile_id, name)
    # clear identifier values leave their events and unrelayed messages too; then (the
    # unrelayed ones locked) every stream message of theirs is queued for erasure
    uow.forgetting.scrub(tenant, forgotten.profile_ids, partial(scrubbed, hasher=hasher))
    if left := _split_from(uow, tenant, forgotten.profile_ids):  # their events hold some too
        only = frozenset(digests)
        uow.forgetting.scrub(tenant, left, partial(scrubbed, hasher=hasher, only=only))
    uow.forgetting.erase_messages_of(tenant, forgotten.profile_ids, at)
    uow.forgetting.sweep_dead_letters(tenant, at)  # copies a consumer set aside
    uow.vault.delete_keys(tenant, forgotten.profile_ids)
    uow.publish(
        mapping.profile_forgotten(tenant, forgotten, profile.version, request_id, traceparent)
    )
    log.info(
        "profile forgotten",
        extra={"tenant": tenant, "profile_id": profile.profile_id, "aliases": len(aliases)},
    )
    uow.commit()
    return forgotten


def _split_from(uow: IdentityUnitOfWork, tenant_id: str, profile_ids: Sequence[str]) -> list[str]:
    """The profiles these were split off by an unmerge, with those merged into them."""
    found: set[str] = set()
    for origin in uow.forgetting.split_from(tenant_id, profile_ids) - set(profile_ids):
        found |= {origin, *all_aliases(uow, uow.profiles.get(tenant_id, origin))}
    return sorted(found - set(profile_ids))


def all_aliases(uow: IdentityUnitOfWork, profile: Profile) -> set[str]:
    """Every profile merged into `profile`, directly or through another merged one."""
    found: set[str] = set()
    todo = list(profile.aliases)
    while todo:
        alias = todo.pop()
        if alias not in found:
            found.add(alias)
            todo.extend(uow.profiles.get(profile.tenant_id, alias).aliases)
    return found


def ingest_event(
    uow: IdentityUnitOfWork,
    cmd: ApplyIngestedEvent,
    causation_id: str,
    rules: IdentifierRules,
    segments: Segments = NO_SEGMENTS,
    stream_sequence: int = 0,
    suppress_forgotten: bool = True,
    identifiers: tuple[Identifier, ...] | None = None,
) -> Profile | None:
    """Applies an ingested event and records which profile its raw message fed (so forgetting
    can erase it); a suppressed one is recorded with its reason and queued for erasure.
    `identifiers`: the event's, when the batch's warm step normalised them already."""
    try:
        profile = handlers.apply_ingested_event(
            uow, cmd, causation_id, rules, segments, suppress_forgotten, identifiers
        )
    except Suppressed as e:
        at = uow.now()
        uow.forgetting.suppress_message(cmd.tenant_id, cmd.message_id, FORGOTTEN, at)
        if stream_sequence:
            uow.forgetting.erase_message(cmd.tenant_id, stream_sequence, at)
        log.info(
            "message suppressed",
            extra={"tenant": cmd.tenant_id, "message_id": cmd.message_id, "reason": e.reason},
        )
        return None
    if stream_sequence:
        uow.forgetting.record_message(cmd.tenant_id, profile.profile_id, stream_sequence)
    return profile


def forgotten_events(
    uow: IdentityUnitOfWork, tenant_id: str, events: Sequence[Envelope], rules: RulesCache
) -> set[str]:
    """The ids of the events, among one message's (raw, or a dead letter's copy), that hold
    a forgotten person's data: ingested ones carrying a forgotten identifier, identity's own
    about a forgotten profile. What erasing that message removes (the rest are other
    people's). An event that cannot be read as an ingested one fed nobody, and is kept."""
    about = [e.subject_ref for e in events if e.type in PERSONAL_EVENTS]
    forgotten = uow.forgetting.forgotten_among(tenant_id, about) if about else set()
    found = {e.event_id for e in events if e.type in PERSONAL_EVENTS and e.subject_ref in forgotten}
    tenant_rules = rules.get(uow, tenant_id)
    for envelope in events:
        if envelope.type != mapping.EVENT_INGESTED:
            continue
        try:
            cmd = mapping.command_from_ingested(envelope.payload)
        except Exception:  # undecodable: the consumer refused it too
            continue
        if handlers.carries_forgotten(uow, cmd, tenant_rules):
            found.add(envelope.event_id)
    return found


def rewritten(
    uow: IdentityUnitOfWork,
    tenant_id: str,
    old_sequence: int,
    new_sequence: int,
    kept: Sequence[Envelope],
    rules: RulesCache,
) -> None:
    """A raw message was written again at `new_sequence` without a forgotten person's events:
    the profiles it fed are now fed by the new one; and when one of the kept events became a
    forgotten person's meanwhile (a forget that raced the erasure), the new one is queued."""
    uow.forgetting.move_messages(tenant_id, old_sequence, new_sequence)
    if forgotten_events(uow, tenant_id, kept, rules):
        uow.forgetting.erase_message(tenant_id, new_sequence, uow.now())
    uow.commit()


def pending_sweeps(uow: IdentityUnitOfWork, limit: int) -> list[Sweep]:
    """Tenants whose dead letters are still to look through."""
    return uow.forgetting.pending_sweeps(limit)


def swept(uow: IdentityUnitOfWork, sweep: Sweep, sequences: list[int]) -> None:
    uow.forgetting.swept(sweep, sequences, uow.now())
    uow.commit()


def pending_erasures(uow: IdentityUnitOfWork, limit: int) -> list[StreamMessage]:
    """Stream messages still to erase."""
    return uow.forgetting.pending_erasures(limit)


def erased(uow: IdentityUnitOfWork, messages: list[StreamMessage]) -> None:
    uow.forgetting.erased(messages)
    uow.commit()

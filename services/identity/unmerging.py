"""The unmerge command: an admin splits a wrongly merged profile by identifiers.

Both sides are re-derived from the events that belong to each (domain/unmerge.py): traits
and consent, then computed traits (their windows rebuilt) and audiences. `ProfileUnmerged`
is published, then a `ProfileUpdated` per profile carrying its whole re-derived state
(followers drop what they held and take it), then each side's computed-trait and audience
changes.
"""

from __future__ import annotations

import uuid

from services.identity import mapping, segmenting
from services.identity.domain.identifiers import Identifier
from services.identity.domain.profile import Profile
from services.identity.domain.unmerge import received, sides, unmerge
from services.identity.forgetting import all_aliases
from services.identity.handlers import get_profile, identifier_ref
from services.identity.ports import IdentityUnitOfWork
from services.identity.rules_cache import TenantRules, published_rules
from services.identity.segments_cache import live_segments
from services.kernel import telemetry
from services.kernel.errors import FailedPrecondition, InvalidArgument, PermissionDenied, Violations
from services.kernel.principals import Principal, Scope
from services.kernel.store.records import EventMetadata

MAX_IDENTIFIERS = 100


def _moved(
    uow: IdentityUnitOfWork, tenant_id: str, refs: list[str], rules: TenantRules
) -> set[Identifier]:
    bad = Violations()
    if not refs:
        bad.add("identifiers", "name at least one `<type>:<value>` to split off")
    if len(refs) > MAX_IDENTIFIERS:
        bad.add("identifiers", f"at most {MAX_IDENTIFIERS} at a time")
    bad.raise_if_any()
    moved: set[Identifier] = set()
    for n, text in enumerate(refs):
        ref = identifier_ref(uow, tenant_id, text, f"identifiers[{n}]", rules)
        if isinstance(ref, str):
            raise InvalidArgument.field(f"identifiers[{n}]", "must be `<type>:<value>`")
        if ref is None:
            raise FailedPrecondition(f"the profile holds no identifier identifiers[{n}]")
        moved.add(ref)
    return moved


def unmerge_profile(
    uow: IdentityUnitOfWork,
    principal: Principal,
    profile_ref: str,
    identifier_refs: list[str],
    request_id: str,
    reason: str = "",
    rules: TenantRules = published_rules,
) -> tuple[Profile, Profile]:
    """Splits the identifiers off the profile into a new one; returns (the profile, the new
    one), both re-derived. Commits."""
    if not principal.may(Scope.PROFILES_WRITE):
        raise PermissionDenied(f"unmerging needs the {Scope.PROFILES_WRITE.value} scope")
    tenant = principal.tenant_id
    profile = get_profile(uow, tenant, profile_ref, rules)
    moved = _moved(uow, tenant, identifier_refs, rules)
    events = received(profile.profile_id, lambda p: uow.profiles.events(tenant, p))
    at = uow.now()
    start = profile.version
    split_off = unmerge(profile, moved, events, str(uuid.uuid4()), request_id, at, reason[:500])
    changes = {p.profile_id: list(p.pending) for p in (profile, split_off)}
    segments = live_segments(uow, tenant)
    for side, its_events in zip(
        (profile, split_off), sides(events, profile.identifiers, moved), strict=True
    ):
        segmenting.rederive_segments(uow, side, its_events, segments)
    segment_changes = {
        p.profile_id: list(p.pending)[len(changes[p.profile_id]) :] for p in (profile, split_off)
    }
    traceparent = telemetry.current_traceparent()
    metadata = EventMetadata(
        tenant_id=tenant,
        actor=principal.actor,
        correlation_id=request_id[:64],
        traceparent=traceparent,
    )
    uow.profiles.save(profile, metadata)  # first: it lets go of the identifiers
    uow.profiles.save(split_off, metadata)
    # its raw messages, those published about it and its events were the profile's
    fed = [profile.profile_id, *sorted(all_aliases(uow, profile))]
    uow.forgetting.split_off(tenant, fed, split_off.profile_id)
    uow.publish(mapping.profile_unmerged(profile, split_off, request_id, at, traceparent))
    for p in (profile, split_off):
        sealer = uow.vault.cipher(tenant, p.profile_id)
        assert sealer is not None, "both were just saved"
        uow.publish(
            mapping.profile_updated(p, changes[p.profile_id], request_id, traceparent, sealer)
        )
    for p, base in ((profile, start), (split_off, 0)):  # versions after the re-derivation's
        first = base + len(changes[p.profile_id])
        segmenting.publish_segment_changes(uow, p, first, segment_changes[p.profile_id])
    uow.commit()
    return profile, split_off

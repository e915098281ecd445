"""Identity's service layer: one function per command, each inside a unit of work."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Sequence

from layercake.identity.v1.identifier_rules_pb2 import IdentifierRules as IdentifierRulesProto
from services.identity import mapping, segmenting
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.errors import BadIdentifier
from services.identity.domain.events import EventReceived
from services.identity.domain.forgetting import Suppressed, suppression_digests
from services.identity.domain.identifiers import Hasher, Identifier, normalise, split_ref
from services.identity.domain.profile import Profile
from services.identity.domain.resolution import resolve
from services.identity.domain.rule_content import ASSET_ID, IDENTIFIER_RULES
from services.identity.domain.rules import DEFAULT_RULES, IdentifierRules
from services.identity.domain.segments import NONE as NO_SEGMENTS
from services.identity.domain.segments import Segments
from services.identity.ports import IdentityUnitOfWork
from services.identity.rules_cache import TenantRules, published_rules
from services.kernel import telemetry
from services.kernel.assets import LIVE_CHANGES, Action, Asset, AssetMetadata
from services.kernel.assets.handlers import edit_asset, transition_asset
from services.kernel.clipping import clip
from services.kernel.errors import InvalidArgument, LayercakeError, NotFound, Violations
from services.kernel.ids import new_id
from services.kernel.principals import Actor, Principal
from services.kernel.store.records import EventMetadata
from services.kernel.vocabulary import is_identifier_type

log = logging.getLogger(__name__)

# Ingested events carry no principal of their own yet: the pipeline acts for them.
INGEST = Actor.system("identity-ingest")


def event_identifiers(
    cmd: ApplyIngestedEvent, rules: IdentifierRules, hasher: Hasher
) -> tuple[Identifier, ...]:
    """The event's identifiers and its identifier traits, normalised; junk values left out."""
    raw = list(cmd.identifiers)
    for trait, type_name in sorted(rules.traits.items()):
        value = json.loads(cmd.traits[trait]) if trait in cmd.traits else None
        if isinstance(value, str):
            raw.append((type_name, value))
    found = (normalise(t, v, rules, hasher) for t, v in raw)
    return tuple(dict.fromkeys(i for i in found if i is not None))


def carries_forgotten(
    uow: IdentityUnitOfWork, cmd: ApplyIngestedEvent, rules: IdentifierRules
) -> bool:
    """True when the event carries a forgotten person's identifier (as ingest would find)."""
    hasher = uow.tenant_keys.hasher(cmd.tenant_id, uow.now())
    digests = suppression_digests(event_identifiers(cmd, rules, hasher), hasher)
    return bool(digests) and uow.forgetting.suppressed(cmd.tenant_id, digests)


def prefetch_ingested(
    uow: IdentityUnitOfWork,
    cmds: Sequence[ApplyIngestedEvent],
    rules: Callable[[str], IdentifierRules],
    suppress_forgotten: bool = True,
) -> list[tuple[Identifier, ...] | None]:
    """Reads at once, per tenant, what resolving `cmds` one by one will read: who holds
    their identifiers and whether any is a forgotten person's (index seeks, one query each).
    Returns each command's identifiers (`event_identifiers`; None where they are bad), for
    its `apply_ingested_event` in the same transaction."""
    by_tenant: dict[str, list[int]] = {}
    for n, cmd in enumerate(cmds):
        by_tenant.setdefault(cmd.tenant_id, []).append(n)
    found: list[tuple[Identifier, ...] | None] = [None] * len(cmds)
    for tenant, mine in by_tenant.items():
        hasher = uow.tenant_keys.hasher(tenant, uow.now())
        tenant_rules = rules(tenant)
        identifiers: list[Identifier] = []
        for n in mine:
            with contextlib.suppress(LayercakeError, ValueError):  # its handler will say
                found[n] = event_identifiers(cmds[n], tenant_rules, hasher)
                identifiers += found[n] or ()
        if suppress_forgotten:
            uow.forgetting.prefetch(tenant, suppression_digests(identifiers, hasher))
        uow.profiles.prefetch(tenant, identifiers)
    return found


def apply_ingested_event(
    uow: IdentityUnitOfWork,
    cmd: ApplyIngestedEvent,
    causation_id: str,
    rules: IdentifierRules = DEFAULT_RULES,
    segments: Segments = NO_SEGMENTS,
    suppress_forgotten: bool = True,
    identifiers: tuple[Identifier, ...] | None = None,
) -> Profile:
    """Resolves the event's identifiers to a profile (merging those they join), folds in
    its traits and consent, counts it in the computed traits that read it and evaluates
    the audiences. Suppressed when it carries a forgotten person's identifier (unless
    `suppress_forgotten` is off) or meets a forgotten profile. `identifiers` are the
    event's as `prefetch_ingested` found them in this transaction (normalised once).

    Runs in the caller's transaction: a racing writer's append makes it ConcurrencyError,
    which the consumer retries. Publishes `ProfilesMerged`, `ProfileUpdated`,
    `ComputedTraitChanged`, `AudienceEntered` and `AudienceExited`.
    """
    if not cmd.identifiers:
        raise BadIdentifier(f"message {cmd.message_id} carries no identifiers")
    hasher = uow.tenant_keys.hasher(cmd.tenant_id, uow.now())
    if identifiers is None:
        identifiers = event_identifiers(cmd, rules, hasher)
    if not identifiers:
        raise BadIdentifier(f"message {cmd.message_id} carries only blocklisted identifiers")
    digests = suppression_digests(identifiers, hasher) if suppress_forgotten else ()
    if digests and uow.forgetting.suppressed(cmd.tenant_id, digests):
        raise Suppressed(f"message {cmd.message_id} carries a forgotten person's identifier")
    repo = uow.profiles
    resolved = resolve(
        identifiers,
        cmd.event_time,
        cmd.message_id,
        cmd.tenant_id,
        rules,
        owners=lambda ids: repo.owners(cmd.tenant_id, ids),
        load=lambda profile_id: _live(uow, repo.get(cmd.tenant_id, profile_id)),
        new_id=new_id,
    )
    profile = resolved.profile
    if resolved.plan.dropped:
        log.info(
            "identifiers dropped",
            extra={
                "tenant": cmd.tenant_id,
                "profile_id": profile.profile_id,
                "reasons": sorted({r for _, r in resolved.plan.dropped}),
                "message_id": cmd.message_id,
            },
        )
    dropped = {i for i, _ in resolved.plan.dropped}
    profile.take(
        EventReceived(
            cmd.message_id,
            cmd.event_time,
            tuple(i for i in identifiers if i not in dropped),
            dict(cmd.traits),
            dict(cmd.consent),
            cmd.event_type,
            cmd.event_name,
            cmd.consent_source,
            # kept (sealed) for a track event, so an unmerge can re-derive computed traits
            dict(cmd.properties) if cmd.event_name else {},
            dict(cmd.context) if cmd.event_name else {},
        )
    )
    segmenting.count_event(uow, profile, segments, cmd, resolved.plan.absorbed)
    # what a follower holds changed (save() clears pending)
    changes = profile.news()
    recorded = [(p, p.version, list(p.pending)) for p in resolved.changed]
    traceparent = telemetry.current_traceparent()
    metadata = EventMetadata(
        tenant_id=cmd.tenant_id,
        actor=INGEST,
        causation_id=causation_id,
        correlation_id=cmd.message_id[:64],
        traceparent=traceparent,
    )
    for changed in resolved.changed:
        repo.save(changed, metadata)
    sealer = uow.vault.cipher(cmd.tenant_id, profile.profile_id)
    assert sealer is not None, "save() created the key of a new profile"
    if not changes and not resolved.plan.absorbed:
        return profile  # kept the event, changed nothing a follower holds
    if resolved.plan.absorbed:
        uow.publish(
            mapping.profiles_merged(
                profile, resolved.plan.absorbed, cmd.event_time, cmd.message_id, traceparent
            )
        )
    uow.publish(mapping.profile_updated(profile, changes, cmd.message_id, traceparent, sealer))
    for changed, start, events in recorded:
        segmenting.publish_segment_changes(uow, changed, start, events)
    return profile


def _live(uow: IdentityUnitOfWork, profile: Profile) -> Profile:
    """A profile resolution may join: never a forgotten one (nor one whose key is gone, as
    when a forget's keys were deleted and its transaction then failed), whatever the
    settings."""
    if profile.forgotten or uow.vault.cipher(profile.tenant_id, profile.profile_id) is None:
        raise Suppressed(f"profile {profile.profile_id} was forgotten")
    return profile


def edit_identifier_rules(
    uow: IdentityUnitOfWork,
    principal: Principal,
    content: IdentifierRulesProto,
    metadata: AssetMetadata,
    reason: str = "",
) -> Asset:
    """Saves a draft of the tenant's identifier rules (checked: INVALID_ARGUMENT per field)."""
    at = uow.now()
    return edit_asset(
        uow.assets,
        principal,
        IDENTIFIER_RULES.name,
        ASSET_ID,
        content,
        metadata,
        at=at,
        reason=reason,
    )


def transition_identifier_rules(
    uow: IdentityUnitOfWork,
    principal: Principal,
    action: Action,
    reason: str = "",
    to_version: int = 0,
) -> Asset:
    """Submit, approve, publish... the rules; a change of what is live tells every replica."""
    at = uow.now()
    asset = transition_asset(
        uow.assets,
        principal,
        IDENTIFIER_RULES.name,
        ASSET_ID,
        action,
        at=at,
        reason=reason,
        to_version=to_version,
    )
    if action in LIVE_CHANGES:
        live = asset.live_version
        uow.publish(
            mapping.identifier_rules_published(
                principal.tenant_id,
                live.number if live else 0,
                live.content_hash if live else "",
                at,
                telemetry.current_traceparent(),
            )
        )
    return asset


def get_profile(
    uow: IdentityUnitOfWork, tenant_id: str, profile_ref: str, rules: TenantRules = published_rules
) -> Profile:
    """A profile by id, alias (answers the survivor) or `type:value` identifier, as its
    stream holds it (links with provenance, consent with source and time, aliases).
    `rules` gives the tenant's published identifier rules (a cache on the read path)."""
    bad = Violations()
    bad.require_tenant(tenant_id)
    bad.require(profile_ref, "profile_ref")
    bad.raise_if_any()
    ref = identifier_ref(uow, tenant_id, profile_ref, "profile_ref", rules)
    found = None if ref is None else uow.profiles.live(tenant_id, ref)
    if found is None:
        raise NotFound(f"no profile {redacted(profile_ref)}")
    return found


def identifier_ref(
    uow: IdentityUnitOfWork,
    tenant_id: str,
    text: str,
    field: str,
    rules: TenantRules = published_rules,
) -> Identifier | str | None:
    """`type:value` as the tenant's identifier (normalised under its published rules, hashed
    with its key), else `text` as a profile id; None for an identifier no profile can hold."""
    split = split_ref(text)
    if split is None or not is_identifier_type(split[0]):
        return text
    tenant_rules = rules(uow, tenant_id)  # the tenant's region and blocklist
    try:
        return normalise(*split, tenant_rules, uow.tenant_keys.existing(tenant_id) or _no_key)
    except BadIdentifier as e:
        raise InvalidArgument.field(field, str(e)) from e
    except _NoKey:
        return None  # the tenant hashed nothing yet: no profile holds it


def redacted(profile_ref: str) -> str:
    """A reference fit for errors and logs: an identifier's type and a hash prefix of its
    value (never the value: it is personal data), a profile id clipped."""
    split = split_ref(profile_ref)
    if split is None or not is_identifier_type(split[0]):
        return repr(clip(profile_ref, 80))
    digest = hashlib.sha256(split[1].encode()).hexdigest()[:8]
    return f"{split[0]}:#{digest}"


class _NoKey(Exception):
    """A read needed a hash while the tenant has no key yet."""


def _no_key(value: str) -> str:
    raise _NoKey

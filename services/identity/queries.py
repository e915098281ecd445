"""Identity's read side beyond GetProfile: trait history, the event timeline, search.

History and timeline are read from the events that belong to the profile (those it
and the profiles merged into it took, that carried an identifier it holds: see
domain/unmerge.py), so they stay right through merges and unmerges.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from services.identity.domain.events import EventReceived, TraitValue
from services.identity.domain.profile import Profile
from services.identity.domain.unmerge import belonging, received
from services.identity.handlers import get_profile
from services.identity.ports import IdentityUnitOfWork
from services.identity.rules_cache import TenantRules, published_rules
from services.identity.store.trait_index import MAX_TRAIT, searchable
from services.kernel.errors import PermissionDenied, Violations
from services.kernel.pagination import Page, page_request, paged
from services.kernel.principals import Principal, Scope

log = logging.getLogger(__name__)

DEFAULT_PAGE, MAX_PAGE = 50, 500
T = TypeVar("T")


@dataclass(frozen=True)
class TraitChange:
    """A value an event set a trait to (the profile holds the latest by event time)."""

    trait: str
    json_value: str
    set_time: datetime
    message_id: str


def _time_key(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%S%f")


def profile_events(
    uow: IdentityUnitOfWork, tenant_id: str, profile_ref: str, rules: TenantRules = published_rules
) -> list[EventReceived]:
    """The events that belong to the profile, oldest first."""
    profile = get_profile(uow, tenant_id, profile_ref, rules)
    events = received(profile.profile_id, lambda p: uow.profiles.events(tenant_id, p))
    return belonging(events, profile.identifiers, keeps_unidentified=True)


def _newest_first(keyed: list[tuple[str, T]], page_size: int, page_token: str) -> Page[T]:
    """A page of items by key, newest (greatest key) first, after the token's key."""
    after, limit = page_request(page_size, page_token, DEFAULT_PAGE, MAX_PAGE)
    ordered = sorted(keyed, key=lambda k: k[0], reverse=True)
    page = paged([k for k in ordered if not after or k[0] < after][: limit + 1], limit, _key)
    return Page([item for _, item in page.items], page.next_page_token)


def _key(keyed: tuple[str, object]) -> str:
    return keyed[0]


def list_profile_events(
    uow: IdentityUnitOfWork,
    tenant_id: str,
    profile_ref: str,
    page_size: int,
    page_token: str,
    rules: TenantRules = published_rules,
) -> Page[EventReceived]:
    events = profile_events(uow, tenant_id, profile_ref, rules)
    keyed = [(f"{_time_key(e.event_time)}|{e.message_id}", e) for e in events]
    return _newest_first(keyed, page_size, page_token)


def list_trait_history(
    uow: IdentityUnitOfWork,
    tenant_id: str,
    profile_ref: str,
    trait: str,
    page_size: int,
    page_token: str,
    rules: TenantRules = published_rules,
) -> Page[TraitChange]:
    keyed = [
        (
            f"{_time_key(e.event_time)}|{e.message_id}|{name}",
            TraitChange(name, value, e.event_time, e.message_id),
        )
        for e in profile_events(uow, tenant_id, profile_ref, rules)
        for name, value in e.traits.items()
        if not trait or name == trait
    ]
    return _newest_first(keyed, page_size, page_token)


def search_profiles(
    uow: IdentityUnitOfWork,
    tenant_id: str,
    trait: str,
    json_value: str,
    page_size: int,
    page_token: str,
) -> Page[Profile]:
    """Live profiles whose trait equals the JSON value, by profile id."""
    bad = Violations()
    bad.require_tenant(tenant_id)
    bad.require(trait, "trait")
    if trait and len(trait) > MAX_TRAIT:
        bad.add("trait", f"must be at most {MAX_TRAIT} characters")
    elif trait and not searchable(trait):
        bad.add("trait", "is personal data, never indexed: look the person up by an identifier")
    bad.require(json_value, "value")
    bad.raise_if_any()
    after, limit = page_request(page_size, page_token, DEFAULT_PAGE, MAX_PAGE)
    found = uow.profiles.search(tenant_id, trait, json_value, after, limit + 1)
    return paged(found, limit, lambda p: p.profile_id)


MAX_UNSEALED = 100  # trait names one unseal call may ask for


def unseal_traits(
    uow: IdentityUnitOfWork,
    principal: Principal,
    profile_ref: str,
    names: Sequence[str],
    purpose: str,
    rules: TenantRules = published_rules,
) -> tuple[str, dict[str, TraitValue]]:
    """(the profile id, the named traits it has, in the clear): what a send renders, and
    nothing more. Logged with the caller and purpose, never the values."""
    if not principal.may(Scope.PROFILES_READ):
        raise PermissionDenied(f"unsealing traits needs the {Scope.PROFILES_READ.value} scope")
    bad = Violations()
    if not names:
        bad.add("trait_names", "name at least one trait")
    if len(names) > MAX_UNSEALED:
        bad.add("trait_names", f"at most {MAX_UNSEALED} at a time")
    for n, name in enumerate(names):
        if not name or len(name) > MAX_TRAIT:
            bad.add(f"trait_names[{n}]", f"must be 1 to {MAX_TRAIT} characters")
    bad.raise_if_any()
    profile = get_profile(uow, principal.tenant_id, profile_ref, rules)
    wanted = set(names)
    found = {name: value for name, value in profile.traits.items() if name in wanted}
    log.info(
        "traits unsealed",
        extra={
            "tenant": principal.tenant_id,
            "profile_id": profile.profile_id,
            "actor": str(principal.actor),
            "purpose": purpose[:200],
            "names": sorted(found),
        },
    )
    return profile.profile_id, found

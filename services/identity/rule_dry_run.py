"""Previewing a draft of the identifier rules: the tenant's ingested messages resolved
again, under the published rules and under the draft, each in a unit of work of its own
kept in memory, and the two graphs compared (domain/rule_preview.py). Nothing is written."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from layercake.identity.v1 import identifier_rules_pb2 as rules_pb
from services.identity import handlers
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.errors import IdentityError
from services.identity.domain.identifiers import Hasher
from services.identity.domain.rule_content import ASSET_ID, IDENTIFIER_RULES, rules_from_content
from services.identity.domain.rule_preview import Group, RulePreview, compare
from services.identity.domain.rules import IdentifierRules
from services.identity.ports import IdentityUnitOfWork, TenantKeys
from services.identity.rules_cache import published_rules
from services.identity.store.memory import InMemoryIdentityUnitOfWork, in_memory
from services.identity.store.tenant_keys import keyed_hasher, new_key
from services.kernel.assets.policy import authorize
from services.kernel.clock import Clock
from services.kernel.errors import NotFound
from services.kernel.principals import Principal, Scope


def preview_rules(
    uow: IdentityUnitOfWork,
    principal: Principal,
    version: int,
    messages: Sequence[ApplyIngestedEvent],
) -> RulePreview:
    """The merges `version` of the tenant's identifier rules would make or undo over
    `messages` (the tenant's log, in order); NotFound for a version that does not exist."""
    tenant = principal.tenant_id
    authorize(principal, tenant, Scope.ASSETS_READ, "previewing identifier rules")
    asset = uow.assets.get(tenant, IDENTIFIER_RULES.name, ASSET_ID)
    if not asset.exists:
        raise NotFound("the tenant has no identifier rules to preview")
    content = asset.get_version(version).content  # NotFound for a version it lacks
    assert isinstance(content, rules_pb.IdentifierRules)
    hasher = uow.tenant_keys.existing(tenant) or keyed_hasher(new_key())  # stored digests
    published = published_rules(uow, tenant)
    return compare(
        resolved_graph(messages, published, hasher, uow.clock),
        resolved_graph(messages, rules_from_content(content), hasher, uow.clock),
        len(messages),
    )


class _Borrowed(TenantKeys):
    """The tenant's real hasher, so the preview names hashed identifiers as they are stored."""

    def __init__(self, hasher: Hasher) -> None:
        self._hasher = hasher

    def hasher(self, tenant_id: str, now: datetime) -> Hasher:
        return self._hasher

    def existing(self, tenant_id: str) -> Hasher | None:
        return self._hasher


def resolved_graph(
    messages: Sequence[ApplyIngestedEvent], rules: IdentifierRules, hasher: Hasher, clock: Clock
) -> list[Group]:
    """The live profiles' identifiers after resolving `messages` in order under `rules`."""
    db = in_memory(clock)
    for message in messages:
        with InMemoryIdentityUnitOfWork(db) as uow:
            uow.tenant_keys = _Borrowed(hasher)
            try:
                handlers.apply_ingested_event(
                    uow, message, message.message_id, rules, suppress_forgotten=False
                )
            except IdentityError:  # refused under these rules: no change, as when consumed
                continue
            uow.commit()
    return [frozenset(p.identifiers) for p in db.state.profiles.values() if not p.merged_into]

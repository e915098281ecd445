"""Each tenant's published identifier rules, cached in memory on every replica.

Read from the `identifier_rules` asset on first use; a tenant without a published
version gets the defaults. `IdentifierRulesPublished` reaches every replica through
a broadcast subscription and drops the tenant's entry, so the next event reads the
new version.
"""

from __future__ import annotations

from collections.abc import Callable

from layercake.identity.v1 import identifier_rules_pb2 as pb
from services.identity.domain.rule_content import ASSET_ID, IDENTIFIER_RULES, rules_from_content
from services.identity.domain.rules import DEFAULT_RULES, IdentifierRules
from services.kernel.assets import KINDS, Asset, AssetState
from services.kernel.assets.asset import asset_stream_id
from services.kernel.assets.repository import asset_events
from services.kernel.messaging import subjects
from services.kernel.tenant_cache import TenantCache
from services.kernel.unit_of_work import AbstractUnitOfWork

# (unit of work, tenant) -> the tenant's published rules: `published_rules`, or a cache's get.
TenantRules = Callable[[AbstractUnitOfWork, str], IdentifierRules]


def published_rules(uow: AbstractUnitOfWork, tenant_id: str) -> IdentifierRules:
    """The tenant's published version as domain rules; the defaults when none is live.

    Reads the asset's stream in the caller's transaction (a write or a read-only one).
    """
    stored = uow.load(asset_stream_id(tenant_id, IDENTIFIER_RULES.name, ASSET_ID))
    if not stored:
        return DEFAULT_RULES
    live = Asset.replay(asset_events(stored, KINDS), stored[-1].version).live_version
    if live is None or live.state != AssetState.PUBLISHED:
        return DEFAULT_RULES
    assert isinstance(live.content, pb.IdentifierRules)
    return rules_from_content(live.content)


class RulesCache(TenantCache[AbstractUnitOfWork, IdentifierRules]):
    """Tenant -> the published identifier rules, dropped by `IdentifierRulesPublished`."""

    def __init__(self) -> None:
        super().__init__(
            published_rules,
            name="identity-rules",
            stream="IDENTITY",
            filter_subject=subjects.integration("*", "identity", "identifier_rules_published"),
        )

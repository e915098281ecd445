"""Each tenant's live computed traits and audiences, cached in memory on every replica.

Read from the published versions of the `computed_traits` asset and the `audience`
assets on first use (CEL compiled then); `SegmentsPublished`, sent whenever what is live
changes, reaches every replica through a broadcast subscription and drops the tenant's
entry, so the next event is evaluated under the new definitions.
"""

from __future__ import annotations

from layercake.identity.v1 import audience_pb2, computed_traits_pb2
from services.identity.domain.audience_content import AUDIENCE, audience_from_content
from services.identity.domain.computed_trait_content import (
    ASSET_ID,
    COMPUTED_TRAITS,
    definitions_from_content,
)
from services.identity.domain.segments import Segments
from services.identity.ports import IdentityUnitOfWork
from services.kernel.assets import AssetState
from services.kernel.assets.repository import AssetRepository
from services.kernel.messaging import subjects
from services.kernel.tenant_cache import TenantCache

SEGMENTS_PUBLISHED = "segments_published"


def _live(assets: AssetRepository, tenant_id: str, kind: str, asset_id: str) -> object | None:
    """The content of the asset's published version; None when none is live (or paused)."""
    live = assets.get(tenant_id, kind, asset_id).live_version
    return live.content if live is not None and live.state == AssetState.PUBLISHED else None


def live_segments(uow: IdentityUnitOfWork, tenant_id: str) -> Segments:
    """What the tenant has live, read in the caller's transaction."""
    traits = _live(uow.assets, tenant_id, COMPUTED_TRAITS.name, ASSET_ID)
    audiences = []
    for record in uow.assets.list(tenant_id, AUDIENCE.name):
        if record.published_state != AssetState.PUBLISHED.value:
            continue
        content = _live(uow.assets, tenant_id, AUDIENCE.name, record.asset_id)
        if isinstance(content, audience_pb2.Audience):
            audiences.append(audience_from_content(content, record.published_version))
    return Segments(
        definitions_from_content(traits)
        if isinstance(traits, computed_traits_pb2.ComputedTraits)
        else (),
        tuple(audiences),
    )


class SegmentsCache(TenantCache[IdentityUnitOfWork, Segments]):
    """Tenant -> live computed traits and audiences, dropped by `SegmentsPublished`."""

    def __init__(self) -> None:
        super().__init__(
            live_segments,
            name="identity-segments",
            stream="IDENTITY",
            filter_subject=subjects.integration("*", "identity", SEGMENTS_PUBLISHED),
        )

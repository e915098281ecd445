"""Audiences and computed traits as controlled assets: apply, transition, read, list members.

The kernel's asset handlers run inside identity's unit of work. A change of what is live
sends `SegmentsPublished` (every replica drops its cached definitions); publishing an
audience (or resuming, or rolling it back) starts its backfill over the existing
profiles, and archiving it starts the exit of its members, both in batches off the hot
path (`backfill.py`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from google.protobuf.message import Message

from services.identity import mapping
from services.identity.domain.audience_content import AUDIENCE
from services.identity.ports import AudienceMember, IdentityUnitOfWork
from services.kernel import telemetry
from services.kernel.assets import Action, Asset, AssetKind, AssetMetadata
from services.kernel.assets.handlers import edit_asset, existing, transition_asset
from services.kernel.errors import InvalidArgument
from services.kernel.principals import Principal

LIVE_CHANGES = frozenset(
    {Action.PUBLISH, Action.PAUSE, Action.RESUME, Action.ROLLBACK, Action.ARCHIVE}
)
REEVALUATE = frozenset({Action.PUBLISH, Action.RESUME, Action.ROLLBACK, Action.ARCHIVE})
DEFAULT_PAGE, MAX_PAGE = 100, 1000


def apply_segment_asset(
    uow: IdentityUnitOfWork,
    principal: Principal,
    kind: AssetKind,
    asset_id: str,
    content: Message,
    metadata: AssetMetadata,
    reason: str = "",
) -> tuple[Asset, int]:
    """Creates the asset or saves its draft (checked by its kind); the draft's number."""
    asset = edit_asset(
        uow.assets, principal, kind.name, asset_id, content, metadata, at=uow.now(), reason=reason
    )
    uow.commit()
    return asset, asset.history[-1].version


def transition_segment_asset(
    uow: IdentityUnitOfWork,
    principal: Principal,
    kind: AssetKind,
    asset_id: str,
    action: Action,
    reason: str = "",
    to_version: int = 0,
) -> tuple[Asset, int]:
    """One lifecycle action; the asset and the version it acted on (the live one after a
    change of what is live)."""
    at = uow.now()
    asset = transition_asset(
        uow.assets,
        principal,
        kind.name,
        asset_id,
        action,
        at=at,
        reason=reason,
        to_version=to_version,
    )
    if action in LIVE_CHANGES:
        live = asset.live_version
        uow.publish(
            mapping.segments_published(
                principal.tenant_id,
                kind.name,
                asset_id,
                live.number if live else 0,
                at,
                telemetry.current_traceparent(),
            )
        )
        if kind == AUDIENCE and action in REEVALUATE:
            uow.backfills.start(principal.tenant_id, asset_id, after="", due=at)
    uow.commit()
    return asset, asset.history[-1].version


def get_segment_asset(
    uow: IdentityUnitOfWork, tenant_id: str, kind: AssetKind, asset_id: str, version: int = 0
) -> tuple[Asset, int]:
    """One version (0: the latest); NOT_FOUND for an unknown asset or version."""
    asset = existing(uow.assets, tenant_id, kind.name, asset_id)
    number = version or asset.latest
    asset.get_version(number)
    return asset, number


@dataclass(frozen=True)
class AudienceSummary:
    asset: Asset
    size: int


def list_audiences(uow: IdentityUnitOfWork, tenant_id: str) -> list[AudienceSummary]:
    """The tenant's audiences, by id, with their sizes."""
    return [
        AudienceSummary(
            uow.assets.get(tenant_id, AUDIENCE.name, r.asset_id),
            uow.audience_members.size(tenant_id, r.asset_id),
        )
        for r in uow.assets.list(tenant_id, AUDIENCE.name)
    ]


@dataclass(frozen=True)
class MembersPage:
    members: list[AudienceMember]
    next_page_token: str
    total_size: int


def list_members(
    uow: IdentityUnitOfWork, tenant_id: str, audience_id: str, page_size: int, page_token: str
) -> MembersPage:
    """A page of an audience's members by profile id (AIP-158: the token is opaque)."""
    if page_size < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    existing(uow.assets, tenant_id, AUDIENCE.name, audience_id)
    after = _after(page_token)
    limit = min(page_size or DEFAULT_PAGE, MAX_PAGE)
    members = uow.audience_members.page(tenant_id, audience_id, after, limit + 1)
    more = len(members) > limit
    members = members[:limit]
    token = _token(members[-1].profile_id) if more else ""
    return MembersPage(members, token, uow.audience_members.size(tenant_id, audience_id))


def _token(profile_id: str) -> str:
    return base64.urlsafe_b64encode(profile_id.encode()).decode()


def _after(token: str) -> str:
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument.field("page_token", "is not a token this call gave") from None

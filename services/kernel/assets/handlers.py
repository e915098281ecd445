"""The service layer of every asset kind: load, act, save, one function per command.

A service's API maps its RPCs (UpdateJourney, SubmitJourney, ...) onto these, inside its
own unit of work, so no service rewrites the load-check-save dance for its kinds.
"""

from __future__ import annotations

from datetime import datetime

from google.protobuf.message import Message

from services.kernel.assets.asset import Asset
from services.kernel.assets.content import FieldChange
from services.kernel.assets.kinds import AssetMetadata
from services.kernel.assets.lifecycle import Action
from services.kernel.assets.policy import TenantAssetPolicy
from services.kernel.assets.repository import AssetRepository
from services.kernel.errors import NotFound
from services.kernel.principals import Principal


def edit_asset(
    repo: AssetRepository,
    principal: Principal,
    kind: str,
    asset_id: str,
    content: Message,
    metadata: AssetMetadata,
    *,
    at: datetime,
    reason: str = "",
    version: int | None = None,
) -> Asset:
    """Creates the asset or saves its draft (`asset.history[-1].version` is the draft)."""
    asset = repo.get(principal.tenant_id, kind, asset_id)
    asset.edit(principal, content, metadata, reason=reason, at=at, version=version)
    repo.save(asset)
    return asset


def transition_asset(
    repo: AssetRepository,
    principal: Principal,
    kind: str,
    asset_id: str,
    action: Action,
    *,
    at: datetime,
    reason: str = "",
    to_version: int = 0,
) -> Asset:
    """Any action but an edit (`to_version` is a rollback's source), saved; NOT_FOUND for
    an asset never created. The approver's tenant policy is read in the same transaction."""
    asset = existing(repo, principal.tenant_id, kind, asset_id)
    if action == Action.EDIT:
        raise ValueError("an edit carries content: use edit_asset")
    if action == Action.APPROVE:
        asset.approve(principal, repo.policy(principal.tenant_id), reason=reason, at=at)
    elif action == Action.ROLLBACK:
        asset.rollback(principal, to_version, reason=reason, at=at)
    else:
        getattr(asset, action.value)(principal, reason=reason, at=at)
    repo.save(asset)
    return asset


def set_asset_policy(
    repo: AssetRepository, principal: Principal, *, four_eyes: bool, at: datetime, reason: str = ""
) -> TenantAssetPolicy:
    policy = repo.policy(principal.tenant_id)
    policy.set(principal, four_eyes=four_eyes, reason=reason, at=at)
    repo.save_policy(policy)
    return policy


def diff_versions(
    repo: AssetRepository, tenant_id: str, kind: str, asset_id: str, old: int, new: int
) -> list[FieldChange]:
    return existing(repo, tenant_id, kind, asset_id).diff(old, new)


def existing(repo: AssetRepository, tenant_id: str, kind: str, asset_id: str) -> Asset:
    asset = repo.get(tenant_id, kind, asset_id)
    if not asset.exists:
        raise NotFound(f"no {kind} {asset_id!r} in tenant {tenant_id!r}")
    return asset

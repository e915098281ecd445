"""The orchestrator's journeys and templates: the kernel's asset handlers in a unit of work.

The servicer parses the definition (YAML or protobuf JSON) and calls these; the kind's
validator runs inside `edit_asset`, so an invalid definition stores nothing.
"""

from __future__ import annotations

from google.protobuf.message import Message

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.assets import Action, Asset, AssetKind, AssetMetadata, FieldChange
from services.kernel.assets.handlers import diff_versions, edit_asset, existing, transition_asset
from services.kernel.assets.repository import SqlAssetRepository
from services.kernel.pagination import Page, page_request, paged
from services.kernel.principals import Principal
from services.kernel.store.unit_of_work import UnitOfWork
from services.orchestrator.domain.kinds import JOURNEY, TEMPLATE
from services.orchestrator.ports import OrchestratorUnitOfWork
from services.orchestrator.schedule import follow_lifecycle
from services.orchestrator.template_checks import check_template_traits


def apply_definition(
    uow: UnitOfWork,
    principal: Principal,
    kind: AssetKind,
    asset_id: str,
    content: Message,
    metadata: AssetMetadata,
    *,
    reason: str = "",
) -> tuple[Asset, int]:
    """Creates the asset or saves its draft; returns it and the draft's version number."""
    repo = SqlAssetRepository(uow)
    asset = edit_asset(
        repo, principal, kind.name, asset_id, content, metadata, at=uow.now(), reason=reason
    )
    uow.commit()
    return asset, asset.history[-1].version


def transition_definition(
    uow: UnitOfWork,
    principal: Principal,
    kind: AssetKind,
    asset_id: str,
    action: Action,
    *,
    reason: str = "",
    to_version: int = 0,
) -> tuple[Asset, int]:
    """One lifecycle action; returns the asset and the version it acted on (after a
    publish, pause, resume or rollback: the live one). A journey's schedule follows it; a
    template is submitted only when every trait it reads unguarded can be supplied."""
    repo = SqlAssetRepository(uow)
    asset = transition_asset(
        repo,
        principal,
        kind.name,
        asset_id,
        action,
        at=uow.now(),
        reason=reason,
        to_version=to_version,
    )
    if kind is JOURNEY:
        follow_lifecycle(uow, asset, action)
    if kind is TEMPLATE and action is Action.SUBMIT:
        assert isinstance(uow, OrchestratorUnitOfWork)
        content = asset.get_version(asset.history[-1].version).content
        assert isinstance(content, pb.Template)
        check_template_traits(uow, principal.tenant_id, content)  # raises before the commit
    uow.commit()
    return asset, asset.history[-1].version


def get_definition(
    uow: UnitOfWork, tenant_id: str, kind: AssetKind, asset_id: str, version: int = 0
) -> tuple[Asset, int]:
    """One version (0: the latest); NOT_FOUND for an unknown asset or version."""
    asset = existing(SqlAssetRepository(uow), tenant_id, kind.name, asset_id)
    number = version or asset.latest
    asset.get_version(number)
    return asset, number


def list_definitions(
    uow: UnitOfWork, tenant_id: str, kind: AssetKind, page_size: int, page_token: str
) -> Page[Asset]:
    """A page of a tenant's assets of `kind`, by id: the read model's rows after the token's
    id (a seek of its primary key), each asset of the page loaded."""
    after, limit = page_request(page_size, page_token)
    repo = SqlAssetRepository(uow)
    page = paged(repo.list(tenant_id, kind.name, after, limit + 1), limit, lambda r: r.asset_id)
    loaded = [repo.get(tenant_id, kind.name, r.asset_id) for r in page.items]
    return Page(loaded, page.next_page_token)


def diff_definitions(
    uow: UnitOfWork, tenant_id: str, kind: AssetKind, asset_id: str, old: int, new: int
) -> list[FieldChange]:
    return diff_versions(SqlAssetRepository(uow), tenant_id, kind.name, asset_id, old, new)


def live_template(uow: UnitOfWork, tenant_id: str, template_id: str) -> tuple[int, Message] | None:
    """The published (or paused) version of a template and its content; None when none is."""
    asset = SqlAssetRepository(uow).get(tenant_id, TEMPLATE.name, template_id)
    live = asset.live_version if asset.exists else None
    return None if live is None else (live.number, live.content)

"""Helpers for decision tests: the drinks example's catalog published, profiles' features."""

from __future__ import annotations

from google.protobuf.message import Message

from services.decision import catalog, handlers
from services.decision.catalog import CatalogFile
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.decision.training import DRINKS_EXAMPLE
from services.kernel.assets import Action
from services.kernel.profile_changes import ProfileChange
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.integration.decision.model_replicas import People

DRINKS = catalog.read_catalog(DRINKS_EXAMPLE.read_text())
LIVE = (Action.SUBMIT, Action.APPROVE, Action.PUBLISH)


def publish(
    units: UnitOfWorkFactory[SqlDecisionUnitOfWork],
    people: People,
    kind: str,
    asset_id: str,
    content: Message,
    file: CatalogFile = DRINKS,
) -> None:
    """Edited by an editor, approved by an approver, published by an operator."""
    with units() as uow:
        handlers.edit_catalog_asset(uow, people.ann, kind, asset_id, content, file.metadata)
    for who, action in zip((people.ann, people.cat, people.ops), LIVE, strict=True):
        with units() as uow:
            handlers.transition_catalog_asset(uow, who, kind, asset_id, action)


def publish_catalog(
    units: UnitOfWorkFactory[SqlDecisionUnitOfWork], people: People, file: CatalogFile = DRINKS
) -> None:
    publish(units, people, "placement", file.placement.placement_id, file.placement, file)
    for action in file.actions:
        publish(units, people, "action", action.action_id, action, file)


def set_traits(
    units: UnitOfWorkFactory[SqlDecisionUnitOfWork],
    tenant: str,
    profile_id: str,
    traits: dict[str, object],
) -> None:
    with units() as uow:
        handlers.record_profile_change(uow, ProfileChange(tenant, profile_id, 1, traits=traits))
        uow.commit()

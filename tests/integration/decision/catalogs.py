"""Helpers for decision tests: the drinks example's catalog published, profiles' features."""

from __future__ import annotations

import uuid

from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.decision.v1 import decision_service_pb2_grpc as pb_grpc
from services.decision import catalog, handlers
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.decision.training import DRINKS_EXAMPLE
from services.kernel.assets import Action
from services.kernel.profile_changes import ProfileChange
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.integration.decision.model_replicas import People, acting

DRINKS_YAML = DRINKS_EXAMPLE.read_text()
DRINKS = catalog.read_catalog(DRINKS_YAML)
LIVE = (Action.SUBMIT, Action.APPROVE, Action.PUBLISH)


def items(file: catalog.CatalogFile = DRINKS) -> list[tuple[str, str]]:
    """(kind, asset id) of everything in a catalog file."""
    actions = [("action", a.action_id) for a in file.actions]
    return [("placement", file.placement.placement_id), *actions]


def publish_catalog(
    units: UnitOfWorkFactory[SqlDecisionUnitOfWork],
    people: People,
    file: catalog.CatalogFile = DRINKS,
) -> None:
    """Applied by an editor, approved by an approver, published by an operator (handlers)."""
    with units() as uow:
        handlers.apply_catalog(uow, people.ann, file)
    for kind, asset_id in items(file):
        for who, action in zip((people.ann, people.cat, people.ops), LIVE, strict=True):
            with units() as uow:
                handlers.transition_catalog_asset(uow, who, kind, asset_id, action)


async def publish_catalog_rpc(stub: pb_grpc.DecisionServiceStub, people: People) -> None:
    """The same through the RPCs."""
    await stub.ApplyCatalog(
        pb.ApplyCatalogRequest(request_id=str(uuid.uuid4()), yaml=DRINKS_YAML),
        metadata=acting(people.ann),
        timeout=10,
    )
    for kind, asset_id in items():
        for who, action in zip((people.ann, people.cat, people.ops), LIVE, strict=True):
            await stub.TransitionCatalogAsset(
                pb.TransitionCatalogAssetRequest(
                    request_id=str(uuid.uuid4()), kind=kind, asset_id=asset_id, action=action.value
                ),
                metadata=acting(who),
                timeout=10,
            )


def set_traits(
    units: UnitOfWorkFactory[SqlDecisionUnitOfWork],
    tenant: str,
    profile_id: str,
    traits: dict[str, object],
) -> None:
    with units() as uow:
        handlers.record_profile_change(uow, ProfileChange(tenant, profile_id, 1, traits=traits))
        uow.commit()

"""The seed's drinks example installed for a tenant: its catalog live and its shipped model
(`models/drinks.onnx`) the `drinks` champion, so a fresh `make run` serves real ONNX
decisions. Each part goes through its lifecycle as people would take it (drafted by an
editor, approved by another person, published by an operator): an approval needs a person,
so the three are the named people `example-editor`, `example-approver` and
`example-operator`, whom the assets' history shows as such. For a development or demo
tenant; idempotent: a part already live is left as it is.
"""

from __future__ import annotations

from services.decision import catalog, handlers, scoring, training
from services.decision.catalog import ACTION, PLACEMENT
from services.decision.domain.models import Stage
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.assets import Action
from services.kernel.principals import Actor, Principal, PrincipalKind, Role
from services.kernel.store.unit_of_work import UnitOfWorkFactory

MODEL, VERSION = "drinks", "1"
LIFECYCLE = (
    (Role.EDITOR, Action.SUBMIT),
    (Role.APPROVER, Action.APPROVE),
    (Role.OPERATOR, Action.PUBLISH),
)


def _as(tenant_id: str, role: Role) -> Principal:
    return Principal(
        tenant_id, Actor(f"example-{role.value}", PrincipalKind.PERSON), frozenset({role})
    )


def install_drinks(units: UnitOfWorkFactory[SqlDecisionUnitOfWork], tenant_id: str) -> list[str]:
    """Puts what is not live yet live; returns what it installed (`catalog`, `model`)."""
    installed = []
    file = catalog.read_catalog(training.DRINKS_EXAMPLE.read_text())
    with units() as uow:
        live = {(a.kind, a.asset_id) for a in handlers.live_catalog(uow, tenant_id)}
        _, deployment = handlers.live_deployment(uow, tenant_id, MODEL)
    items = [
        (PLACEMENT.name, file.placement.placement_id),
        *((ACTION.name, a.action_id) for a in file.actions),
    ]
    if not set(items) <= live:
        editor = _as(tenant_id, Role.EDITOR)
        with units() as uow:
            handlers.apply_catalog(uow, editor, file, reason="the drinks example")
        for kind, asset_id in items:
            for role, action in LIFECYCLE:
                with units() as uow:
                    handlers.transition_catalog_asset(
                        uow, _as(tenant_id, role), kind, asset_id, action, "the drinks example"
                    )
        installed.append("catalog")
    if not deployment.champion:
        content = training.DRINKS_PATH.read_bytes()
        columns = training.drinks_placement().features.columns
        model = scoring.checked_model(
            tenant_id, MODEL, VERSION, content, columns, "growth-team", "the drinks example"
        )
        reason = "the shipped drinks model, trained on synthetic data (make models)"
        with units() as uow:
            handlers.register_model(uow, model, content)
        with units() as uow:
            editor = _as(tenant_id, Role.EDITOR)
            handlers.promote_model(uow, editor, MODEL, VERSION, Stage.CHAMPION, 0.0, reason)
        with units() as uow:
            handlers.approve_model_change(uow, _as(tenant_id, Role.APPROVER), MODEL, reason)
        with units() as uow:
            handlers.publish_model_change(uow, _as(tenant_id, Role.OPERATOR), MODEL, reason)
        installed.append("model")
    return installed

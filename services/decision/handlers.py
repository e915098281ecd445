"""The decision service's service layer: one function per event or query, in a unit of work.

These run in the database thread pool, called by the consumers and the servicer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import Message

from services.decision import mapping
from services.decision.catalog import ACTION, PLACEMENT, CatalogFile
from services.decision.domain.actions import ExposureCount, Exposures
from services.decision.domain.decisions import Decision, Outcome, TrainingRow
from services.decision.domain.features import (
    ProfileFeatures,
    features_after,
    features_folded,
    features_refilled,
)
from services.decision.domain.models import Deployment, ModelVersion, Stage, promote
from services.decision.mapping import MODEL
from services.decision.ports import DecisionUnitOfWork
from services.kernel.assets import LIVE_CHANGES, Action, Asset, AssetMetadata, AssetState
from services.kernel.assets.handlers import edit_asset, transition_asset
from services.kernel.errors import AlreadyExists, InvalidArgument, NotFound, Violations
from services.kernel.pagination import Page, page_request, paged
from services.kernel.principals import Principal
from services.kernel.profile_changes import ProfileChange, ProfileForget, ProfilesMerge
from services.kernel.profile_copies import drop_forgotten, fold_merged


@dataclass(frozen=True)
class LiveAsset:
    """A published version of an action or placement."""

    kind: str
    asset_id: str
    change_version: int
    content: Message
    tags: tuple[str, ...]


def record_profile_change(uow: DecisionUnitOfWork, change: ProfileChange) -> bool:
    """Applies identity's change of a profile to its features; parts older than those held
    are ignored, since deliveries can arrive out of order. Runs in the consumer's
    transaction (no commit)."""
    now = uow.now()
    return uow.features.merge(
        change.tenant_id, change.profile_id, lambda held: features_after(held, change, now)
    )


def refill_features(uow: DecisionUnitOfWork, changes: Sequence[ProfileChange]) -> int:
    """Restores the values replayed changes set that the features stamped and dropped (see
    `features_refilled`), and commits; a profile without features is left alone. Returns
    how many changes restored something."""
    restored = 0
    for change in changes:

        def refilled(
            held: ProfileFeatures | None, c: ProfileChange = change
        ) -> ProfileFeatures | None:
            return features_refilled(held, c) if held is not None else None

        restored += uow.features.merge(change.tenant_id, change.profile_id, refilled)
    uow.commit()
    return restored


def record_profiles_merge(uow: DecisionUnitOfWork, merge: ProfilesMerge) -> bool:
    """Moves the merged-away profiles' features into the survivor's (parts it lacks), then
    drops them. Runs in the consumer's transaction (no commit)."""
    now = uow.now()
    return fold_merged(
        uow.features, merge, lambda held, merged: features_folded(held, merged, merge, now)
    )


def record_profile_forget(uow: DecisionUnitOfWork, forget: ProfileForget) -> bool:
    """Deletes the forgotten person's features and decisions (GDPR erasure). Runs in the
    consumer's transaction (no commit)."""
    decided = uow.decisions.forget(forget.tenant_id, forget.profile_ids)
    return drop_forgotten(uow.features, forget) or decided > 0


def get_features(uow: DecisionUnitOfWork, tenant_id: str, profile_id: str) -> ProfileFeatures:
    """The features of one of the tenant's profiles; NotFound until identity reported it."""
    bad = Violations()
    bad.require_tenant(tenant_id, "tenant_id")
    bad.require(profile_id, "profile_id")
    bad.raise_if_any()
    found = uow.features.get(tenant_id, profile_id)
    if found is None:
        raise NotFound(f"no features for profile {profile_id!r}")
    return found


def register_model(uow: DecisionUnitOfWork, model: ModelVersion, content: bytes) -> ModelVersion:
    """Stores a checked model version (its signature was read before the transaction); the
    same file again is a no-op, another file under a taken version is ALREADY_EXISTS (a
    version names one file forever)."""
    existing = uow.models.get(model.tenant_id, model.model_name, model.version)
    if existing is not None:
        if existing.sha256 == model.sha256:
            return existing
        raise AlreadyExists(
            f"model {model.model_name!r} already has a version {model.version!r}"
            f" with another file (sha256 {existing.sha256[:12]}…)"
        )
    uow.models.add(model, content, uow.now())
    uow.commit()
    return model


def live_deployment(
    uow: DecisionUnitOfWork, tenant_id: str, model_name: str
) -> tuple[int, Deployment]:
    """The published deployment and its change version; (0, empty) before the first."""
    asset = uow.assets.get(tenant_id, MODEL.name, model_name)
    live = asset.live_version
    if live is None or live.state != AssetState.PUBLISHED:
        return 0, Deployment()
    return live.number, mapping.deployment(live.content)


def promote_model(
    uow: DecisionUnitOfWork,
    principal: Principal,
    model_name: str,
    version: str,
    stage: Stage,
    share: float,
    reason: str,
) -> Asset:
    """Proposes the live deployment with `version` moved to `stage` and submits it for
    approval; it replaces any change still pending. Nothing serves differently yet."""
    tenant = principal.tenant_id
    model = uow.models.get(tenant, model_name, version)
    if model is None:
        raise NotFound(f"model {model_name!r} has no registered version {version!r}")
    _, current = live_deployment(uow, tenant, model_name)
    proposed = promote(current, version, stage, share)
    repo = uow.assets
    metadata = AssetMetadata(owner=model.owner or principal.actor.id, description=reason[:2000])
    at = uow.now()
    content = mapping.deployment_proto(proposed)
    edit_asset(repo, principal, MODEL.name, model_name, content, metadata, at=at, reason=reason)
    asset = transition_asset(repo, principal, MODEL.name, model_name, Action.SUBMIT, at=at)
    uow.commit()
    return asset


def approve_model_change(
    uow: DecisionUnitOfWork, principal: Principal, model_name: str, reason: str
) -> Asset:
    asset = transition_asset(
        uow.assets,
        principal,
        MODEL.name,
        model_name,
        Action.APPROVE,
        at=uow.now(),
        reason=reason,
    )
    uow.commit()
    return asset


def publish_model_change(
    uow: DecisionUnitOfWork, principal: Principal, model_name: str, reason: str
) -> Asset:
    """Makes the approved deployment live and tells every replica to swap it in."""
    at = uow.now()
    asset = transition_asset(
        uow.assets,
        principal,
        MODEL.name,
        model_name,
        Action.PUBLISH,
        at=at,
        reason=reason,
    )
    live = asset.live_version
    assert live is not None, "a publish leaves a live version"
    deployment = mapping.deployment(live.content)
    for version in deployment.serving():
        # a missing or altered file refuses the publish (FAILED_PRECONDITION) before it is
        # live, so no replica, starting or running, is left with a deployment it cannot load
        uow.models.content(principal.tenant_id, model_name, version)
    uow.publish(
        mapping.deployment_published(principal.tenant_id, model_name, live.number, deployment, at)
    )
    uow.commit()
    return asset


def published_models(uow: DecisionUnitOfWork) -> list[tuple[str, str]]:
    """(tenant, model name) of every model with a live deployment, for a replica's start."""
    return uow.assets.published(MODEL.name)


def list_models(
    uow: DecisionUnitOfWork, tenant_id: str, model_name: str, page_size: int, page_token: str
) -> Page[tuple[ModelVersion, Stage]]:
    """A page of the tenant's registered versions, each with its stage under its model's
    live deployment (registered when it serves in none)."""
    after_key, limit = page_request(page_size, page_token)
    name, sep, version = after_key.partition("/")
    if after_key and not sep:
        raise InvalidArgument.field("page_token", "is not a token this API gave out")
    found = uow.models.list(tenant_id, model_name, (name, version) if sep else None, limit + 1)
    deployments: dict[str, Deployment] = {}
    staged = []
    for model in found:
        if model.model_name not in deployments:
            deployments[model.model_name] = live_deployment(uow, tenant_id, model.model_name)[1]
        staged.append((model, deployments[model.model_name].stage_of(model.version)))
    return paged(staged, limit, lambda m: f"{m[0].model_name}/{m[0].version}")


def model_file(
    uow: DecisionUnitOfWork, tenant_id: str, model_name: str, version: str
) -> tuple[ModelVersion, bytes]:
    model = uow.models.get(tenant_id, model_name, version)
    content = uow.models.content(tenant_id, model_name, version)
    if model is None or content is None:
        raise NotFound(f"model {model_name!r} has no registered version {version!r}")
    return model, content


MAX_VERSIONS = 1000  # of one model, that the Open Inference Protocol's metadata lists


def model_versions(uow: DecisionUnitOfWork, tenant_id: str, model_name: str) -> list[ModelVersion]:
    """The model's registered versions (the first `MAX_VERSIONS`, by version); NotFound when
    it has none."""
    found = uow.models.list(tenant_id, model_name, None, MAX_VERSIONS) if model_name else []
    if not found:
        raise NotFound(f"model {model_name!r} is not registered")
    return found


# -- actions and placements (controlled assets) ---------------------------------------------


def apply_catalog(
    uow: DecisionUnitOfWork, principal: Principal, file: CatalogFile, reason: str = ""
) -> list[Asset]:
    """Saves a draft of the file's placement and of each action (each checked: INVALID_
    ARGUMENT per field), in one transaction; an item's id inside its content is its asset's."""
    at = uow.now()
    items: list[tuple[str, str, Message]] = [
        (PLACEMENT.name, file.placement.placement_id, file.placement),
        *((ACTION.name, a.action_id, a) for a in file.actions),
    ]
    saved = [
        edit_asset(
            uow.assets, principal, kind, asset_id, content, file.metadata, at=at, reason=reason
        )
        for kind, asset_id, content in items
    ]
    uow.commit()
    return saved


def transition_catalog_asset(
    uow: DecisionUnitOfWork,
    principal: Principal,
    kind: str,
    asset_id: str,
    action: Action,
    reason: str = "",
    to_version: int = 0,
) -> Asset:
    """Submit, approve, publish... an action or placement; a change of what is live tells
    every replica to reload the tenant's catalog."""
    at = uow.now()
    asset = transition_asset(
        uow.assets, principal, kind, asset_id, action, at=at, reason=reason, to_version=to_version
    )
    if action in LIVE_CHANGES:
        live = asset.live_version
        number = live.number if live is not None and live.state == AssetState.PUBLISHED else 0
        uow.publish(mapping.catalog_changed(principal.tenant_id, kind, asset_id, number))
    uow.commit()
    return asset


def live_catalog(uow: DecisionUnitOfWork, tenant_id: str) -> list[LiveAsset]:
    """The tenant's published actions and placements, for the replica's catalog."""
    found = []
    for kind in (ACTION.name, PLACEMENT.name):
        for record in uow.assets.list(tenant_id, kind):
            if record.published_state != AssetState.PUBLISHED.value:
                continue
            live = uow.assets.get(tenant_id, kind, record.asset_id).live_version
            assert live is not None, "a published record has a live version"
            found.append(LiveAsset(kind, record.asset_id, live.number, live.content, record.tags))
    return found


def catalog_tenants(uow: DecisionUnitOfWork) -> set[str]:
    """Tenants with a published action or placement, for a replica's start."""
    return {t for kind in (ACTION.name, PLACEMENT.name) for t, _ in uow.assets.published(kind)}


# -- decisions and outcomes -------------------------------------------------------------------


def profile_features(
    uow: DecisionUnitOfWork, tenant_id: str, profile_id: str
) -> ProfileFeatures | None:
    """A profile's projected features; None for a profile identity has not reported yet."""
    return uow.features.get(tenant_id, profile_id)


def exposures(
    uow: DecisionUnitOfWork, tenant_id: str, profile_id: str, action_ids: Sequence[str]
) -> dict[str, Exposures]:
    """How often each action was returned, in all and to the profile, and its positives
    (for caps and cold start)."""
    return uow.decisions.exposures(tenant_id, profile_id, action_ids)


def record_decisions(
    uow: DecisionUnitOfWork, decisions: Sequence[Decision]
) -> dict[str, list[ExposureCount]]:
    """Logs the decisions not logged before (a retried request has its first call's id),
    counting what they returned, and publishes a `DecisionMade` each and, per tenant, the
    counters as they stand after the write (`ExposuresCounted`) for every replica."""
    after: dict[str, list[ExposureCount]] = {}
    for tenant_id in sorted({d.tenant_id for d in decisions}):
        mine = [d for d in decisions if d.tenant_id == tenant_id]
        # only a request with an id can be retried (a decision id of its own is random)
        retried = [d.decision_id for d in mine if d.command.request_id]
        logged = uow.decisions.logged(tenant_id, retried) if retried else set()
        new = list({d.decision_id: d for d in mine if d.decision_id not in logged}.values())
        counted = uow.decisions.add(tenant_id, new)
        for decision in new:
            uow.publish(mapping.decision_made(decision))
        if counted:
            after[tenant_id] = counted
            uow.publish(mapping.exposures_counted(tenant_id, counted))
    uow.commit()
    return after


def record_outcome(uow: DecisionUnitOfWork, outcome: Outcome) -> bool:
    """RecordOutcome: joins the outcome to its decided action (see `join_outcome`) and
    commits. NotFound for an action the decision did not return."""
    joined = join_outcome(uow, outcome)
    uow.commit()
    return joined


def record_ingested_outcome(uow: DecisionUnitOfWork, outcome: Outcome) -> bool:
    """An outcome a partner sent as an ingest event; one naming no decided action is
    ignored (False). Runs in the consumer's transaction (no commit)."""
    try:
        return join_outcome(uow, outcome)
    except NotFound:
        return False


def join_outcome(uow: DecisionUnitOfWork, outcome: Outcome) -> bool:
    """Keeps the heaviest outcome of a decided action (a conversion after a click stays a
    conversion); False when it adds nothing. A first positive outcome counts for the
    action's cold start, and `DecisionOutcomeRecorded` is published."""
    try:
        held = uow.decisions.outcome_of(outcome.tenant_id, outcome.decision_id, outcome.action_id)
    except KeyError:
        raise NotFound(
            f"decision {outcome.decision_id!r} did not return action {outcome.action_id!r}"
        ) from None
    if held is not None and held >= outcome.kind:
        return False
    first_positive = outcome.kind.positive and not (held is not None and held.positive)
    counted = uow.decisions.record_outcome(outcome, first_positive)
    uow.publish(mapping.outcome_recorded(outcome))
    if counted:
        uow.publish(mapping.exposures_counted(outcome.tenant_id, counted))
    return True


def training_rows(uow: DecisionUnitOfWork, tenant_id: str) -> list[TrainingRow]:
    return list(uow.decisions.training_rows(tenant_id))

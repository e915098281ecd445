"""The decision service's service layer: one function per event or query, in a unit of work.

These run in the database thread pool, called by the consumers and the servicer.
"""

from __future__ import annotations

from services.decision import mapping
from services.decision.domain.features import (
    ProfileFeatures,
    features_after,
    features_folded,
)
from services.decision.domain.models import Deployment, ModelVersion, Stage, promote
from services.decision.mapping import MODEL
from services.decision.ports import DecisionUnitOfWork
from services.kernel.assets import Action, Asset, AssetMetadata, AssetState
from services.kernel.assets.handlers import edit_asset, transition_asset
from services.kernel.errors import AlreadyExists, NotFound, Violations
from services.kernel.principals import Principal
from services.kernel.profile_changes import ProfileChange, ProfileForget, ProfilesMerge
from services.kernel.profile_copies import drop_forgotten, fold_merged


def record_profile_change(uow: DecisionUnitOfWork, change: ProfileChange) -> bool:
    """Applies identity's change of a profile to its features; parts older than those held
    are ignored, since deliveries can arrive out of order. Runs in the consumer's
    transaction (no commit)."""
    now = uow.now()
    return uow.features.merge(
        change.tenant_id, change.profile_id, lambda held: features_after(held, change, now)
    )


def record_profiles_merge(uow: DecisionUnitOfWork, merge: ProfilesMerge) -> bool:
    """Moves the merged-away profiles' features into the survivor's (parts it lacks), then
    drops them. Runs in the consumer's transaction (no commit)."""
    now = uow.now()
    return fold_merged(
        uow.features, merge, lambda held, merged: features_folded(held, merged, merge, now)
    )


def record_profile_forget(uow: DecisionUnitOfWork, forget: ProfileForget) -> bool:
    """Deletes the forgotten person's features (GDPR erasure). Runs in the consumer's
    transaction (no commit)."""
    return drop_forgotten(uow.features, forget)


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
    uow.publish(
        mapping.deployment_published(
            principal.tenant_id, model_name, live.number, mapping.deployment(live.content), at
        )
    )
    uow.commit()
    return asset


def published_models(uow: DecisionUnitOfWork) -> list[tuple[str, str]]:
    """(tenant, model name) of every model with a live deployment, for a replica's start."""
    return uow.assets.published(MODEL.name)


def model_file(
    uow: DecisionUnitOfWork, tenant_id: str, model_name: str, version: str
) -> tuple[ModelVersion, bytes]:
    model = uow.models.get(tenant_id, model_name, version)
    content = uow.models.content(tenant_id, model_name, version)
    if model is None or content is None:
        raise NotFound(f"model {model_name!r} has no registered version {version!r}")
    return model, content


def find_features(uow: DecisionUnitOfWork, tenant_id: str, profile_id: str) -> dict[str, float]:
    """A profile's projected features; none for a profile identity has not reported yet."""
    found = uow.features.get(tenant_id, profile_id)
    return {} if found is None else dict(found.values)

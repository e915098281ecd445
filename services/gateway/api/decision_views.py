"""The decision service's answers as the gateway's own public messages, and the public
enums translated by name (never by number) both ways."""

from __future__ import annotations

from layercake.decision.v1 import decision_service_pb2 as dpb
from layercake.decision.v1 import decisions_pb2, models_pb2
from layercake.gateway.v1 import asset_pb2 as apb
from layercake.gateway.v1 import decisions_service_pb2 as pb
from services.kernel.protobuf import as_twin


def stage(value: models_pb2.ModelStage.ValueType) -> pb.ModelStage.ValueType:
    return pb.ModelStage.Value(models_pb2.ModelStage.Name(value))


def internal_stage(value: pb.ModelStage.ValueType) -> models_pb2.ModelStage.ValueType:
    return models_pb2.ModelStage.Value(pb.ModelStage.Name(value))


def internal_outcome(value: pb.Outcome.ValueType) -> decisions_pb2.DecisionOutcome.ValueType:
    return decisions_pb2.DecisionOutcome.Value(f"DECISION_{pb.Outcome.Name(value)}")


def decide_response(found: dpb.DecideResponse, profile_id: str) -> pb.DecideResponse:
    return pb.DecideResponse(
        decision_id=found.decision_id,
        profile_id=profile_id,
        actions=[
            pb.RankedAction(
                action_id=a.action_id,
                rank=a.rank,
                score=a.score,
                propensity=a.propensity,
                value=a.value,
                explored=a.explored,
                reasons=a.reasons,
                channel=a.channel,
                attributes=a.attributes,
            )
            for a in found.actions
        ],
        excluded=[
            pb.ExcludedAction(action_id=e.action_id, reasons=e.reasons) for e in found.excluded
        ],
        model_name=found.model_name,
        model_version=found.model_version,
        model_stage=stage(found.model_stage),
        fallback=found.fallback,
    )


def model_upload(upload: pb.ModelUpload) -> dpb.ModelUpload:
    return dpb.ModelUpload(
        request_id=upload.request_id,
        model_name=upload.model_name,
        version=upload.version,
        feature_names=upload.feature_names,
        metadata=models_pb2.ModelMetadata(
            owner=upload.owner, description=upload.description, labels=upload.labels
        ),
        sha256=upload.sha256,
    )


def _tensor(spec: models_pb2.TensorSpec) -> pb.TensorSpec:
    return pb.TensorSpec(name=spec.name, type=spec.type, shape=spec.shape)


def model(found: models_pb2.ModelVersion, serves: models_pb2.ModelStage.ValueType) -> pb.Model:
    return pb.Model(
        model_name=found.model_name,
        version=found.version,
        sha256=found.sha256,
        size_bytes=found.size_bytes,
        feature_names=found.feature_names,
        inputs=[_tensor(s) for s in found.inputs],
        outputs=[_tensor(s) for s in found.outputs],
        owner=found.metadata.owner,
        description=found.metadata.description,
        labels=found.metadata.labels,
        stage=stage(serves),
    )


def model_change(change: models_pb2.ModelChange) -> pb.ModelChange:
    d = change.deployment
    return pb.ModelChange(
        model_name=change.model_name,
        change_version=change.change_version,
        state=change.state,
        deployment=pb.ModelDeployment(
            champion_version=d.champion_version,
            challenger_version=d.challenger_version,
            challenger_share=d.challenger_share,
            shadow_versions=d.shadow_versions,
            retired_versions=d.retired_versions,
        ),
    )


def catalog_version(found: dpb.CatalogAssetVersion) -> apb.AssetVersion:
    """Decision answers a catalog asset's kind, id, version and state: the gateway's own
    version message, the rest of it empty."""
    return apb.AssetVersion(
        kind=found.kind, asset_id=found.asset_id, version=found.version, state=found.state
    )


def offer(found: dpb.Offer) -> pb.Offer:
    """An offer as the public message: its definition's fields beside its lifecycle."""
    public = as_twin(found.definition, pb.Offer)
    public.MergeFrom(
        pb.Offer(
            state=found.state,
            latest_version=found.latest_version,
            published_version=found.published_version,
            published_state=found.published_state,
            display_name=found.display_name,
            owner=found.owner,
            tags=found.tags,
            update_time=found.update_time,
        )
    )
    return public

"""Protobuf <-> the decision service's domain; the only module besides api/ that knows protobuf."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.message import Message

from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.decision.v1 import models_pb2
from services.decision.domain.features import ProfileFeatures
from services.decision.domain.models import Deployment, ModelVersion, Stage, TensorSpec
from services.kernel import telemetry
from services.kernel.assets import KINDS, Asset, AssetKind
from services.kernel.errors import FieldViolation, InvalidArgument
from services.kernel.messaging import subjects
from services.kernel.messaging.envelope import Envelope
from services.kernel.protobuf import to_timestamp
from services.kernel.store.records import OutboxMessage

SOURCE = "decision"


def feature_vector_proto(features: ProfileFeatures) -> pb.FeatureVector:
    return pb.FeatureVector(
        tenant_id=features.tenant_id,
        profile_id=features.profile_id,
        profile_version=features.profile_version,
        values=dict(features.values),
        update_time=to_timestamp(features.update_time),
    )


STAGES = {
    Stage.REGISTERED: models_pb2.MODEL_STAGE_REGISTERED,
    Stage.SHADOW: models_pb2.MODEL_STAGE_SHADOW,
    Stage.CHALLENGER: models_pb2.MODEL_STAGE_CHALLENGER,
    Stage.CHAMPION: models_pb2.MODEL_STAGE_CHAMPION,
    Stage.RETIRED: models_pb2.MODEL_STAGE_RETIRED,
}
STAGE_OF: dict[int, Stage] = {value: stage for stage, value in STAGES.items()}
DEPLOYMENT_PUBLISHED = models_pb2.ModelDeploymentPublished.DESCRIPTOR.full_name


def stage(value: int) -> Stage:
    """The domain stage of a request's enum; INVALID_ARGUMENT naming `stage` when unset."""
    found = STAGE_OF.get(value)
    if found is None:
        raise InvalidArgument.field("stage", "must be shadow, challenger, champion or retired")
    return found


def deployment(content: Message) -> Deployment:
    assert isinstance(content, models_pb2.ModelDeployment)
    return Deployment(
        champion=content.champion_version,
        challenger=content.challenger_version,
        challenger_share=content.challenger_share,
        shadows=tuple(content.shadow_versions),
        retired=tuple(content.retired_versions),
    )


def deployment_proto(value: Deployment) -> models_pb2.ModelDeployment:
    return models_pb2.ModelDeployment(
        champion_version=value.champion,
        challenger_version=value.challenger,
        challenger_share=value.challenger_share,
        shadow_versions=list(value.shadows),
        retired_versions=list(value.retired),
    )


def _deployment_rules(asset: str, content: Message) -> list[FieldViolation]:
    return deployment(content).violations()


# A model's deployment (which versions serve, in which stage) is a controlled asset.
MODEL = KINDS.register(
    AssetKind(
        "model",
        models_pb2.ModelDeployment,
        required_metadata=frozenset({"owner"}),
        validate=_deployment_rules,
    )
)


def model_change(asset: Asset) -> models_pb2.ModelChange:
    """The asset's newest version: the change proposed, approved or live."""
    version = asset.get_version(asset.latest)
    return models_pb2.ModelChange(
        model_name=asset.asset_id,
        change_version=version.number,
        state=version.state.value,
        deployment=deployment_proto(deployment(version.content)),
    )


def _tensor(spec: TensorSpec) -> models_pb2.TensorSpec:
    return models_pb2.TensorSpec(name=spec.name, type=spec.type, shape=list(spec.shape))


def model_version_proto(model: ModelVersion) -> models_pb2.ModelVersion:
    return models_pb2.ModelVersion(
        tenant_id=model.tenant_id,
        model_name=model.model_name,
        version=model.version,
        sha256=model.sha256,
        size_bytes=model.size_bytes,
        feature_names=list(model.feature_names),
        inputs=[_tensor(s) for s in model.signature.inputs],
        outputs=[_tensor(s) for s in model.signature.outputs],
        score_output=model.score_output,
        metadata=models_pb2.ModelMetadata(
            owner=model.owner, description=model.description, labels=model.labels
        ),
    )


def deployment_published(
    tenant_id: str, model_name: str, change_version: int, value: Deployment, at: datetime
) -> OutboxMessage:
    """What every decision replica hears of, to swap in the model's new deployment."""
    message = models_pb2.ModelDeploymentPublished(
        tenant_id=tenant_id,
        model_name=model_name,
        change_version=change_version,
        deployment=deployment_proto(value),
        publish_time=to_timestamp(at),
    )
    return OutboxMessage(
        subject=subjects.integration(tenant_id, SOURCE, "model_deployment_published"),
        type=DEPLOYMENT_PUBLISHED,
        payload=message.SerializeToString(),
        tenant_id=tenant_id,
        source=SOURCE,
        subject_ref=model_name,
        traceparent=telemetry.current_traceparent(),
    )


def published_model(envelope: Envelope) -> tuple[str, str, int]:
    """(tenant, model name, change version) of a ModelDeploymentPublished."""
    message = models_pb2.ModelDeploymentPublished.FromString(envelope.payload)
    return envelope.tenant_id, message.model_name, message.change_version

"""Protobuf <-> the decision service's domain; the only module besides api/ that knows protobuf."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.protobuf.message import Message

from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.decision.v1 import decisions_pb2, models_pb2
from layercake.events.v1 import ingest_pb2
from services.decision.domain.actions import ExposureCount
from services.decision.domain.decisions import Decision, Outcome, OutcomeKind
from services.decision.domain.features import ProfileFeatures
from services.decision.domain.models import Deployment, ModelVersion, Stage, TensorSpec
from services.decision.domain.transforms import as_number
from services.kernel import telemetry
from services.kernel.assets import KINDS, Asset, AssetKind
from services.kernel.errors import FieldViolation, InvalidArgument
from services.kernel.messaging import subjects
from services.kernel.messaging.envelope import Envelope
from services.kernel.protobuf import from_timestamp, to_timestamp
from services.kernel.store.records import OutboxMessage

SOURCE = "decision"


def feature_vector_proto(features: ProfileFeatures) -> pb.FeatureVector:
    """Every feature: numbers (booleans among them as 0/1, as before text and booleans had
    fields of their own), text, and booleans as they are."""
    values = features.values
    numbers = ((k, as_number(v)) for k, v in values.items() if not isinstance(v, str))
    return pb.FeatureVector(
        tenant_id=features.tenant_id,
        profile_id=features.profile_id,
        profile_version=features.profile_version,
        values={k: v for k, v in numbers if v is not None},
        update_time=to_timestamp(features.update_time),
        text_values={k: v for k, v in values.items() if isinstance(v, str)},
        bool_values={k: v for k, v in values.items() if isinstance(v, bool)},
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


# -- decisions ---------------------------------------------------------------------------------

OUTCOMES = {
    OutcomeKind.IMPRESSION: decisions_pb2.DECISION_OUTCOME_IMPRESSION,
    OutcomeKind.CLICKED: decisions_pb2.DECISION_OUTCOME_CLICKED,
    OutcomeKind.CONVERTED: decisions_pb2.DECISION_OUTCOME_CONVERTED,
    OutcomeKind.DISMISSED: decisions_pb2.DECISION_OUTCOME_DISMISSED,
}
OUTCOME_OF: dict[int, OutcomeKind] = {value: kind for kind, value in OUTCOMES.items()}
DECISION_MADE = decisions_pb2.DecisionMade.DESCRIPTOR.full_name
OUTCOME_RECORDED = decisions_pb2.DecisionOutcomeRecorded.DESCRIPTOR.full_name
CATALOG_CHANGED = decisions_pb2.CatalogChanged.DESCRIPTOR.full_name
EXPOSURES_COUNTED = decisions_pb2.ExposuresCounted.DESCRIPTOR.full_name


def outcome_kind(value: int) -> OutcomeKind:
    """The domain outcome of a request's enum; INVALID_ARGUMENT naming `outcome` when unset."""
    found = OUTCOME_OF.get(value)
    if found is None:
        raise InvalidArgument.field(
            "outcome", "must be impression, clicked, converted or dismissed"
        )
    return found


def _answer(message: pb.DecideResponse | decisions_pb2.DecisionMade, decision: Decision) -> None:
    """Writes the answer's fields (same names in both messages) into `message` in place:
    actions are added to its list, not built apart and copied in, and their attributes set
    one by one (a dict given whole goes through Python's `MutableMapping.update`)."""
    model = decision.model
    message.decision_id = decision.decision_id
    message.model_name = model.name
    message.model_version = model.version
    if model.stage:
        message.model_stage = STAGES[model.stage]
    message.fallback = decision.fallback
    ranked = message.actions.add
    for rank, a in enumerate(decision.actions, start=1):
        attributes = ranked(
            action_id=a.action_id,
            rank=rank,
            score=a.score,
            propensity=a.propensity,
            value=a.value,
            context_weight=a.context_weight,
            lever=a.lever,
            explored=a.explored,
            reasons=a.reasons,
            channel=a.channel,
        ).attributes
        for name, text in a.attributes.items():
            attributes[name] = text
    excluded = message.excluded.add
    for action_id, reasons in decision.excluded:
        excluded(action_id=action_id, reasons=reasons)


def decide_response(decision: Decision) -> pb.DecideResponse:
    response = pb.DecideResponse()
    _answer(response, decision)
    return response


def decision_made(decision: Decision) -> OutboxMessage:
    """The decision log's integration event: inputs, model version, answer."""
    c = decision.command
    message = decisions_pb2.DecisionMade(
        tenant_id=c.tenant_id,
        profile_id=c.profile_id,
        placement=c.placement,
        seed=c.seed,
        decide_time=to_timestamp(decision.decide_time),
        profile_version=decision.profile_version,
    )
    message.context.SetInParent()  # present even when empty, as the request's is
    if c.context_sent:  # parsing the request's bytes costs a fraction of building a Struct
        message.context.MergeFromString(c.context_sent)
    else:
        message.context.update(c.context)
    for action_id, scores in decision.shadow_scores.items():
        message.shadow_scores.add(
            action_id=action_id,
            scores=[
                models_pb2.ModelScore(version=v.version, stage=STAGES[v.stage], score=v.score)
                for v in scores
            ],
        )
    _answer(message, decision)
    return _event(c.tenant_id, "decision_made", DECISION_MADE, message, decision.decision_id)


def outcome_recorded(outcome: Outcome) -> OutboxMessage:
    message = decisions_pb2.DecisionOutcomeRecorded(
        decision_id=outcome.decision_id,
        tenant_id=outcome.tenant_id,
        action_id=outcome.action_id,
        outcome=OUTCOMES[outcome.kind],
        outcome_time=to_timestamp(outcome.outcome_time),
    )
    return _event(
        outcome.tenant_id,
        "decision_outcome_recorded",
        OUTCOME_RECORDED,
        message,
        outcome.decision_id,
    )


def exposures_counted(tenant_id: str, counts: Sequence[ExposureCount]) -> OutboxMessage:
    """The log's counters after a write, for every replica's counts in memory."""
    message = decisions_pb2.ExposuresCounted(
        tenant_id=tenant_id,
        counts=[
            decisions_pb2.ExposureCount(
                action_id=c.action_id,
                profile_id=c.profile_id,
                served=c.served,
                positives=c.positives,
            )
            for c in counts
        ],
    )
    return _event(tenant_id, "exposures_counted", EXPOSURES_COUNTED, message, tenant_id)


def counted_exposures(envelope: Envelope) -> list[ExposureCount]:
    message = decisions_pb2.ExposuresCounted.FromString(envelope.payload)
    return [ExposureCount(c.action_id, c.profile_id, c.served, c.positives) for c in message.counts]


def catalog_changed(tenant_id: str, kind: str, asset_id: str, change_version: int) -> OutboxMessage:
    """What every replica hears of, to reload the tenant's actions and placements."""
    message = decisions_pb2.CatalogChanged(
        tenant_id=tenant_id, kind=kind, asset_id=asset_id, change_version=change_version
    )
    return _event(tenant_id, "catalog_changed", CATALOG_CHANGED, message, asset_id)


def changed_catalog(envelope: Envelope) -> str:
    """The tenant of a CatalogChanged."""
    return envelope.tenant_id


def _event(tenant_id: str, name: str, type_name: str, message: Message, ref: str) -> OutboxMessage:
    return OutboxMessage(
        subject=subjects.integration(tenant_id, SOURCE, name),
        type=type_name,
        payload=message.SerializeToString(),
        tenant_id=tenant_id,
        source=SOURCE,
        subject_ref=ref,
        traceparent=telemetry.current_traceparent(),
    )


OUTCOME_NAMES = {kind.name.lower(): kind for kind in OutcomeKind}


def ingested_outcome(envelope: Envelope) -> Outcome | None:
    """The outcome an ingest event reports, or None when it reports none: a `track` event
    with string properties `decision_id` and `action_id`, named after the outcome
    (`clicked`, `converted`, `impression`, `dismissed`) or carrying it in `outcome`."""
    ingested = ingest_pb2.EventIngested.FromString(envelope.payload)
    event = ingested.event
    if event.type != "track":
        return None
    fields = event.properties.fields

    def text(name: str) -> str:
        value = fields.get(name)
        return value.string_value if value is not None else ""

    kind = OUTCOME_NAMES.get(text("outcome") or event.event)
    decision_id, action_id = text("decision_id"), text("action_id")
    if kind is None or not decision_id or not action_id:
        return None
    at = event.timestamp if event.HasField("timestamp") else ingested.receive_time
    return Outcome(envelope.tenant_id, decision_id[:64], action_id[:100], kind, from_timestamp(at))

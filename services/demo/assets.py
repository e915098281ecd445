"""The story's assets, published through the gateway as a tenant's team would: each saved
by an editor, approved by someone else, published by an operator (four eyes). An asset
already published by an earlier run against the same platform is kept as it is."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from layercake.gateway.v1 import decisions_service_pb2 as dpb
from layercake.gateway.v1 import journeys_service_pb2 as jpb
from layercake.gateway.v1 import profiles_service_pb2 as ppb
from services.decision import training
from services.demo.gateway import TIMEOUT, Gateway, auth, request_id

EXAMPLES = Path(__file__).parents[1]
COMPUTED_TRAITS = EXAMPLES / "identity" / "examples" / "computed-traits.yaml"
AUDIENCE = EXAMPLES / "identity" / "examples" / "family-car-intenders.yaml"
AUDIENCE_ID = "family-car-intenders"
PLACEMENT = "drinks"
MODEL_NAME, MODEL_VERSION = "drinks", "1"
CHUNK = 1 << 20
ACTIONS = (  # each lifecycle RPC (`<Action><Noun>`) by the key of the person who may call it
    ("Submit", "editor"),
    ("Approve", "approver"),
    ("Publish", "operator"),
)
PUBLISHED = "published"


def _missing(error: grpc.aio.AioRpcError) -> bool:
    return error.code() == grpc.StatusCode.NOT_FOUND


async def computed_traits(g: Gateway) -> str:
    """The tenant's computed traits (services/identity/examples/computed-traits.yaml)."""
    try:
        held = await g.profiles.GetComputedTraits(
            ppb.GetComputedTraitsRequest(), metadata=auth(g.crew.admin), timeout=TIMEOUT
        )
        if held.version.state == PUBLISHED:
            return f"computed traits v{held.version.version}: published already, kept"
    except grpc.aio.AioRpcError as e:
        if not _missing(e):
            raise
    saved = await g.profiles.ApplyComputedTraits(
        ppb.ApplyComputedTraitsRequest(
            request_id=request_id(), yaml=COMPUTED_TRAITS.read_text(), reason="seed story"
        ),
        metadata=auth(g.crew.editor),
        timeout=TIMEOUT,
    )
    for action, who in ACTIONS:
        await getattr(g.profiles, f"{action}ComputedTraits")(
            getattr(ppb, f"{action}ComputedTraitsRequest")(request_id=request_id()),
            metadata=auth(getattr(g.crew, who)),
            timeout=TIMEOUT,
        )
    names = ", ".join(saved.trait_names)
    return f"computed traits v{saved.version.version} ({names}): submitted, approved, published"


async def audience(g: Gateway) -> str:
    """The audience "family car intenders" (services/identity/examples/)."""
    try:
        held = await g.profiles.GetAudience(
            ppb.GetAudienceRequest(audience_id=AUDIENCE_ID),
            metadata=auth(g.crew.admin),
            timeout=TIMEOUT,
        )
        if held.version.state == PUBLISHED:
            return f"audience {AUDIENCE_ID} v{held.version.version}: published already, kept"
    except grpc.aio.AioRpcError as e:
        if not _missing(e):
            raise
    saved = await g.profiles.ApplyAudience(
        ppb.ApplyAudienceRequest(request_id=request_id(), yaml=AUDIENCE.read_text()),
        metadata=auth(g.crew.editor),
        timeout=TIMEOUT,
    )
    for action, who in ACTIONS:
        await getattr(g.profiles, f"{action}Audience")(
            getattr(ppb, f"{action}AudienceRequest")(
                request_id=request_id(), audience_id=AUDIENCE_ID
            ),
            metadata=auth(getattr(g.crew, who)),
            timeout=TIMEOUT,
        )
    return (
        f"audience {AUDIENCE_ID} v{saved.version.version} ({saved.audience.rule}): "
        "submitted, approved, published"
    )


async def catalog(g: Gateway) -> str:
    """The `drinks` placement and its actions (services/decision/examples/drinks.yaml)."""
    saved = await g.decisions.ApplyCatalog(
        dpb.ApplyCatalogRequest(
            request_id=request_id(), yaml=training.DRINKS_EXAMPLE.read_text(), reason="seed story"
        ),
        metadata=auth(g.crew.editor),
        timeout=TIMEOUT,
    )
    for version in saved.versions:
        for action, who in ACTIONS:
            await getattr(g.decisions, f"{action}CatalogAsset")(
                getattr(dpb, f"{action}CatalogAssetRequest")(
                    request_id=request_id(), kind=version.kind, asset_id=version.asset_id
                ),
                metadata=auth(getattr(g.crew, who)),
                timeout=TIMEOUT,
            )
    shown = ", ".join(f"{v.kind} {v.asset_id} v{v.version}" for v in saved.versions)
    return f"catalog {shown}: submitted, approved, published"


async def _upload(
    header: dpb.ModelUpload, content: bytes
) -> AsyncIterator[dpb.RegisterModelRequest]:
    yield dpb.RegisterModelRequest(upload=header)
    for start in range(0, len(content), CHUNK):
        yield dpb.RegisterModelRequest(chunk=content[start : start + CHUNK])


async def model(g: Gateway) -> str:
    """The ONNX model `drinks` (services/decision/models/drinks.onnx), champion."""
    listed = await g.decisions.ListModels(
        dpb.ListModelsRequest(model_name=MODEL_NAME), metadata=auth(g.crew.admin), timeout=TIMEOUT
    )
    if any(
        m.version == MODEL_VERSION and m.stage == dpb.MODEL_STAGE_CHAMPION for m in listed.models
    ):
        return f"model {MODEL_NAME} {MODEL_VERSION}: champion already, kept"
    content = training.DRINKS_PATH.read_bytes()
    if not any(m.version == MODEL_VERSION for m in listed.models):
        header = dpb.ModelUpload(
            request_id=request_id(),
            model_name=MODEL_NAME,
            version=MODEL_VERSION,
            feature_names=list(training.drinks_placement().features.columns),
            owner="growth-team",
            description="water or diet soda, trained on synthetic data (make models)",
            sha256=hashlib.sha256(content).hexdigest(),
        )
        await g.decisions.RegisterModel(
            _upload(header, content), metadata=auth(g.crew.editor), timeout=TIMEOUT
        )
    await g.decisions.PromoteModel(
        dpb.PromoteModelRequest(
            request_id=request_id(),
            model_name=MODEL_NAME,
            version=MODEL_VERSION,
            stage=dpb.MODEL_STAGE_CHAMPION,
        ),
        metadata=auth(g.crew.editor),
        timeout=TIMEOUT,
    )
    await g.decisions.ApproveModelChange(
        dpb.ApproveModelChangeRequest(request_id=request_id(), model_name=MODEL_NAME),
        metadata=auth(g.crew.approver),
        timeout=TIMEOUT,
    )
    await g.decisions.PublishModelChange(
        dpb.PublishModelChangeRequest(request_id=request_id(), model_name=MODEL_NAME),
        metadata=auth(g.crew.operator),
        timeout=TIMEOUT,
    )
    size = len(content) // 1024
    return f"model {MODEL_NAME} {MODEL_VERSION} ({size} KiB ONNX): registered, champion"


TEMPLATES = ("drink-pick", "drink-alternatives")
JOURNEY_ID = "intender-drinks"
STORY_ASSETS = Path(__file__).with_name("assets")


async def template(g: Gateway, template_id: str) -> str:
    """A template of the story's journey (services/demo/assets/<id>.yaml)."""
    try:
        held = await g.journeys.GetTemplate(
            jpb.GetTemplateRequest(template_id=template_id),
            metadata=auth(g.crew.admin),
            timeout=TIMEOUT,
        )
        if held.version.state == PUBLISHED:
            return f"template {template_id} v{held.version.version}: published already, kept"
    except grpc.aio.AioRpcError as e:
        if not _missing(e):
            raise
    version = await publish_template(g, (STORY_ASSETS / f"{template_id}.yaml").read_text())
    return f"template {template_id} v{version}: submitted, approved, published"


async def journey(g: Gateway) -> str:
    """The journey `intender-drinks` (services/demo/assets/intender-drinks.yaml)."""
    try:
        held = await g.journeys.GetJourney(
            jpb.GetJourneyRequest(journey_id=JOURNEY_ID),
            metadata=auth(g.crew.admin),
            timeout=TIMEOUT,
        )
        if held.version.state == PUBLISHED:
            return f"journey {JOURNEY_ID} v{held.version.version}: published already, kept"
    except grpc.aio.AioRpcError as e:
        if not _missing(e):
            raise
    version = await publish_journey(g, (STORY_ASSETS / f"{JOURNEY_ID}.yaml").read_text())
    return f"journey {JOURNEY_ID} v{version}: submitted, approved, published"


async def publish_template(g: Gateway, text: str) -> int:
    """Saves a template's YAML as the editor, then has it submitted, approved and published
    (four eyes); answers the version published."""
    saved = await g.journeys.ApplyTemplate(
        jpb.ApplyTemplateRequest(yaml=text, request_id=request_id()),
        metadata=auth(g.crew.editor),
        timeout=TIMEOUT,
    )
    await _four_eyes(g, "Template", template_id=saved.version.asset_id)
    return saved.version.version


async def publish_journey(g: Gateway, text: str) -> int:
    """Saves a journey's YAML as the editor, then has it submitted, approved and published
    (four eyes); answers the version published."""
    saved = await g.journeys.ApplyJourney(
        jpb.ApplyJourneyRequest(yaml=text, request_id=request_id()),
        metadata=auth(g.crew.editor),
        timeout=TIMEOUT,
    )
    await _four_eyes(g, "Journey", journey_id=saved.version.asset_id)
    return saved.version.version


async def _four_eyes(g: Gateway, noun: str, **asset: str) -> None:
    """Submit, approve and publish a JourneysService asset, each by the person who may."""
    for action, who in ACTIONS:
        await getattr(g.journeys, f"{action}{noun}")(
            getattr(jpb, f"{action}{noun}Request")(request_id=request_id(), **asset),
            metadata=auth(getattr(g.crew, who)),
            timeout=TIMEOUT,
        )

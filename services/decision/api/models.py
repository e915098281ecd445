"""The model RPCs of DecisionService: register (streamed), promote, approve, publish, list,
score."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import Executor

from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.decision.v1 import models_pb2
from services.decision import handlers, mapping, scoring
from services.decision.catalogs import Catalogs
from services.decision.domain.models import ModelVersion, check_names
from services.decision.domain.transforms import Cell, record
from services.decision.serving import ModelServing, Score
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.errors import InvalidArgument, NotFound, Violations
from services.kernel.protobuf import plain_object
from services.kernel.rpc import calls, idempotency
from services.kernel.service_layer import ServiceLayer

MAX_MODEL_BYTES = 64 * 1024 * 1024


async def read_upload(
    requests: AsyncIterator[pb.RegisterModelRequest],
) -> tuple[pb.ModelUpload, bytes]:
    """The header and the whole file of a RegisterModel stream, bounded in size."""
    upload: pb.ModelUpload | None = None
    chunks: list[bytes] = []
    size = 0
    async for request in requests:
        part = request.WhichOneof("part")
        if upload is None:
            if part != "upload":
                raise InvalidArgument.field("upload", "the stream must begin with the upload")
            upload = request.upload
        elif part != "chunk":
            raise InvalidArgument.field("upload", "must come once, first; then only chunks")
        else:
            size += len(request.chunk)
            if size > MAX_MODEL_BYTES:
                raise InvalidArgument.field("chunk", f"the model exceeds {MAX_MODEL_BYTES} bytes")
            chunks.append(request.chunk)
    if upload is None:
        raise InvalidArgument.field("upload", "is required: the stream was empty")
    if not size:
        raise InvalidArgument.field("chunk", "the model's bytes are required")
    return upload, b"".join(chunks)


class ModelRpcs:
    """The servicer's model methods; `DecisionServicer` delegates to them."""

    def __init__(
        self,
        layer: ServiceLayer[SqlDecisionUnitOfWork],
        serving: ModelServing,
        executor: Executor,
        catalogs: Catalogs,
    ) -> None:
        self.layer = layer
        self.serving = serving
        self.executor = executor
        self.catalogs = catalogs

    async def register(
        self, requests: AsyncIterator[pb.RegisterModelRequest]
    ) -> pb.RegisterModelResponse:
        upload, content = await read_upload(requests)
        tenant = calls.tenant_of(upload.tenant_id)
        features = tuple(upload.feature_names)
        bad = Violations()
        bad.items.extend(check_names(upload.model_name, upload.version, features))
        digest = hashlib.sha256(content).hexdigest()
        if upload.sha256 and upload.sha256.lower() != digest:
            bad.add("sha256", f"does not match the bytes received (sha256 {digest})")
        bad.raise_if_any()
        loop = asyncio.get_running_loop()
        signature, output = await loop.run_in_executor(
            self.executor, scoring.inspect, content, features
        )
        meta = upload.metadata
        model = ModelVersion(
            tenant_id=tenant,
            model_name=upload.model_name,
            version=upload.version,
            sha256=digest,
            size_bytes=len(content),
            feature_names=features,
            signature=signature,
            score_output=output,
            owner=meta.owner,
            description=meta.description,
            labels=dict(meta.labels),
        )
        fingerprinted = pb.ModelUpload()
        fingerprinted.CopyFrom(upload)
        fingerprinted.sha256 = digest  # a retry with other bytes is another request
        key = idempotency.request_key(upload.request_id)
        return await self.layer.run(
            idempotency.once,
            key,
            fingerprinted,
            pb.RegisterModelResponse,
            lambda uow: pb.RegisterModelResponse(
                model=mapping.model_version_proto(handlers.register_model(uow, model, content))
            ),
        )

    async def promote(self, request: pb.PromoteModelRequest) -> pb.PromoteModelResponse:
        calls.tenant_of(request.tenant_id)
        principal = calls.current_principal()
        stage = mapping.stage(request.stage)
        return await self.layer.run(
            idempotency.once,
            idempotency.request_key(request.request_id),
            request,
            pb.PromoteModelResponse,
            lambda uow: pb.PromoteModelResponse(
                change=mapping.model_change(
                    handlers.promote_model(
                        uow,
                        principal,
                        request.model_name,
                        request.version,
                        stage,
                        request.challenger_share,
                        request.reason,
                    )
                )
            ),
        )

    async def approve(self, request: pb.ApproveModelChangeRequest) -> pb.ApproveModelChangeResponse:
        calls.tenant_of(request.tenant_id)
        principal = calls.current_principal()
        return await self.layer.run(
            idempotency.once,
            idempotency.request_key(request.request_id),
            request,
            pb.ApproveModelChangeResponse,
            lambda uow: pb.ApproveModelChangeResponse(
                change=mapping.model_change(
                    handlers.approve_model_change(
                        uow, principal, request.model_name, request.reason
                    )
                )
            ),
        )

    async def publish(self, request: pb.PublishModelChangeRequest) -> pb.PublishModelChangeResponse:
        calls.tenant_of(request.tenant_id)
        principal = calls.current_principal()
        response = await self.layer.run(
            idempotency.once,
            idempotency.request_key(request.request_id),
            request,
            pb.PublishModelChangeResponse,
            lambda uow: pb.PublishModelChangeResponse(
                change=mapping.model_change(
                    handlers.publish_model_change(
                        uow, principal, request.model_name, request.reason
                    )
                )
            ),
        )
        # this replica serves it at once; the others (and this one again) hear the broadcast
        await self.serving.reload(principal.tenant_id, request.model_name)
        return response

    async def list(self, request: pb.ListModelsRequest) -> pb.ListModelsResponse:
        tenant = calls.tenant_of(request.tenant_id)
        page = await self.layer.read(
            handlers.list_models, tenant, request.model_name, request.page_size, request.page_token
        )
        return pb.ListModelsResponse(
            models=[
                pb.ListedModel(model=mapping.model_version_proto(m), stage=mapping.STAGES[stage])
                for m, stage in page.items
            ],
            next_page_token=page.next_page_token,
        )

    async def score(self, request: pb.ScoreProfileRequest) -> pb.ScoreProfileResponse:
        tenant = calls.tenant_of(request.tenant_id)
        bad = Violations()
        bad.require(request.model_name, "model_name")
        bad.require(request.profile_id, "profile_id")
        bad.raise_if_any()
        held = await self.layer.read(handlers.profile_features, tenant, request.profile_id)
        features = {**(held.values if held is not None else {}), **request.features}
        row: Mapping[str, Cell] = features
        if request.placement:
            row = await self._placement_row(tenant, request, features)
        served, scores = await self.serving.score(
            tenant, request.model_name, request.profile_id, row
        )
        return pb.ScoreProfileResponse(served=_score(served), scores=[_score(s) for s in scores])

    async def _placement_row(
        self, tenant: str, request: pb.ScoreProfileRequest, features: Mapping[str, Cell]
    ) -> Mapping[str, Cell]:
        """The row the placement's transforms build, as Decide's for the action; NOT_FOUND
        for a placement or action not live."""
        catalog = await self.catalogs.get(tenant)
        placement = catalog.placements.get(request.placement)
        if placement is None:
            raise NotFound(f"placement {request.placement!r} is not live")
        context = plain_object(request.context)
        if not request.action_id:
            return placement.features.row({"features": features, "context": context})
        action = next((a for a in catalog.actions if a.action_id == request.action_id), None)
        if action is None:
            raise NotFound(f"action {request.action_id!r} is not live")
        found = record(features, context, action.action_id, action.value, action.attributes)
        return placement.features.row(found)


def _score(score: Score) -> models_pb2.ModelScore:
    return models_pb2.ModelScore(
        version=score.version, stage=mapping.STAGES[score.stage], score=score.score
    )

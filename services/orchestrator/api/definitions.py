"""Journey and template RPCs: one implementation for both kinds, proto in and out.

A definition arrives as YAML (metadata among its keys) or protobuf JSON (metadata beside
it); it is parsed here, validated by its kind inside the kernel's `edit_asset`, and the
answer is the saved version. Mutations are idempotent per `request_id`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from services.kernel.assets import Action, Asset, AssetKind, AssetMetadata
from services.kernel.assets import mapping as asset_mapping
from services.kernel.errors import InvalidArgument
from services.kernel.rpc import calls, idempotency
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.unit_of_work import UnitOfWork
from services.orchestrator import definitions
from services.orchestrator.domain.journeys import read_journey
from services.orchestrator.domain.kinds import JOURNEY, TEMPLATE
from services.orchestrator.domain.templates import read_template, with_variables
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork

M = TypeVar("M", bound=Message)

ACTIONS = {
    pb.ASSET_ACTION_SUBMIT: Action.SUBMIT,
    pb.ASSET_ACTION_APPROVE: Action.APPROVE,
    pb.ASSET_ACTION_REJECT: Action.REJECT,
    pb.ASSET_ACTION_PUBLISH: Action.PUBLISH,
    pb.ASSET_ACTION_PAUSE: Action.PAUSE,
    pb.ASSET_ACTION_RESUME: Action.RESUME,
    pb.ASSET_ACTION_ARCHIVE: Action.ARCHIVE,
    pb.ASSET_ACTION_ROLLBACK: Action.ROLLBACK,
}


ApplyRequest = pb.ApplyJourneyRequest | pb.ApplyTemplateRequest


@dataclass(frozen=True)
class DefinitionKind:
    """What differs between journeys and templates at the edge."""

    kind: AssetKind
    id_field: str  # journey_id / template_id, in the content and in requests
    read_yaml: Callable[[str], tuple[Message, AssetMetadata]]
    complete: Callable[[Message], Message]  # derived fields a JSON definition may omit

    def parse(self, request: ApplyRequest) -> tuple[str, Message, AssetMetadata]:
        """(asset id, content, metadata) of an Apply request; INVALID_ARGUMENT naming the field."""
        source = request.WhichOneof("source")
        if source == "yaml":
            if request.HasField("metadata"):
                raise InvalidArgument.field("metadata", "belongs inside the YAML")
            content, metadata = self.read_yaml(request.yaml)
        elif source == "json":
            content = self.kind.content_type()
            try:
                json_format.Parse(request.json, content)
            except json_format.ParseError as e:
                raise InvalidArgument.field("json", str(e)[:300]) from None
            content = self.complete(content)
            metadata = asset_mapping.metadata_of(request.metadata)
        else:
            raise InvalidArgument.field("source", "give the definition as yaml or json")
        return getattr(content, self.id_field), content, metadata


JOURNEYS = DefinitionKind(JOURNEY, "journey_id", read_journey, lambda c: c)
TEMPLATES = DefinitionKind(
    TEMPLATE,
    "template_id",
    read_template,
    lambda c: with_variables(c),  # type: ignore[arg-type]
)


class DefinitionRpcs:
    """Apply, transition, get, list and diff, for either kind."""

    def __init__(self, layer: ServiceLayer[SqlOrchestratorUnitOfWork]) -> None:
        self.layer = layer

    async def apply(self, spec: DefinitionKind, request: ApplyRequest, response_type: type[M]) -> M:
        principal = calls.current_principal()
        calls.tenant_of(request.tenant_id)
        asset_id, content, metadata = spec.parse(request)
        key = idempotency.request_key(request.request_id)

        def apply(uow: UnitOfWork) -> M:
            asset, number = definitions.apply_definition(
                uow, principal, spec.kind, asset_id, content, metadata, reason=request.reason
            )
            return answer(response_type, spec, asset, number)

        return await self.layer.run(idempotency.once, key, request, response_type, apply)

    async def transition(self, spec: DefinitionKind, request: Any, response_type: type[M]) -> M:
        principal = calls.current_principal()
        calls.tenant_of(request.tenant_id)
        action = ACTIONS.get(request.action)
        if action is None:
            raise InvalidArgument.field(
                "action",
                "must be one of submit, approve, reject, publish, pause, resume, archive, rollback",
            )
        asset_id = getattr(request, spec.id_field)
        key = idempotency.request_key(request.request_id)

        def apply(uow: UnitOfWork) -> M:
            asset, number = definitions.transition_definition(
                uow,
                principal,
                spec.kind,
                asset_id,
                action,
                reason=request.reason,
                to_version=request.to_version,
            )
            return response_type(version=asset_mapping.version_message(asset, number))

        return await self.layer.run(idempotency.once, key, request, response_type, apply)

    async def get(self, spec: DefinitionKind, request: Any, response_type: type[M]) -> M:
        tenant = calls.tenant_of(request.tenant_id)
        asset, number = await self.layer.read(
            definitions.get_definition,
            tenant,
            spec.kind,
            getattr(request, spec.id_field),
            request.version,
        )
        return answer(response_type, spec, asset, number)

    async def list(self, spec: DefinitionKind, request: Any, response_type: type[M]) -> M:
        tenant = calls.tenant_of(request.tenant_id)
        page = await self.layer.read(
            definitions.list_definitions, tenant, spec.kind, request.page_size, request.page_token
        )
        return response_type(
            versions=[asset_mapping.version_message(a, a.latest) for a in page.items],
            next_page_token=page.next_page_token,
        )

    async def diff(self, spec: DefinitionKind, request: Any, response_type: type[M]) -> M:
        tenant = calls.tenant_of(request.tenant_id)
        changes = await self.layer.read(
            definitions.diff_definitions,
            tenant,
            spec.kind,
            getattr(request, spec.id_field),
            request.old_version,
            request.new_version,
        )
        return response_type(changes=[asset_mapping.field_change_message(c) for c in changes])


def answer(response_type: type[M], spec: DefinitionKind, asset: Asset, number: int) -> M:
    """A response carrying the version summary and its definition."""
    response = response_type(version=asset_mapping.version_message(asset, number))
    getattr(response, spec.kind.name).CopyFrom(asset.get_version(number).content)
    return response

"""Journeys and templates at the gateway (the caller admitted by the servicer): build the
orchestrator's request, and answer with the gateway's own messages.

Both kinds share one implementation, told apart by a `DefinitionKind`. The orchestrator
acts in the tenant of the principal each call is signed for, so another tenant's ids
are simply not found; it also enforces the lifecycle and four-eyes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.protobuf import struct_pb2

from layercake.gateway.v1 import asset_pb2 as apb
from layercake.orchestrator.v1 import orchestrator_service_pb2 as opb
from services.gateway import asset_mapping
from services.gateway.adapters.orchestrator import OrchestratorClient
from services.gateway.api import lifecycle
from services.gateway.api.lifecycle import version_number
from services.kernel.assets.lifecycle import Action
from services.kernel.errors import InvalidArgument, Violations

if TYPE_CHECKING:
    from services.gateway.adapters.orchestrator import OrchestratorStub

Method = Callable[["OrchestratorStub"], Callable[..., Awaitable[Any]]]


@dataclass(frozen=True)
class DefinitionKind:
    """The orchestrator's RPCs and request types of one kind, and its id field."""

    name: str  # `journey`; also the field of Apply/Get responses holding the definition
    apply: Method
    transition: Method
    get: Method
    list: Method
    diff: Method
    apply_request: type[Any]
    transition_request: type[Any]
    get_request: type[Any]
    list_request: type[Any]
    diff_request: type[Any]

    @property
    def id_field(self) -> str:
        return f"{self.name}_id"


JOURNEYS = DefinitionKind(
    "journey",
    lambda s: s.ApplyJourney,
    lambda s: s.TransitionJourney,
    lambda s: s.GetJourney,
    lambda s: s.ListJourneys,
    lambda s: s.DiffJourneyVersions,
    opb.ApplyJourneyRequest,
    opb.TransitionJourneyRequest,
    opb.GetJourneyRequest,
    opb.ListJourneysRequest,
    opb.DiffJourneyVersionsRequest,
)
TEMPLATES = DefinitionKind(
    "template",
    lambda s: s.ApplyTemplate,
    lambda s: s.TransitionTemplate,
    lambda s: s.GetTemplate,
    lambda s: s.ListTemplates,
    lambda s: s.DiffTemplateVersions,
    opb.ApplyTemplateRequest,
    opb.TransitionTemplateRequest,
    opb.GetTemplateRequest,
    opb.ListTemplatesRequest,
    opb.DiffTemplateVersionsRequest,
)

_ACTIONS: dict[Action, opb.AssetAction.ValueType] = {
    a: opb.AssetAction.Value(f"ASSET_ACTION_{a.name}") for a in lifecycle.ACTIONS
}


@dataclass(frozen=True)
class Answer:
    """A version and, for Apply and Get, its definition."""

    version: apb.AssetVersion
    definition: struct_pb2.Struct | None = None


class Definitions:
    """Apply, the lifecycle actions, get, list and diff, for either kind."""

    def __init__(self, orchestrator: OrchestratorClient) -> None:
        self.orchestrator = orchestrator

    async def apply(self, kind: DefinitionKind, request: Any) -> Answer:
        internal = kind.apply_request(reason=request.reason, request_id=request.request_id)
        source = request.WhichOneof("source")
        if source is None:  # named by its first field: a oneof is no field path
            raise InvalidArgument.field("yaml", "give the definition as yaml or as json")
        setattr(internal, source, getattr(request, source))
        if request.HasField("metadata"):
            internal.metadata.CopyFrom(asset_mapping.internal_metadata(request.metadata))
        reply = await self.orchestrator.call(kind.apply, internal)
        return _answer(kind, reply)

    async def transition(
        self, kind: DefinitionKind, action: Action, request: Any
    ) -> apb.AssetVersion:
        to_version = lifecycle.checked_move(request, action, kind.id_field)
        internal = kind.transition_request(
            action=_ACTIONS[action],
            reason=request.reason,
            to_version=to_version,
            request_id=request.request_id,
        )
        setattr(internal, kind.id_field, getattr(request, kind.id_field))
        reply = await self.orchestrator.call(kind.transition, internal)
        return asset_mapping.version_message(reply.version)

    async def get(self, kind: DefinitionKind, request: Any) -> Answer:
        asset_id = _required(request, kind.id_field)
        if request.version < 0:
            raise InvalidArgument.field("version", "must not be negative (0 is the latest)")
        internal = kind.get_request(version=version_number(request.version, "version"))
        setattr(internal, kind.id_field, asset_id)
        return _answer(kind, await self.orchestrator.call(kind.get, internal))

    async def list_page(
        self, kind: DefinitionKind, page_size: int, page_token: str
    ) -> tuple[list[apb.AssetVersion], str]:
        """A page of the latest versions, by id, as the orchestrator pages them (its token is
        the public one)."""
        reply = await self.orchestrator.call(
            kind.list, kind.list_request(page_size=page_size, page_token=page_token)
        )
        return [asset_mapping.version_message(v) for v in reply.versions], reply.next_page_token

    async def diff(self, kind: DefinitionKind, request: Any) -> list[apb.AssetFieldChange]:
        asset_id = _required(request, kind.id_field)
        bad = Violations()
        bad.require(request.old_version, "old_version")
        bad.require(request.new_version, "new_version")
        bad.raise_if_any()
        internal = kind.diff_request(
            old_version=version_number(request.old_version, "old_version"),
            new_version=version_number(request.new_version, "new_version"),
        )
        setattr(internal, kind.id_field, asset_id)
        reply = await self.orchestrator.call(kind.diff, internal)
        return [asset_mapping.field_change_message(c) for c in reply.changes]


def _answer(kind: DefinitionKind, reply: Any) -> Answer:
    return Answer(
        asset_mapping.version_message(reply.version),
        asset_mapping.definition(getattr(reply, kind.name)),
    )


def _required(request: Any, field: str) -> str:
    value: str = getattr(request, field)
    if not value:
        raise InvalidArgument.field(field, "is required")
    return value

"""OrchestratorService: proto in, a handler call, proto out; errors map in the interceptor."""

from __future__ import annotations

import grpc

from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as pb_grpc
from services.kernel.rpc import calls
from services.kernel.rpc.server import Servicer
from services.kernel.service_layer import ServiceLayer
from services.orchestrator import handlers, mapping
from services.orchestrator.api.definitions import JOURNEYS, TEMPLATES, DefinitionRpcs
from services.orchestrator.api.facts import FactsRpcs
from services.orchestrator.api.runs import RunRpcs
from services.orchestrator.api.send_settings import SendSettingsRpcs
from services.orchestrator.engine import JourneyEngine
from services.orchestrator.ports import ProfileDirectory
from services.orchestrator.send_settings import SendPolicies
from services.orchestrator.sends import SendPolicy
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork

Context = grpc.aio.ServicerContext[object, object]


class OrchestratorServicer(pb_grpc.OrchestratorServiceServicer):
    def __init__(
        self,
        layer: ServiceLayer[SqlOrchestratorUnitOfWork],
        engine: JourneyEngine,
        directory: ProfileDirectory,
        policies: SendPolicies,
    ) -> None:
        self.layer = layer
        self.definitions = DefinitionRpcs(layer)
        self.facts = FactsRpcs(layer)
        self.runs = RunRpcs(layer, engine, directory)
        self.send_settings = SendSettingsRpcs(layer, policies)

    async def GetContactState(
        self,
        request: pb.GetContactStateRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> pb.GetContactStateResponse:
        tenant = calls.tenant_of(request.tenant_id)  # the signed principal's, never the body's
        state = await self.layer.read(handlers.get_contact_state, tenant, request.profile_id)
        return pb.GetContactStateResponse(contact_state=mapping.contact_state_proto(state))

    # -- journeys and templates (controlled assets) ------------------------------------------

    async def ApplyJourney(
        self, request: pb.ApplyJourneyRequest, context: Context
    ) -> pb.ApplyJourneyResponse:
        return await self.definitions.apply(JOURNEYS, request, pb.ApplyJourneyResponse)

    async def TransitionJourney(
        self, request: pb.TransitionJourneyRequest, context: Context
    ) -> pb.TransitionJourneyResponse:
        return await self.definitions.transition(JOURNEYS, request, pb.TransitionJourneyResponse)

    async def GetJourney(
        self, request: pb.GetJourneyRequest, context: Context
    ) -> pb.GetJourneyResponse:
        return await self.definitions.get(JOURNEYS, request, pb.GetJourneyResponse)

    async def ListJourneys(
        self, request: pb.ListJourneysRequest, context: Context
    ) -> pb.ListJourneysResponse:
        return await self.definitions.list(JOURNEYS, request, pb.ListJourneysResponse)

    async def DiffJourneyVersions(
        self, request: pb.DiffJourneyVersionsRequest, context: Context
    ) -> pb.DiffJourneyVersionsResponse:
        return await self.definitions.diff(JOURNEYS, request, pb.DiffJourneyVersionsResponse)

    async def ApplyTemplate(
        self, request: pb.ApplyTemplateRequest, context: Context
    ) -> pb.ApplyTemplateResponse:
        return await self.definitions.apply(TEMPLATES, request, pb.ApplyTemplateResponse)

    async def TransitionTemplate(
        self, request: pb.TransitionTemplateRequest, context: Context
    ) -> pb.TransitionTemplateResponse:
        return await self.definitions.transition(TEMPLATES, request, pb.TransitionTemplateResponse)

    async def GetTemplate(
        self, request: pb.GetTemplateRequest, context: Context
    ) -> pb.GetTemplateResponse:
        return await self.definitions.get(TEMPLATES, request, pb.GetTemplateResponse)

    async def ListTemplates(
        self, request: pb.ListTemplatesRequest, context: Context
    ) -> pb.ListTemplatesResponse:
        return await self.definitions.list(TEMPLATES, request, pb.ListTemplatesResponse)

    async def DiffTemplateVersions(
        self, request: pb.DiffTemplateVersionsRequest, context: Context
    ) -> pb.DiffTemplateVersionsResponse:
        return await self.definitions.diff(TEMPLATES, request, pb.DiffTemplateVersionsResponse)

    # -- business facts ------------------------------------------------------------------------

    async def SetFacts(self, request: pb.SetFactsRequest, context: Context) -> pb.SetFactsResponse:
        return await self.facts.set(request)

    async def GetFacts(self, request: pb.GetFactsRequest, context: Context) -> pb.GetFactsResponse:
        return await self.facts.get(request)

    # -- journey runs ---------------------------------------------------------------------

    async def EnterJourney(
        self, request: pb.EnterJourneyRequest, context: Context
    ) -> pb.EnterJourneyResponse:
        return await self.runs.enter(request)

    async def MigrateJourneyRuns(
        self, request: pb.MigrateJourneyRunsRequest, context: Context
    ) -> pb.MigrateJourneyRunsResponse:
        return await self.runs.migrate(request)

    async def GetJourneyStats(
        self, request: pb.GetJourneyStatsRequest, context: Context
    ) -> pb.GetJourneyStatsResponse:
        return await self.runs.stats(request)

    # -- send settings --------------------------------------------------------------------

    async def GetSendSettings(
        self, request: pb.GetSendSettingsRequest, context: Context
    ) -> pb.GetSendSettingsResponse:
        return await self.send_settings.get(request)

    async def UpdateSendSettings(
        self, request: pb.UpdateSendSettingsRequest, context: Context
    ) -> pb.UpdateSendSettingsResponse:
        return await self.send_settings.update(request)


def orchestrator_servicer(
    layer: ServiceLayer[SqlOrchestratorUnitOfWork],
    engine: JourneyEngine,
    directory: ProfileDirectory,
    policies: SendPolicies | None = None,
) -> Servicer:
    """`policies`: the engine's (a test without them gets the built-in defaults')."""
    found = policies or SendPolicies(SendPolicy())
    return Servicer(
        pb_grpc.add_OrchestratorServiceServicer_to_server,
        OrchestratorServicer(layer, engine, directory, found),
        pb.DESCRIPTOR.services_by_name["OrchestratorService"].full_name,
    )

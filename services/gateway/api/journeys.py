"""JourneysService: journeys, templates and journey runs, forwarded to the orchestrator.

Each RPC admits the caller for its one scope, declared below (a lifecycle action's is the
kernel's `ACTION_SCOPES` entry), then forwards, signed for the admitted principal, with
the caller's remaining deadline; the answer is mapped to the gateway's own messages.
"""

from __future__ import annotations

from layercake.gateway.v1 import journeys_service_pb2 as pb
from layercake.gateway.v1 import journeys_service_pb2_grpc as pb_grpc
from services.gateway.adapters.orchestrator import OrchestratorClient
from services.gateway.api import lifecycle, scopes
from services.gateway.api.auth import Gatekeeper
from services.gateway.api.definitions import JOURNEYS, TEMPLATES, Definitions
from services.gateway.api.public import Context, PublicRpcs
from services.gateway.api.runs import JourneyRuns
from services.kernel.assets.lifecycle import Action
from services.kernel.principals import Scope
from services.kernel.rpc.server import Servicer

SERVICE = pb.DESCRIPTOR.services_by_name["JourneysService"]
scopes.declare(
    SERVICE,
    {
        **{
            f"{rpc}{kind}{suffix}": scope
            for kind in ("Journey", "Template")
            for rpc, suffix, scope in [
                ("Apply", "", Scope.ASSETS_WRITE),
                ("Get", "", Scope.ASSETS_READ),
                ("List", "s", Scope.ASSETS_READ),
                ("Diff", "Versions", Scope.ASSETS_READ),
            ]
        },
        **lifecycle.scope_rules("Journey"),
        **lifecycle.scope_rules("Template"),
        "GetJourneyStats": Scope.ASSETS_READ,
        "MigrateJourneyRuns": Scope.ASSETS_OPERATE,
        "EnterJourney": Scope.INGEST,  # the power of sending the event an entry waits for
    },
)


class JourneysServicer(PublicRpcs, pb_grpc.JourneysServiceServicer):
    def __init__(self, gate: Gatekeeper, orchestrator: OrchestratorClient) -> None:
        super().__init__(gate)
        self.definitions = Definitions(orchestrator)
        self.runs = JourneyRuns(orchestrator)

    # -- journeys ----------------------------------------------------------------------------

    async def ApplyJourney(
        self, request: pb.ApplyJourneyRequest, context: Context
    ) -> pb.ApplyJourneyResponse:
        await self.admit(context)
        answer = await self.definitions.apply(JOURNEYS, request)
        return pb.ApplyJourneyResponse(version=answer.version, definition=answer.definition)

    async def SubmitJourney(
        self, request: pb.SubmitJourneyRequest, context: Context
    ) -> pb.SubmitJourneyResponse:
        await self.admit(context)
        version = await self.definitions.transition(JOURNEYS, Action.SUBMIT, request)
        return pb.SubmitJourneyResponse(version=version)

    async def ApproveJourney(
        self, request: pb.ApproveJourneyRequest, context: Context
    ) -> pb.ApproveJourneyResponse:
        await self.admit(context)
        version = await self.definitions.transition(JOURNEYS, Action.APPROVE, request)
        return pb.ApproveJourneyResponse(version=version)

    async def RejectJourney(
        self, request: pb.RejectJourneyRequest, context: Context
    ) -> pb.RejectJourneyResponse:
        await self.admit(context)
        version = await self.definitions.transition(JOURNEYS, Action.REJECT, request)
        return pb.RejectJourneyResponse(version=version)

    async def PublishJourney(
        self, request: pb.PublishJourneyRequest, context: Context
    ) -> pb.PublishJourneyResponse:
        await self.admit(context)
        version = await self.definitions.transition(JOURNEYS, Action.PUBLISH, request)
        return pb.PublishJourneyResponse(version=version)

    async def PauseJourney(
        self, request: pb.PauseJourneyRequest, context: Context
    ) -> pb.PauseJourneyResponse:
        await self.admit(context)
        version = await self.definitions.transition(JOURNEYS, Action.PAUSE, request)
        return pb.PauseJourneyResponse(version=version)

    async def ResumeJourney(
        self, request: pb.ResumeJourneyRequest, context: Context
    ) -> pb.ResumeJourneyResponse:
        await self.admit(context)
        version = await self.definitions.transition(JOURNEYS, Action.RESUME, request)
        return pb.ResumeJourneyResponse(version=version)

    async def ArchiveJourney(
        self, request: pb.ArchiveJourneyRequest, context: Context
    ) -> pb.ArchiveJourneyResponse:
        await self.admit(context)
        version = await self.definitions.transition(JOURNEYS, Action.ARCHIVE, request)
        return pb.ArchiveJourneyResponse(version=version)

    async def RollbackJourney(
        self, request: pb.RollbackJourneyRequest, context: Context
    ) -> pb.RollbackJourneyResponse:
        await self.admit(context)
        version = await self.definitions.transition(JOURNEYS, Action.ROLLBACK, request)
        return pb.RollbackJourneyResponse(version=version)

    async def GetJourney(
        self, request: pb.GetJourneyRequest, context: Context
    ) -> pb.GetJourneyResponse:
        await self.admit(context)
        answer = await self.definitions.get(JOURNEYS, request)
        return pb.GetJourneyResponse(version=answer.version, definition=answer.definition)

    async def ListJourneys(
        self, request: pb.ListJourneysRequest, context: Context
    ) -> pb.ListJourneysResponse:
        await self.admit(context)
        versions, token = await self.definitions.list_page(
            JOURNEYS, request.page_size, request.page_token
        )
        return pb.ListJourneysResponse(versions=versions, next_page_token=token)

    async def DiffJourneyVersions(
        self, request: pb.DiffJourneyVersionsRequest, context: Context
    ) -> pb.DiffJourneyVersionsResponse:
        await self.admit(context)
        changes = await self.definitions.diff(JOURNEYS, request)
        return pb.DiffJourneyVersionsResponse(changes=changes)

    # -- templates ----------------------------------------------------------------------------

    async def ApplyTemplate(
        self, request: pb.ApplyTemplateRequest, context: Context
    ) -> pb.ApplyTemplateResponse:
        await self.admit(context)
        answer = await self.definitions.apply(TEMPLATES, request)
        return pb.ApplyTemplateResponse(version=answer.version, definition=answer.definition)

    async def SubmitTemplate(
        self, request: pb.SubmitTemplateRequest, context: Context
    ) -> pb.SubmitTemplateResponse:
        await self.admit(context)
        version = await self.definitions.transition(TEMPLATES, Action.SUBMIT, request)
        return pb.SubmitTemplateResponse(version=version)

    async def ApproveTemplate(
        self, request: pb.ApproveTemplateRequest, context: Context
    ) -> pb.ApproveTemplateResponse:
        await self.admit(context)
        version = await self.definitions.transition(TEMPLATES, Action.APPROVE, request)
        return pb.ApproveTemplateResponse(version=version)

    async def RejectTemplate(
        self, request: pb.RejectTemplateRequest, context: Context
    ) -> pb.RejectTemplateResponse:
        await self.admit(context)
        version = await self.definitions.transition(TEMPLATES, Action.REJECT, request)
        return pb.RejectTemplateResponse(version=version)

    async def PublishTemplate(
        self, request: pb.PublishTemplateRequest, context: Context
    ) -> pb.PublishTemplateResponse:
        await self.admit(context)
        version = await self.definitions.transition(TEMPLATES, Action.PUBLISH, request)
        return pb.PublishTemplateResponse(version=version)

    async def PauseTemplate(
        self, request: pb.PauseTemplateRequest, context: Context
    ) -> pb.PauseTemplateResponse:
        await self.admit(context)
        version = await self.definitions.transition(TEMPLATES, Action.PAUSE, request)
        return pb.PauseTemplateResponse(version=version)

    async def ResumeTemplate(
        self, request: pb.ResumeTemplateRequest, context: Context
    ) -> pb.ResumeTemplateResponse:
        await self.admit(context)
        version = await self.definitions.transition(TEMPLATES, Action.RESUME, request)
        return pb.ResumeTemplateResponse(version=version)

    async def ArchiveTemplate(
        self, request: pb.ArchiveTemplateRequest, context: Context
    ) -> pb.ArchiveTemplateResponse:
        await self.admit(context)
        version = await self.definitions.transition(TEMPLATES, Action.ARCHIVE, request)
        return pb.ArchiveTemplateResponse(version=version)

    async def RollbackTemplate(
        self, request: pb.RollbackTemplateRequest, context: Context
    ) -> pb.RollbackTemplateResponse:
        await self.admit(context)
        version = await self.definitions.transition(TEMPLATES, Action.ROLLBACK, request)
        return pb.RollbackTemplateResponse(version=version)

    async def GetTemplate(
        self, request: pb.GetTemplateRequest, context: Context
    ) -> pb.GetTemplateResponse:
        await self.admit(context)
        answer = await self.definitions.get(TEMPLATES, request)
        return pb.GetTemplateResponse(version=answer.version, definition=answer.definition)

    async def ListTemplates(
        self, request: pb.ListTemplatesRequest, context: Context
    ) -> pb.ListTemplatesResponse:
        await self.admit(context)
        versions, token = await self.definitions.list_page(
            TEMPLATES, request.page_size, request.page_token
        )
        return pb.ListTemplatesResponse(versions=versions, next_page_token=token)

    async def DiffTemplateVersions(
        self, request: pb.DiffTemplateVersionsRequest, context: Context
    ) -> pb.DiffTemplateVersionsResponse:
        await self.admit(context)
        changes = await self.definitions.diff(TEMPLATES, request)
        return pb.DiffTemplateVersionsResponse(changes=changes)

    # -- journey runs ----------------------------------------------------------------------

    async def GetJourneyStats(
        self, request: pb.GetJourneyStatsRequest, context: Context
    ) -> pb.GetJourneyStatsResponse:
        await self.admit(context)
        return await self.runs.stats(request)

    async def MigrateJourneyRuns(
        self, request: pb.MigrateJourneyRunsRequest, context: Context
    ) -> pb.MigrateJourneyRunsResponse:
        await self.admit(context)
        return await self.runs.migrate(request)

    async def EnterJourney(
        self, request: pb.EnterJourneyRequest, context: Context
    ) -> pb.EnterJourneyResponse:
        await self.admit(context)
        return await self.runs.enter(request)


def journeys_servicer(gate: Gatekeeper, orchestrator: OrchestratorClient) -> Servicer:
    return Servicer(
        pb_grpc.add_JourneysServiceServicer_to_server,
        JourneysServicer(gate, orchestrator),
        SERVICE.full_name,
    )

"""JourneysService: journeys, templates and journey runs, forwarded to the orchestrator.

Each RPC admits the caller for its one scope (a lifecycle action's from the kernel's
`ACTION_SCOPES`), then forwards, signed for the admitted principal, with the caller's
remaining deadline; the answer is mapped to the gateway's own messages.
"""

from __future__ import annotations

from typing import Any

import grpc

from layercake.gateway.v1 import journeys_service_pb2 as pb
from layercake.gateway.v1 import journeys_service_pb2_grpc as pb_grpc
from services.gateway.adapters.orchestrator import OrchestratorClient
from services.gateway.api.auth import Gatekeeper
from services.gateway.api.definitions import JOURNEYS, TEMPLATES, Definitions
from services.gateway.api.runs import JourneyRuns
from services.kernel.assets.lifecycle import Action
from services.kernel.rpc.server import Servicer

Context = grpc.aio.ServicerContext[Any, Any]


def _metadata(context: Context) -> Any:
    return context.invocation_metadata() or ()


class JourneysServicer(pb_grpc.JourneysServiceServicer):
    def __init__(self, gate: Gatekeeper, orchestrator: OrchestratorClient) -> None:
        self.definitions = Definitions(gate, orchestrator)
        self.runs = JourneyRuns(gate, orchestrator)

    # -- journeys ----------------------------------------------------------------------------

    async def ApplyJourney(
        self, request: pb.ApplyJourneyRequest, context: Context
    ) -> pb.ApplyJourneyResponse:
        answer = await self.definitions.apply(_metadata(context), JOURNEYS, request)
        return pb.ApplyJourneyResponse(version=answer.version, definition=answer.definition)

    async def SubmitJourney(
        self, request: pb.SubmitJourneyRequest, context: Context
    ) -> pb.SubmitJourneyResponse:
        version = await self.definitions.transition(
            _metadata(context), JOURNEYS, Action.SUBMIT, request
        )
        return pb.SubmitJourneyResponse(version=version)

    async def ApproveJourney(
        self, request: pb.ApproveJourneyRequest, context: Context
    ) -> pb.ApproveJourneyResponse:
        version = await self.definitions.transition(
            _metadata(context), JOURNEYS, Action.APPROVE, request
        )
        return pb.ApproveJourneyResponse(version=version)

    async def RejectJourney(
        self, request: pb.RejectJourneyRequest, context: Context
    ) -> pb.RejectJourneyResponse:
        version = await self.definitions.transition(
            _metadata(context), JOURNEYS, Action.REJECT, request
        )
        return pb.RejectJourneyResponse(version=version)

    async def PublishJourney(
        self, request: pb.PublishJourneyRequest, context: Context
    ) -> pb.PublishJourneyResponse:
        version = await self.definitions.transition(
            _metadata(context), JOURNEYS, Action.PUBLISH, request
        )
        return pb.PublishJourneyResponse(version=version)

    async def PauseJourney(
        self, request: pb.PauseJourneyRequest, context: Context
    ) -> pb.PauseJourneyResponse:
        version = await self.definitions.transition(
            _metadata(context), JOURNEYS, Action.PAUSE, request
        )
        return pb.PauseJourneyResponse(version=version)

    async def ResumeJourney(
        self, request: pb.ResumeJourneyRequest, context: Context
    ) -> pb.ResumeJourneyResponse:
        version = await self.definitions.transition(
            _metadata(context), JOURNEYS, Action.RESUME, request
        )
        return pb.ResumeJourneyResponse(version=version)

    async def ArchiveJourney(
        self, request: pb.ArchiveJourneyRequest, context: Context
    ) -> pb.ArchiveJourneyResponse:
        version = await self.definitions.transition(
            _metadata(context), JOURNEYS, Action.ARCHIVE, request
        )
        return pb.ArchiveJourneyResponse(version=version)

    async def RollbackJourney(
        self, request: pb.RollbackJourneyRequest, context: Context
    ) -> pb.RollbackJourneyResponse:
        version = await self.definitions.transition(
            _metadata(context), JOURNEYS, Action.ROLLBACK, request
        )
        return pb.RollbackJourneyResponse(version=version)

    async def GetJourney(
        self, request: pb.GetJourneyRequest, context: Context
    ) -> pb.GetJourneyResponse:
        answer = await self.definitions.get(_metadata(context), JOURNEYS, request)
        return pb.GetJourneyResponse(version=answer.version, definition=answer.definition)

    async def ListJourneys(
        self, request: pb.ListJourneysRequest, context: Context
    ) -> pb.ListJourneysResponse:
        versions, token = await self.definitions.list_page(
            _metadata(context), JOURNEYS, request.page_size, request.page_token
        )
        return pb.ListJourneysResponse(versions=versions, next_page_token=token)

    async def DiffJourneyVersions(
        self, request: pb.DiffJourneyVersionsRequest, context: Context
    ) -> pb.DiffJourneyVersionsResponse:
        changes = await self.definitions.diff(_metadata(context), JOURNEYS, request)
        return pb.DiffJourneyVersionsResponse(changes=changes)

    # -- templates ----------------------------------------------------------------------------

    async def ApplyTemplate(
        self, request: pb.ApplyTemplateRequest, context: Context
    ) -> pb.ApplyTemplateResponse:
        answer = await self.definitions.apply(_metadata(context), TEMPLATES, request)
        return pb.ApplyTemplateResponse(version=answer.version, definition=answer.definition)

    async def SubmitTemplate(
        self, request: pb.SubmitTemplateRequest, context: Context
    ) -> pb.SubmitTemplateResponse:
        version = await self.definitions.transition(
            _metadata(context), TEMPLATES, Action.SUBMIT, request
        )
        return pb.SubmitTemplateResponse(version=version)

    async def ApproveTemplate(
        self, request: pb.ApproveTemplateRequest, context: Context
    ) -> pb.ApproveTemplateResponse:
        version = await self.definitions.transition(
            _metadata(context), TEMPLATES, Action.APPROVE, request
        )
        return pb.ApproveTemplateResponse(version=version)

    async def RejectTemplate(
        self, request: pb.RejectTemplateRequest, context: Context
    ) -> pb.RejectTemplateResponse:
        version = await self.definitions.transition(
            _metadata(context), TEMPLATES, Action.REJECT, request
        )
        return pb.RejectTemplateResponse(version=version)

    async def PublishTemplate(
        self, request: pb.PublishTemplateRequest, context: Context
    ) -> pb.PublishTemplateResponse:
        version = await self.definitions.transition(
            _metadata(context), TEMPLATES, Action.PUBLISH, request
        )
        return pb.PublishTemplateResponse(version=version)

    async def PauseTemplate(
        self, request: pb.PauseTemplateRequest, context: Context
    ) -> pb.PauseTemplateResponse:
        version = await self.definitions.transition(
            _metadata(context), TEMPLATES, Action.PAUSE, request
        )
        return pb.PauseTemplateResponse(version=version)

    async def ResumeTemplate(
        self, request: pb.ResumeTemplateRequest, context: Context
    ) -> pb.ResumeTemplateResponse:
        version = await self.definitions.transition(
            _metadata(context), TEMPLATES, Action.RESUME, request
        )
        return pb.ResumeTemplateResponse(version=version)

    async def ArchiveTemplate(
        self, request: pb.ArchiveTemplateRequest, context: Context
    ) -> pb.ArchiveTemplateResponse:
        version = await self.definitions.transition(
            _metadata(context), TEMPLATES, Action.ARCHIVE, request
        )
        return pb.ArchiveTemplateResponse(version=version)

    async def RollbackTemplate(
        self, request: pb.RollbackTemplateRequest, context: Context
    ) -> pb.RollbackTemplateResponse:
        version = await self.definitions.transition(
            _metadata(context), TEMPLATES, Action.ROLLBACK, request
        )
        return pb.RollbackTemplateResponse(version=version)

    async def GetTemplate(
        self, request: pb.GetTemplateRequest, context: Context
    ) -> pb.GetTemplateResponse:
        answer = await self.definitions.get(_metadata(context), TEMPLATES, request)
        return pb.GetTemplateResponse(version=answer.version, definition=answer.definition)

    async def ListTemplates(
        self, request: pb.ListTemplatesRequest, context: Context
    ) -> pb.ListTemplatesResponse:
        versions, token = await self.definitions.list_page(
            _metadata(context), TEMPLATES, request.page_size, request.page_token
        )
        return pb.ListTemplatesResponse(versions=versions, next_page_token=token)

    async def DiffTemplateVersions(
        self, request: pb.DiffTemplateVersionsRequest, context: Context
    ) -> pb.DiffTemplateVersionsResponse:
        changes = await self.definitions.diff(_metadata(context), TEMPLATES, request)
        return pb.DiffTemplateVersionsResponse(changes=changes)

    # -- journey runs ----------------------------------------------------------------------

    async def GetJourneyStats(
        self, request: pb.GetJourneyStatsRequest, context: Context
    ) -> pb.GetJourneyStatsResponse:
        return await self.runs.stats(_metadata(context), request)

    async def MigrateJourneyRuns(
        self, request: pb.MigrateJourneyRunsRequest, context: Context
    ) -> pb.MigrateJourneyRunsResponse:
        return await self.runs.migrate(_metadata(context), request)

    async def EnterJourney(
        self, request: pb.EnterJourneyRequest, context: Context
    ) -> pb.EnterJourneyResponse:
        return await self.runs.enter(_metadata(context), request)


def journeys_servicer(gate: Gatekeeper, orchestrator: OrchestratorClient) -> Servicer:
    return Servicer(
        pb_grpc.add_JourneysServiceServicer_to_server,
        JourneysServicer(gate, orchestrator),
        pb.DESCRIPTOR.services_by_name["JourneysService"].full_name,
    )

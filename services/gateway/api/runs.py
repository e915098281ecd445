"""Journey runs at the gateway (the caller admitted by the servicer): stats, migration
(dry run or not) and entry by API call."""

from __future__ import annotations

from layercake.gateway.v1 import journeys_service_pb2 as pb
from layercake.orchestrator.v1 import orchestrator_service_pb2 as opb
from services.gateway.adapters.orchestrator import OrchestratorClient
from services.gateway.api.lifecycle import INT32_MAX
from services.kernel.errors import Violations
from services.kernel.protobuf import as_twin


class JourneyRuns:
    def __init__(self, orchestrator: OrchestratorClient) -> None:
        self.orchestrator = orchestrator

    async def stats(self, request: pb.GetJourneyStatsRequest) -> pb.GetJourneyStatsResponse:
        bad = Violations()
        bad.require(request.journey_id, "journey_id")
        bad.raise_if_any()
        reply = await self.orchestrator.call(
            lambda s: s.GetJourneyStats, opb.GetJourneyStatsRequest(journey_id=request.journey_id)
        )
        return pb.GetJourneyStatsResponse(
            counts=[as_twin(c, pb.JourneyStepCount) for c in reply.counts]
        )

    async def migrate(self, request: pb.MigrateJourneyRunsRequest) -> pb.MigrateJourneyRunsResponse:
        bad = Violations()
        bad.require(request.journey_id, "journey_id")
        for field in ("from_version", "to_version"):
            number = getattr(request, field)
            if not 0 < number <= INT32_MAX:
                bad.add(field, "must be a version number (from 1)")
        bad.raise_if_any()
        reply = await self.orchestrator.call(
            lambda s: s.MigrateJourneyRuns,
            opb.MigrateJourneyRunsRequest(
                journey_id=request.journey_id,
                from_version=request.from_version,
                to_version=request.to_version,
                step_map=dict(request.step_map),
                dry_run=request.dry_run,
                request_id=request.request_id,
            ),
        )
        return pb.MigrateJourneyRunsResponse(
            moves=[as_twin(m, pb.JourneyRunMove) for m in reply.moves],
            dry_run=reply.dry_run,
        )

    async def enter(self, request: pb.EnterJourneyRequest) -> pb.EnterJourneyResponse:
        bad = Violations()
        bad.require(request.journey_id, "journey_id")
        bad.require(request.profile_ref, "profile_ref")
        bad.raise_if_any()
        reply = await self.orchestrator.call(
            lambda s: s.EnterJourney,
            opb.EnterJourneyRequest(
                journey_id=request.journey_id,
                profile_ref=request.profile_ref,
                request_id=request.request_id,
            ),
        )
        return pb.EnterJourneyResponse(
            entered=reply.entered,
            refusal=reply.refusal,
            profile_id=reply.profile_id,
            journey_version=reply.journey_version,
        )

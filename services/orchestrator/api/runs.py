"""EnterJourney, MigrateJourneyRuns and GetJourneyStats: the journey engine at the gRPC edge.

EnterJourney asks identity who the reference names before any transaction opens, then
enters the profile in one unit of work, idempotent per `request_id`.
"""

from __future__ import annotations

from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from services.kernel.errors import NotFound, Violations
from services.kernel.rpc import calls, idempotency
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.unit_of_work import UnitOfWork
from services.orchestrator import handlers, relocation
from services.orchestrator.engine import JourneyEngine
from services.orchestrator.ports import ProfileDirectory
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork


class RunRpcs:
    def __init__(
        self,
        layer: ServiceLayer[SqlOrchestratorUnitOfWork],
        engine: JourneyEngine,
        directory: ProfileDirectory,
    ) -> None:
        self.layer, self.engine, self.directory = layer, engine, directory

    async def enter(self, request: pb.EnterJourneyRequest) -> pb.EnterJourneyResponse:
        tenant = calls.tenant_of(request.tenant_id)
        bad = Violations()
        bad.require(request.journey_id, "journey_id")
        bad.require(request.profile_ref, "profile_ref")
        bad.raise_if_any()
        key = idempotency.request_key(request.request_id)
        profile = await self.directory.find(tenant, request.profile_ref)
        if profile is None:
            raise NotFound(f"no profile {request.profile_ref!r}")

        def enter(uow: UnitOfWork) -> pb.EnterJourneyResponse:
            assert isinstance(uow, SqlOrchestratorUnitOfWork)
            entry = self.engine.enter_by_api(uow, request.journey_id, profile, request.request_id)
            live = uow.journeys.find(tenant, request.journey_id)
            uow.commit()
            return pb.EnterJourneyResponse(
                entered=entry.entered,
                refusal=entry.refusal,
                profile_id=profile.profile_id,
                journey_version=live.version if live else 0,
            )

        return await self.layer.run(idempotency.once, key, request, pb.EnterJourneyResponse, enter)

    async def migrate(self, request: pb.MigrateJourneyRunsRequest) -> pb.MigrateJourneyRunsResponse:
        tenant = calls.tenant_of(request.tenant_id)
        bad = Violations()
        bad.require(request.journey_id, "journey_id")
        bad.raise_if_any()
        key = idempotency.request_key(request.request_id)
        versions = (request.from_version, request.to_version)

        def migrate(uow: UnitOfWork) -> pb.MigrateJourneyRunsResponse:
            assert isinstance(uow, SqlOrchestratorUnitOfWork)
            moves = relocation.migrate_runs(
                self.engine,
                uow,
                tenant,
                request.journey_id,
                versions,
                dict(request.step_map),
                dry_run=request.dry_run,
            )
            uow.commit()
            return pb.MigrateJourneyRunsResponse(
                moves=[
                    pb.JourneyRunMove(
                        from_step_id=m.from_step_id, to_step_id=m.to_step_id, count=m.count
                    )
                    for m in moves
                ],
                dry_run=request.dry_run,
            )

        return await self.layer.run(
            idempotency.once, key, request, pb.MigrateJourneyRunsResponse, migrate
        )

    async def stats(self, request: pb.GetJourneyStatsRequest) -> pb.GetJourneyStatsResponse:
        tenant = calls.tenant_of(request.tenant_id)
        counts = await self.layer.read(handlers.get_journey_stats, tenant, request.journey_id)
        return pb.GetJourneyStatsResponse(
            counts=[
                pb.JourneyStepCount(
                    journey_version=c.journey_version,
                    step_id=c.step_id,
                    metric=c.metric,
                    count=c.count,
                )
                for c in counts
            ]
        )

"""Following identity: profile changes become contact states; merges also move journey
runs to the survivor; a forgotten person's copies are deleted and their runs end; joining
an audience enters the journeys it triggers.

The kernel's one consumer over identity's whole stream (so no event overtakes the one
before it), made two-phase: for an `AudienceEntered` some live journey is entered by, the
profile is asked of identity before the batch's transaction opens; for a `ProfileUnmerged`,
which events belong to each side. While identity does not answer (or has not the profile
yet) that is NotReady: the kernel runner holds the message and asks again, the messages
after it going on meanwhile. A run follows its entry event: it stays with the split
profile unless the ingested event that entered it now belongs only to a new profile
(carried none of the identifiers the split profile keeps), where it continues, its sends
counted as made, so nothing goes out twice. Runs entered without an event stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from layercake.events.v1 import identity_events_pb2 as ie
from services.kernel.errors import NotReady
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.identity_feed import follow_identity
from services.kernel.profile_changes import ProfileForget, ProfilesMerge
from services.kernel.service_layer import ServiceLayer
from services.orchestrator import handlers, relocation
from services.orchestrator.domain.instances.profiles import ProfileView
from services.orchestrator.engine import JourneyEngine
from services.orchestrator.ports import OrchestratorUnitOfWork, ProfileDirectory

DURABLE = "orchestrator-profiles"
AUDIENCE_ENTERED = ie.AudienceEntered.DESCRIPTOR.full_name
PROFILE_FORGOTTEN = ie.ProfileForgotten.DESCRIPTOR.full_name
PROFILE_UNMERGED = ie.ProfileUnmerged.DESCRIPTOR.full_name


@dataclass(frozen=True)
class Split:
    """An unmerge's runs that move: journey -> (entry message, the new profile)."""

    profile_id: str
    moves: dict[str, tuple[str, str]]


def entered_audiences(uow: OrchestratorUnitOfWork, tenant_id: str) -> frozenset[str]:
    """Audiences whose joining enters a live journey of the tenant."""
    names = {j.entered_by("audience") for _, j in uow.journeys.live_versions(tenant_id)}
    return frozenset(names - {""})


def profiles_consumer(
    engine: JourneyEngine, directory: ProfileDirectory, layer: ServiceLayer[Any]
) -> ConsumerSpec[OrchestratorUnitOfWork]:
    def on_merge(uow: OrchestratorUnitOfWork, merge: ProfilesMerge) -> None:
        handlers.record_profiles_merge(uow, merge)
        relocation.merge_runs(engine, uow, merge)

    def on_forget(uow: OrchestratorUnitOfWork, forget: ProfileForget) -> None:
        handlers.record_profile_forget(uow, forget)
        for profile_id in forget.profile_ids:
            relocation.forget_runs(uow, forget.tenant_id, profile_id)

    feed: ConsumerSpec[OrchestratorUnitOfWork] = follow_identity(
        DURABLE, handlers.record_profile_change, on_merge, on_forget
    )

    async def split(envelope: Envelope) -> Split | None:
        """Asks identity which events belong to each side of the unmerge, for the split
        profile's runs that an ingested event entered."""
        message = ie.ProfileUnmerged.FromString(envelope.payload)
        tenant, split_id = envelope.tenant_id, message.profile_id
        runs = await layer.read(relocation.split_candidates, tenant, split_id)
        if not runs or not message.new_profile_ids:
            return None
        kept = await directory.event_ids(tenant, split_id)
        belongs = {p: await directory.event_ids(tenant, p) for p in message.new_profile_ids}
        return Split(split_id, relocation.runs_to_split(runs, belongs, kept))

    async def prepare(envelope: Envelope) -> ProfileView | Split | None:
        if envelope.type == PROFILE_UNMERGED:
            return await split(envelope)
        if envelope.type == PROFILE_FORGOTTEN:
            # the renderer's outbox rows held the person's address and rendered mail; the
            # relay deleted them (zeroed by secure_delete), but the WAL keeps their pages
            await layer.db.run(layer.db.truncate_wal)
        if envelope.type != AUDIENCE_ENTERED:
            return None
        message = ie.AudienceEntered.FromString(envelope.payload)
        tenant = envelope.tenant_id
        if message.audience_id not in await layer.read(entered_audiences, tenant):
            return None
        profile = await directory.find(tenant, message.profile_id)
        if profile is None:
            raise NotReady(f"identity has no profile {message.profile_id} yet")
        return profile

    def apply(
        uow: OrchestratorUnitOfWork, envelope: Envelope, joined: ProfileView | Split | None
    ) -> None:
        feed.handler(uow, envelope)  # the kernel's feed: contact states, merges, forgets
        if isinstance(joined, Split):
            relocation.split_runs(engine, uow, envelope.tenant_id, joined.profile_id, joined.moves)
            return
        if joined is None:
            return
        audience = ie.AudienceEntered.FromString(envelope.payload).audience_id
        engine.on_audience_entered(uow, joined, audience, envelope.event_id)

    return ConsumerSpec(feed.durable, feed.stream, feed.filter_subject, apply, prepare)

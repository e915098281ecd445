"""Profiles' features held in this process, so a decision reads no database for them.

A miss reads the projection (the decision service's own copy of identity's profiles)
once; after that every replica keeps its entries current from identity's events, heard
through a broadcast subscription and applied with the same rule as the projection
(`features_after`, by version, so a repeat or a late event changes nothing). Changes of
profiles not held are kept a while (`recent`) and applied on top of a miss's read, since
the projection's consumer may not have written them yet; a merged or forgotten profile is
read from the store, never held, until that has aged out of `recent` (a forgotten
person's features leave this process at once).
"""

from __future__ import annotations

from collections import OrderedDict

from services.decision import handlers
from services.decision.domain.features import ProfileFeatures, features_after
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.clock import Clock
from services.kernel.messaging import subjects
from services.kernel.messaging.broadcast import BroadcastSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.identity_feed import (
    PROFILE_FORGOTTEN,
    PROFILE_UPDATED,
    PROFILES_MERGED,
    profile_change,
    profile_forget,
    profiles_merge,
)
from services.kernel.profile_changes import ProfileChange
from services.kernel.service_layer import ServiceLayer

Key = tuple[str, str]  # tenant, profile
UNSETTLED = None  # in `recent`: the profile was merged or forgotten; read it from the store


class ProfileFeatureCache:
    def __init__(
        self,
        layer: ServiceLayer[SqlDecisionUnitOfWork],
        clock: Clock,
        capacity: int = 100_000,
        recent: int = 100_000,
    ) -> None:
        self.layer = layer
        self.clock = clock
        self.capacity = capacity
        self.recent_size = recent
        self._held: OrderedDict[Key, ProfileFeatures | None] = OrderedDict()
        self._recent: OrderedDict[Key, list[ProfileChange] | None] = OrderedDict()

    async def get(self, tenant_id: str, profile_id: str) -> ProfileFeatures | None:
        """The profile's features (None for a profile identity has not reported)."""
        key = (tenant_id, profile_id)
        if key in self._held:
            self._held.move_to_end(key)
            return self._held[key]
        found = await self.layer.read(handlers.profile_features, tenant_id, profile_id)
        if key in self._held:  # filled by a broadcast while this read was out
            return self._held[key]
        if key in self._recent:
            changes = self._recent[key]
            if changes is UNSETTLED:
                return found
            now = self.clock.now()
            for change in changes:
                found = features_after(found, change, now) or found
        self._hold(key, found)
        return found

    def _hold(self, key: Key, found: ProfileFeatures | None) -> None:
        self._held[key] = found
        if len(self._held) > self.capacity:
            self._held.popitem(last=False)

    def _remember(self, key: Key, change: ProfileChange | None) -> None:
        held = self._recent.pop(key, [])
        self._recent[key] = UNSETTLED if held is UNSETTLED or change is None else [*held, change]
        if len(self._recent) > self.recent_size:
            self._recent.popitem(last=False)

    async def on_identity(self, envelope: Envelope) -> None:
        if envelope.type == PROFILE_UPDATED:
            change = profile_change(envelope)
            key = (change.tenant_id, change.profile_id)
            self._remember(key, change)
            if key in self._held:
                after = features_after(self._held[key], change, self.clock.now())
                if after is not None:
                    self._held[key] = after
        elif envelope.type == PROFILES_MERGED:
            merge = profiles_merge(envelope)
            self._unsettle(merge.tenant_id, (merge.survivor_profile_id, *merge.merged_profile_ids))
        elif envelope.type == PROFILE_FORGOTTEN:
            forget = profile_forget(envelope)
            self._unsettle(forget.tenant_id, forget.profile_ids)

    def _unsettle(self, tenant_id: str, profile_ids: tuple[str, ...]) -> None:
        """Drops what is held of the profiles (and their recent changes)."""
        for profile_id in profile_ids:
            key = (tenant_id, profile_id)
            self._held.pop(key, None)
            self._remember(key, None)

    async def clear(self) -> None:
        """After a gap in the broadcast: what is held may have missed changes."""
        self._held.clear()
        self._recent.clear()

    def broadcast(self) -> BroadcastSpec:
        return BroadcastSpec(
            name="decision-feature-cache",
            stream="IDENTITY",
            filter_subject=subjects.integration("*", "identity", ">"),
            handler=self.on_identity,
            load=self.clear,
        )

"""Contract fakes of the journey engine's peers: identity's directory and decision's Decide."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.orchestrator.domain.instances.profiles import Decision, ProfileView


class FakeDirectory:
    """Answers the profiles it was given, by id or by any reference mapped to one."""

    def __init__(self) -> None:
        self.profiles: dict[str, ProfileView] = {}
        self.refs: dict[str, str] = {}
        self.events: dict[str, set[str]] = {}  # profile id -> its events' message ids

    def add(self, profile: ProfileView, *refs: str) -> ProfileView:
        self.profiles[profile.profile_id] = profile
        self.refs.update(dict.fromkeys(refs, profile.profile_id))
        return profile

    async def find(self, tenant_id: str, profile_ref: str) -> ProfileView | None:
        found = self.profiles.get(self.refs.get(profile_ref, profile_ref))
        return found if found is not None and found.tenant_id == tenant_id else None

    async def event_ids(self, tenant_id: str, profile_id: str) -> frozenset[str]:
        return frozenset(self.events.get(profile_id, ()))


class FakeDecider:
    """Answers `action` (with `product`), or raises `error` when set."""

    def __init__(self) -> None:
        self.action, self.product = "", ""
        self.error: BaseException | None = None
        self.calls = 0
        self.request_ids: list[str] = []
        self.asked: list[tuple[str, Mapping[str, Any]]] = []  # (placement, context)

    async def decide(
        self,
        tenant_id: str,
        profile_id: str,
        placement: str,
        timeout: float,
        request_id: str,
        context: Mapping[str, Any],
    ) -> Decision:
        self.calls += 1
        self.request_ids.append(request_id)
        self.asked.append((placement, context))
        if self.error is not None:
            raise self.error
        return Decision(self.action, self.product, 0.9)

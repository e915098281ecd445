"""In-memory stand-ins for the gateway's ports; the contract suite holds them to the real ones."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from layercake.common.v1 import common_pb2
from layercake.identity.v1 import identity_service_pb2 as ipb
from services.gateway.handlers import Published
from services.kernel.store.records import OutboxMessage


class FakeIngestLog:
    """Dedupes by event id forever (JetStream does it within its window)."""

    def __init__(self) -> None:
        self.messages: list[OutboxMessage] = []
        self._sequence_of: dict[str, int] = {}

    def forget(self) -> None:
        """JetStream's duplicate window passed: repeats are stored again."""
        self._sequence_of.clear()

    async def append(self, messages: Sequence[OutboxMessage]) -> list[Published]:
        published = []
        for m in messages:
            if m.event_id in self._sequence_of:
                published.append(Published(self._sequence_of[m.event_id], True))
                continue
            self.messages.append(m)
            self._sequence_of[m.event_id] = len(self.messages)
            published.append(Published(len(self.messages), False))
        return published


class FakeMessageIds:
    """Message ids with their expiry, as the gateway's store keeps them."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], tuple[datetime, int]] = {}
        self.lookups = 0

    async def seen(
        self, tenant_id: str, message_ids: Collection[str], now: datetime
    ) -> dict[str, int]:
        self.lookups += 1
        found = {m: self.kept[tenant_id, m] for m in message_ids if (tenant_id, m) in self.kept}
        return {m: sequence for m, (expiry, sequence) in found.items() if expiry > now}

    async def remember(
        self, tenant_id: str, accepted: Mapping[str, int], expire_time: datetime
    ) -> None:
        for m, sequence in accepted.items():
            self.kept[tenant_id, m] = (expire_time, sequence)


class FakeProfiles:
    def __init__(self) -> None:
        self.requests: list[ipb.GetProfileRequest] = []

    async def get_profile(self, request: ipb.GetProfileRequest) -> ipb.GetProfileResponse:
        self.requests.append(request)
        return ipb.GetProfileResponse(
            profile=common_pb2.Profile(tenant_id=request.tenant_id, profile_id="p-1")
        )

"""In-memory stand-ins for the gateway's ports; the contract suite holds them to the real ones."""

from __future__ import annotations

from collections.abc import Sequence

from layercake.common.v1 import common_pb2
from layercake.identity.v1 import identity_service_pb2 as ipb
from services.gateway.handlers import Published
from services.kernel.store.records import OutboxMessage


class FakeIngestLog:
    """Dedupes by event id forever (JetStream does it within its window)."""

    def __init__(self) -> None:
        self.messages: list[OutboxMessage] = []
        self._sequence_of: dict[str, int] = {}

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


class FakeProfiles:
    def __init__(self) -> None:
        self.requests: list[ipb.GetProfileRequest] = []

    async def get_profile(self, request: ipb.GetProfileRequest) -> ipb.GetProfileResponse:
        self.requests.append(request)
        return ipb.GetProfileResponse(
            profile=common_pb2.Profile(tenant_id=request.tenant_id, profile_id="p-1")
        )

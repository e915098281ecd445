"""Traits from identity, for the renderer: asked per send, never stored.

The renderer asks identity's `UnsealTraits` for exactly the traits the template reads,
as the system principal `system:orchestrator` of the send's tenant; identity logs each
call with its purpose (`send:<send id>`) and answers nothing else in the clear.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Protocol

import grpc

from layercake.identity.v1 import identity_service_pb2 as ipb
from layercake.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from services.kernel.errors import DeadlineExceeded, NotFound, NotReady, Unavailable
from services.kernel.principals import Actor, Principal, Role
from services.kernel.rpc import client
from services.kernel.rpc.signing import InternalCalls
from services.orchestrator.domain.instances.profiles import ProfileView

ACTOR = Actor.system("orchestrator")
MAX_EVENT_PAGES = 20  # a profile's events an unmerge reads: 10,000, the newest


class PersonalTraits(Protocol):
    async def traits(
        self, tenant_id: str, profile_id: str, names: Collection[str], purpose: str = ""
    ) -> dict[str, Any]:
        """The named traits the profile has (JSON values); NotFound for an unknown profile.
        `purpose` (e.g. `send:<id>`) goes to identity's log."""
        ...


def _as_orchestrator(request: Any) -> Principal:
    return Principal(request.tenant_id, ACTOR, frozenset({Role.VIEWER}))


class IdentityTraits:
    """One channel to identity, opened on first use (inside the event loop): the renderer's
    traits, and the journey engine's profile directory (`find`)."""

    def __init__(self, addr: str, timeout: float, internal: InternalCalls) -> None:
        self.addr = addr
        self.timeout = timeout
        self.internal = internal
        self._channel: grpc.aio.Channel | None = None
        self._stub: ipb_grpc.IdentityServiceAsyncStub | None = None

    def _identity(self) -> ipb_grpc.IdentityServiceAsyncStub:
        if self._stub is None:
            self._channel = client.channel(self.addr, self.internal, _as_orchestrator)
            self._stub = ipb_grpc.IdentityServiceStub(self._channel)
        return self._stub

    async def find(self, tenant_id: str, profile_ref: str) -> ProfileView | None:
        """The profile `<type>:<value>` or a profile id names (its traits and consent);
        None when identity has none (yet); NotReady when identity does not answer."""
        request = ipb.GetProfileRequest(tenant_id=tenant_id, profile_ref=profile_ref)
        try:
            response = await client.call(self._identity().GetProfile, request, self.timeout)
        except NotFound:
            return None
        except (Unavailable, DeadlineExceeded) as e:
            raise NotReady(f"identity did not answer GetProfile: {e}") from e
        profile = response.profile
        return ProfileView(
            tenant_id,
            profile.profile_id,
            _values(profile.traits),
            dict(profile.consent),
            computed=_values(response.computed_traits),
            audiences=frozenset(a.audience_id for a in response.audiences),
        )

    async def event_ids(self, tenant_id: str, profile_id: str) -> frozenset[str]:
        """ListProfileEvents, every page (at most MAX_EVENT_PAGES of 500); NotReady when
        identity does not answer."""
        found: set[str] = set()
        token = ""
        for _ in range(MAX_EVENT_PAGES):
            request = ipb.ListProfileEventsRequest(
                tenant_id=tenant_id, profile_ref=profile_id, page_size=500, page_token=token
            )
            try:
                call = self._identity().ListProfileEvents
                page = await client.call(call, request, self.timeout)
            except (Unavailable, DeadlineExceeded) as e:
                raise NotReady(f"identity did not answer ListProfileEvents: {e}") from e
            found.update(e.message_id for e in page.events)
            token = page.next_page_token
            if not token:
                break
        return frozenset(found)

    async def traits(
        self, tenant_id: str, profile_id: str, names: Collection[str], purpose: str = ""
    ) -> dict[str, Any]:
        if not names:
            return {}
        request = ipb.UnsealTraitsRequest(
            tenant_id=tenant_id,
            profile_ref=profile_id,
            trait_names=sorted(names),
            purpose=purpose,
        )
        response = await client.call(self._identity().UnsealTraits, request, self.timeout)
        return _values(response.traits)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = self._stub = None


def _values(held: Mapping[str, Any]) -> dict[str, Any]:
    """Trait or computed trait values (JSON in `json_value`), leaving out unreadable ones."""
    found = {}
    for name, value in held.items():
        try:
            found[name] = json.loads(value.json_value)
        except ValueError:
            continue
    return found

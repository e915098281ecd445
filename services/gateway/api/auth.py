"""Who is calling and may they: API key lookup, scope check and rate limit at the door.

Keys are cached in memory with their principal's roles, built from the read model at
start. A miss reads the read model, so a key issued after start (by
`services.gateway.admin`, or another replica) is found at once. A change of what
keys may do (a key revoked, a role granted or revoked) drops cached keys: at once
on the replica that made it (`invalidate`), and on every replica through the
gateway's events, which a broadcast subscription delivers (`on_gateway_event`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from layercake.events.v1 import gateway_events_pb2
from services.gateway import handlers
from services.gateway.domain import keys
from services.gateway.domain.keys import Caller, KeyRecord
from services.gateway.domain.ratelimit import RateLimiter
from services.gateway.ports import GatewayUnitOfWork
from services.gateway.rate_limits import SharedRateLimiter
from services.kernel.errors import ResourceExhausted
from services.kernel.messaging import subjects
from services.kernel.messaging.broadcast import BroadcastSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.principals import Scope
from services.kernel.rpc import calls
from services.kernel.service_layer import Layer

log = logging.getLogger(__name__)

PLAN_APPLIED_TYPE = gateway_events_pb2.TrackingPlanApplied.DESCRIPTOR.full_name


class KeyDirectory:
    """API keys by id: cached, read from the database on a miss, dropped when they change."""

    def __init__(self, layer: Layer[GatewayUnitOfWork]) -> None:
        self.layer = layer
        self._cache: dict[str, KeyRecord] = {}
        self._changes = 0  # counts invalidations: a read that overlapped one is not cached

    def cached(self, key_id: str) -> KeyRecord | None:
        """The key if this replica holds it, without asking the database."""
        return self._cache.get(key_id)

    async def get(self, key_id: str) -> KeyRecord | None:
        record = self._cache.get(key_id)
        if record is None:
            changes = self._changes
            found = await self.layer.read(handlers.find_api_keys, [key_id])
            record = found.get(key_id)
            if record is not None and changes == self._changes:
                self._cache[key_id] = record
        return record

    async def load(self) -> None:
        """Builds the cache from the store: every key not revoked, with its principal's roles."""
        records = await self.layer.read(handlers.active_api_keys)
        self._changes += 1
        self._cache = {r.key_id: r for r in records}
        log.info("api keys loaded", extra={"keys": len(records)})

    def invalidate(self, tenant_id: str, principal_id: str | None = None) -> int:
        """Forgets the cached keys of a principal (every principal of the tenant when None)
        whose roles or keys changed; the next call reads them afresh. Returns how many."""
        self._changes += 1
        stale = [
            key_id
            for key_id, r in self._cache.items()
            if r.tenant_id == tenant_id and principal_id in (None, r.principal.actor.id)
        ]
        for key_id in stale:
            del self._cache[key_id]
        return len(stale)

    async def on_gateway_event(self, envelope: Envelope) -> None:
        """Any change to a tenant's access drops its cached keys; the next call reads the store.
        (A tracking plan's change is no change of access.)"""
        if envelope.type == PLAN_APPLIED_TYPE:
            return
        dropped = self.invalidate(envelope.tenant_id)
        log.info(
            "api key cache dropped a tenant's keys",
            extra={"tenant": envelope.tenant_id, "type": envelope.type, "keys": dropped},
        )

    def broadcast(self) -> BroadcastSpec:
        return BroadcastSpec(
            name="gateway-keys",
            stream="GATEWAY",
            filter_subject=subjects.integration("*", "gateway", ">"),
            handler=self.on_gateway_event,
            load=self.load,
        )


class Gatekeeper:
    """Authenticates the key in the call's metadata, checks its scope, charges its rate
    (shared by every replica: `services.gateway.rate_limits`).

    A key this replica has not cached (new, changed, or guessed) is looked up in the
    database only within one shared rate (`unknown`), charged first: guessing keys cannot
    load the store.

    A key admitted once is admitted again without hashing its secret while the directory
    still holds the very record it was checked against (`_admitted`): a revocation or a
    change of roles replaces or drops that record, so the next call is checked afresh.
    """

    ADMITTED = 4096  # keys remembered as checked; past that the memory starts over

    UNKNOWN = "<keys not cached>"

    def __init__(
        self, directory: KeyDirectory, limiter: SharedRateLimiter, unknown: RateLimiter
    ) -> None:
        self.directory = directory
        self.limiter = limiter
        self.unknown = unknown
        # presented key text -> (the record it was checked against, the caller, its scopes)
        self._admitted: dict[str, tuple[KeyRecord, Caller, frozenset[Scope]]] = {}

    async def admit(
        self, metadata: Iterable[tuple[str, str | bytes]], scope: Scope, cost: int = 1
    ) -> Caller:
        presented = keys.key_from_metadata((k, v) for k, v in metadata if isinstance(v, str))
        known = self._admitted.get(presented)
        if known is not None:
            record, caller, granted = known
            if self.directory.cached(record.key_id) is record and scope in granted:
                await self.limiter.acquire(caller.key_id, cost)
                calls.act_as(caller.principal)
                return caller
        caller = await self._checked(presented, scope)
        await self.limiter.acquire(caller.key_id, cost)
        calls.act_as(caller.principal)  # what its calls to internal services are signed for
        return caller

    async def _checked(self, presented: str, scope: Scope) -> Caller:
        """The caller behind `presented`, its secret checked against the record (read from
        the store when not cached) and `scope` authorized; remembered while that record is
        the directory's."""
        parsed = keys.parse_key(presented)
        record = self.directory.cached(parsed.key_id) if parsed is not None else None
        if parsed is not None and record is None:
            try:
                self.unknown.acquire(self.UNKNOWN)
            except ResourceExhausted as e:
                raise ResourceExhausted(
                    "too many calls with API keys this gateway does not know; retry later",
                    retry_after=e.retry_after,
                ) from None
            record = await self.directory.get(parsed.key_id)
        caller = keys.authenticate(presented, record)
        keys.authorize(caller, scope)
        if record is not None and self.directory.cached(record.key_id) is record:
            if len(self._admitted) >= self.ADMITTED:
                self._admitted.clear()
            self._admitted[presented] = (record, caller, caller.scopes)
        return caller

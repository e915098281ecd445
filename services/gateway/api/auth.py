"""Who is calling and may they: API key lookup, scope check and rate limit at the door.

Keys are cached in memory. A miss reads the `api_keys` read model, so a key
issued after start (by `services.gateway.admin`, or another replica) is found
at once. A revocation recorded anywhere reaches the cache through `follow()`,
which asks the read model which cached keys have been revoked since.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Iterable

from services.gateway import handlers
from services.gateway.domain import keys
from services.gateway.domain.keys import KeyRecord, Principal
from services.gateway.domain.ratelimit import RateLimiter
from services.gateway.store.tenants import revoked_among
from services.kernel.store.database import Database

log = logging.getLogger(__name__)


class KeyDirectory:
    """API keys by id: cached, read from the database on a miss."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, KeyRecord] = {}

    async def get(self, key_id: str) -> KeyRecord | None:
        record = self._cache.get(key_id)
        if record is None:
            record = await self.db.read(lambda s: handlers.find_api_key(s, key_id))
            if record is not None:
                self._cache[key_id] = record
        return record

    async def refresh(self) -> int:
        """Marks the cached keys revoked since they were cached; returns how many."""
        live = [k for k, r in self._cache.items() if not r.revoked]
        if not live:
            return 0
        revoked = await self.db.read(lambda s: revoked_among(s, live))
        for key_id in revoked:
            self._cache[key_id] = dataclasses.replace(self._cache[key_id], revoked=True)
        if revoked:
            log.info("api keys revoked", extra={"keys": sorted(revoked)})
        return len(revoked)

    async def follow(self, stop: asyncio.Event, interval: float) -> None:
        """Refreshes every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception:
                log.exception("api key refresh failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


class Gatekeeper:
    """Authenticates the key in the call's metadata, checks its scope, charges its rate."""

    def __init__(self, directory: KeyDirectory, limiter: RateLimiter) -> None:
        self.directory = directory
        self.limiter = limiter

    async def admit(
        self, metadata: Iterable[tuple[str, str | bytes]], scope: str, cost: int = 1
    ) -> Principal:
        presented = keys.key_from_metadata((k, v) for k, v in metadata if isinstance(v, str))
        parsed = keys.parse_key(presented)
        record = await self.directory.get(parsed.key_id) if parsed is not None else None
        principal = keys.authenticate(presented, record)
        keys.authorize(principal, scope)
        self.limiter.acquire(principal.key_id, cost)
        return principal

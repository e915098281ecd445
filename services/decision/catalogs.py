"""Every tenant's published actions and placements, compiled, in this process.

Built from the store when first asked for a tenant (and for every tenant with a catalog
at start), and rebuilt when a `CatalogChanged` arrives over a broadcast subscription, so
each replica decides on what is live without a database read per decision for it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass, field, replace

from services.decision import catalog, handlers, mapping
from services.decision.domain.actions import Action
from services.decision.domain.arbitration import Placement
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.messaging import subjects
from services.kernel.messaging.broadcast import BroadcastSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.rules import Rule
from services.kernel.service_layer import ServiceLayer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Catalog:
    """One tenant's live actions (in id order) and placements by id."""

    actions: tuple[Action, ...] = ()
    placements: dict[str, Placement] = field(default_factory=dict)

    @property
    def capped(self) -> bool:
        """Whether any action has a cap (then decisions read exposures)."""
        return any(a.max_total or a.max_per_profile for a in self.actions)

    @functools.cached_property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule a decision may evaluate: eligibility and context weights."""
        found = [a.eligibility for a in self.actions if a.eligibility is not None]
        return (*found, *(w.rule for a in self.actions for w in a.context_weights))

    def placement(self, placement_id: str) -> Placement:
        """The placement's policy; one that is not published ranks by value alone."""
        return self.placements.get(placement_id) or Placement(placement_id)


def build(live: list[handlers.LiveAsset]) -> Catalog:
    actions, placements = [], {}
    for asset in live:
        name = f"{asset.kind} {asset.asset_id}"
        if asset.kind == catalog.ACTION.name:
            action = catalog.action_of(asset.content, name, asset.tags)
            actions.append(replace(action, change_version=asset.change_version))
        else:
            placement = catalog.placement_of(asset.content)
            placements[asset.asset_id] = replace(placement, change_version=asset.change_version)
    return Catalog(tuple(sorted(actions, key=lambda a: a.action_id)), placements)


class Catalogs:
    """The catalogs of every tenant this replica decided for."""

    def __init__(self, layer: ServiceLayer[SqlDecisionUnitOfWork]) -> None:
        self.layer = layer
        self._held: dict[str, Catalog] = {}
        self._lock = asyncio.Lock()

    async def get(self, tenant_id: str) -> Catalog:
        found = self._held.get(tenant_id)
        if found is None:
            found = await self.reload(tenant_id)
        return found

    async def reload(self, tenant_id: str) -> Catalog:
        """Reads the tenant's live actions and placements and swaps them in."""
        async with self._lock:
            live = await self.layer.read(handlers.live_catalog, tenant_id)
            fresh = build(live)
            self._held[tenant_id] = fresh
            return fresh

    async def load(self) -> None:
        """Every tenant's catalog: at start, and after a broadcast gap."""
        tenants = await self.layer.read(handlers.catalog_tenants)
        for tenant_id in sorted(tenants | set(self._held)):
            await self.reload(tenant_id)
        log.info("catalogs loaded", extra={"tenants": len(tenants)})

    async def on_changed(self, envelope: Envelope) -> None:
        await self.reload(mapping.changed_catalog(envelope))

    def broadcast(self) -> BroadcastSpec:
        return BroadcastSpec(
            name="decision-catalogs",
            stream="DECISION",
            filter_subject=subjects.integration("*", "decision", "catalog_changed"),
            handler=self.on_changed,
            load=self.load,
        )

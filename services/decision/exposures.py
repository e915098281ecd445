"""How often decisions returned each action, held in this process, so a Decide reads no
database for its caps and cold start.

A counter is read from the decision log once, on this replica's first decision that needs
it; after that it is kept current from the log itself: every write of the log publishes its
counters as they stand after it (`ExposuresCounted`), which every replica hears through a
broadcast subscription (and this one applies at once after its own writes). A held counter
takes the greater of what it holds and what it hears, since counters only grow: a repeat,
a late or a reordered event changes nothing, and a read racing an event loses nothing.
This replica's decisions not written yet count on top (`pending`) from the moment they are
made; a read of the log never overlaps this replica's own writes (`writing`), so none of
its decisions is counted twice.

The guarantee: on one replica a cap is exact (every decision it made counts for its next
one at once, none twice), and so is the count a cap's reason gives. Across replicas a
decision counts once its batch is written and its counters reached the other replica (the
writer's linger, a commit and a NATS delivery: milliseconds); decisions of one action that
different replicas make within that window are not yet seen by each other, so together they
can pass a cap by as many as the other replicas made in it.
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence

from services.decision import handlers, mapping
from services.decision.domain.actions import ExposureCount, Exposures
from services.decision.domain.decisions import Decision
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.messaging import subjects
from services.kernel.messaging.broadcast import BroadcastSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.identity_feed import profile_forget
from services.kernel.service_layer import ServiceLayer

ALL = ""  # the profile of a counter over all profiles


class ExposureCounts:
    def __init__(self, layer: ServiceLayer[SqlDecisionUnitOfWork], capacity: int = 100_000):
        self.layer = layer
        self.capacity = capacity  # profiles held; the least recently used is dropped
        self.writing = asyncio.Lock()  # held by this replica's log writes and by reads
        self._totals: dict[tuple[str, str], tuple[int, int]] = {}  # tenant, action
        self._profiles: OrderedDict[tuple[str, str], dict[str, int]] = OrderedDict()
        self._pending: Counter[tuple[str, str, str]] = Counter()  # tenant, action, profile|""

    async def get(
        self, tenant_id: str, profile_id: str, action_ids: Sequence[str]
    ) -> dict[str, Exposures]:
        """Each action's counts, in all and to the profile, with this replica's decisions
        not yet written; read from the log only for counters not held yet."""
        found = self._held(tenant_id, profile_id, action_ids)
        if found is None:
            async with self.writing:
                missing = self._missing(tenant_id, profile_id, action_ids)
                if missing:
                    read = await self.layer.read(handlers.exposures, tenant_id, profile_id, missing)
                    self._merge(tenant_id, _counts(profile_id, missing, read))
            found = self._held(tenant_id, profile_id, action_ids)
            assert found is not None, "every counter was read"
        return found

    def _held(
        self, tenant_id: str, profile_id: str, action_ids: Sequence[str]
    ) -> dict[str, Exposures] | None:
        mine = self._profiles.get((tenant_id, profile_id))
        if mine is None:
            return None
        self._profiles.move_to_end((tenant_id, profile_id))
        found = {}
        pending = self._pending
        for action_id in action_ids:
            total = self._totals.get((tenant_id, action_id))
            served = mine.get(action_id)
            if total is None or served is None:
                return None
            found[action_id] = Exposures(
                total[0] + pending.get((tenant_id, action_id, ALL), 0),
                served + pending.get((tenant_id, action_id, profile_id), 0),
                total[1],
            )
        return found

    def _missing(self, tenant_id: str, profile_id: str, action_ids: Sequence[str]) -> list[str]:
        mine = self._profiles.get((tenant_id, profile_id), {})
        return [a for a in action_ids if (tenant_id, a) not in self._totals or a not in mine]

    def _merge(self, tenant_id: str, counts: Iterable[ExposureCount]) -> None:
        """Takes the greater of each counter held and the one given (counters only grow)."""
        for c in counts:
            if c.profile_id == ALL:
                key = (tenant_id, c.action_id)
                served, positives = self._totals.get(key, (0, 0))
                self._totals[key] = (max(served, c.served), max(positives, c.positives))
                continue
            profile = (tenant_id, c.profile_id)
            mine = self._profiles.get(profile)
            if mine is None:
                mine = self._profiles[profile] = {}
                if len(self._profiles) > self.capacity:
                    self._profiles.popitem(last=False)
            mine[c.action_id] = max(mine.get(c.action_id, 0), c.served)

    def submitted(self, decision: Decision) -> None:
        """Counts a decision of this replica from the moment it is made."""
        for key in _keys(decision):
            self._pending[key] += 1

    def written(self, decisions: Sequence[Decision], after: dict[str, list[ExposureCount]]) -> None:
        """The decisions are in the log, whose counters now stand at `after` (by tenant)."""
        for tenant_id, counts in after.items():
            self._merge(tenant_id, counts)
        self.unsubmitted(decisions)

    def unsubmitted(self, decisions: Sequence[Decision]) -> None:
        """The decisions no longer count as this replica's unwritten ones."""
        for decision in decisions:
            for key in _keys(decision):
                self._pending[key] -= 1
                if not self._pending[key]:
                    del self._pending[key]

    async def on_counted(self, envelope: Envelope) -> None:
        self._merge(envelope.tenant_id, mapping.counted_exposures(envelope))

    async def on_forgotten(self, envelope: Envelope) -> None:
        """A forgotten person's counts leave this process (the log deleted theirs)."""
        forget = profile_forget(envelope)
        for profile_id in forget.profile_ids:
            self._profiles.pop((forget.tenant_id, profile_id), None)

    async def clear(self) -> None:
        """At start and after a gap in the broadcast: counters are read again as needed."""
        self._totals.clear()
        self._profiles.clear()

    def broadcasts(self) -> list[BroadcastSpec]:
        return [
            BroadcastSpec(
                name="decision-exposures",
                stream="DECISION",
                filter_subject=subjects.integration("*", "decision", "exposures_counted"),
                handler=self.on_counted,
                load=self.clear,
            ),
            BroadcastSpec(
                name="decision-exposures-forgotten",
                stream="IDENTITY",
                filter_subject=subjects.integration("*", "identity", "profile_forgotten"),
                handler=self.on_forgotten,
            ),
        ]


def _counts(
    profile_id: str, action_ids: Sequence[str], read: dict[str, Exposures]
) -> list[ExposureCount]:
    """The counters a read gave (absent: never returned, zero)."""
    found = []
    for action_id in action_ids:
        held = read.get(action_id, Exposures())
        found.append(ExposureCount(action_id, ALL, held.total, held.positives))
        found.append(ExposureCount(action_id, profile_id, held.to_profile))
    return found


def _keys(decision: Decision) -> list[tuple[str, str, str]]:
    tenant, profile = decision.tenant_id, decision.command.profile_id
    return [(tenant, a.action_id, p) for a in decision.actions for p in (ALL, profile)]

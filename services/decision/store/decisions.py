"""The decision log on SQLAlchemy: decisions, their actions and the exposure counters."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.decision.domain.actions import ExposureCount, Exposures
from services.decision.domain.decisions import Decision, Outcome, OutcomeKind, TrainingRow
from services.decision.ports import DecisionLog
from services.decision.store.tables import action_exposures, decision_actions, decisions
from services.kernel.store.conflicts import DriverInsert

ALL = ""  # the profile_id of an action's row counting every profile
_DECISION_COLUMNS = (
    "tenant_id",
    "decision_id",
    "profile_id",
    "placement",
    "model_name",
    "model_version",
    "fallback",
    "decide_time",
)
_ACTION_COLUMNS = (
    "tenant_id",
    "decision_id",
    "action_id",
    "rank",
    "explored",
    "propensity",
    "score",
    "features",
    "outcome",
)


class SqlDecisionLog(DecisionLog):
    def __init__(self, session: Session) -> None:
        self.session = session

    def exposures(
        self, tenant_id: str, profile_id: str, action_ids: Sequence[str]
    ) -> dict[str, Exposures]:
        if not action_ids:
            return {}
        e = action_exposures.c
        rows = self.session.execute(
            # Two plain INs, not a row-value IN: SQLite seeks the primary key with these
            # but reads every exposure of the tenant for the row value (tested by EXPLAIN).
            select(e.action_id, e.profile_id, e.served, e.positives).where(
                e.tenant_id == tenant_id,
                e.action_id.in_(action_ids),
                e.profile_id.in_((ALL, profile_id)),
            )
        )
        found: dict[str, Exposures] = {}
        for r in rows:
            held = found.get(r.action_id, Exposures())
            if r.profile_id == ALL:
                held = Exposures(r.served, held.to_profile, r.positives)
            else:
                held = Exposures(held.total, r.served, held.positives)
            found[r.action_id] = held
        return found

    def logged(self, tenant_id: str, decision_ids: Sequence[str]) -> set[str]:
        if not decision_ids:
            return set()
        d = decisions.c
        found = self.session.execute(
            select(d.decision_id).where(d.tenant_id == tenant_id, d.decision_id.in_(decision_ids))
        )
        return set(found.scalars())

    def add(self, tenant_id: str, batch: Sequence[Decision]) -> list[ExposureCount]:
        if not batch:
            return []
        # straight through the driver: SQLAlchemy's per-row work cost more than the inserts
        dialect = self.session.get_bind().dialect.name
        connection = self.session.connection()
        made, returned = _decisions_insert(dialect), _actions_insert(dialect)
        made.count(
            connection,
            [
                (
                    tenant_id,
                    d.decision_id,
                    d.command.profile_id,
                    d.command.placement,
                    d.model.name,
                    d.model.version,
                    d.fallback,
                    made.time(d.decide_time),
                )
                for d in batch
            ],
        )
        rows = [
            (
                tenant_id,
                d.decision_id,
                a.action_id,
                rank,
                a.explored,
                a.propensity,
                a.score,
                json.dumps(d.rows.get(a.action_id, {})),
                0,
            )
            for d in batch
            for rank, a in enumerate(d.actions, start=1)
        ]
        if not rows:
            return []
        returned.count(connection, rows)
        served: Counter[tuple[str, str]] = Counter()
        for d in batch:
            for a in d.actions:
                served[(a.action_id, ALL)] += 1
                served[(a.action_id, d.command.profile_id)] += 1
        return self._count(tenant_id, served, "served")

    def outcome_of(self, tenant_id: str, decision_id: str, action_id: str) -> OutcomeKind | None:
        d = decision_actions.c
        held = self.session.execute(
            select(d.outcome).where(
                d.tenant_id == tenant_id, d.decision_id == decision_id, d.action_id == action_id
            )
        ).scalar_one_or_none()
        if held is None:
            raise KeyError((decision_id, action_id))
        return OutcomeKind(held) if held else None

    def record_outcome(self, outcome: Outcome, first_positive: bool) -> list[ExposureCount]:
        d = decision_actions.c
        self.session.execute(
            decision_actions.update()
            .where(
                d.tenant_id == outcome.tenant_id,
                d.decision_id == outcome.decision_id,
                d.action_id == outcome.action_id,
            )
            .values(outcome=int(outcome.kind), outcome_time=outcome.outcome_time)
        )
        if not first_positive:
            return []
        return self._count(outcome.tenant_id, Counter({(outcome.action_id, ALL): 1}), "positives")

    def forget(self, tenant_id: str, profile_ids: Sequence[str]) -> int:
        if not profile_ids:
            return 0
        d, a, e = decisions.c, decision_actions.c, action_exposures.c
        ids = list(
            self.session.execute(
                select(d.decision_id).where(
                    d.tenant_id == tenant_id, d.profile_id.in_(list(profile_ids))
                )
            ).scalars()
        )
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            self.session.execute(
                decision_actions.delete().where(a.tenant_id == tenant_id, a.decision_id.in_(chunk))
            )
            self.session.execute(
                decisions.delete().where(d.tenant_id == tenant_id, d.decision_id.in_(chunk))
            )
        self.session.execute(
            action_exposures.delete().where(
                e.tenant_id == tenant_id, e.profile_id.in_(list(profile_ids))
            )
        )
        return len(ids)

    def training_rows(self, tenant_id: str) -> Iterator[TrainingRow]:
        d, a = decisions.c, decision_actions.c
        rows = self.session.execute(
            select(d.decision_id, d.decide_time, d.profile_id, d.placement, d.model_name)
            .add_columns(d.model_version, a.action_id, a.rank, a.explored, a.propensity)
            .add_columns(a.score, a.outcome, a.features)
            .join(
                decision_actions,
                (a.tenant_id == d.tenant_id) & (a.decision_id == d.decision_id),
            )
            .where(d.tenant_id == tenant_id)
            .order_by(d.decide_time, d.decision_id, a.rank)
        )
        for r in rows:
            yield TrainingRow(
                decision_id=r.decision_id,
                decide_time=r.decide_time,
                profile_id=r.profile_id,
                placement=r.placement,
                action_id=r.action_id,
                rank=r.rank,
                explored=r.explored,
                model_name=r.model_name,
                model_version=r.model_version,
                propensity=r.propensity,
                score=r.score,
                outcome=OutcomeKind(r.outcome) if r.outcome else None,
                features=r.features,
            )

    def _count(
        self, tenant_id: str, keys: Counter[tuple[str, str]], column: str
    ) -> list[ExposureCount]:
        """Adds each key's number to `column` of its (action, profile) row, creating it; the
        rows after (their row locks are held until the commit, so they are what it keeps)."""
        served = column == "served"
        rows = [
            (tenant_id, action_id, profile_id, n if served else 0, 0 if served else n)
            # sorted: concurrent writers take the rows' locks in one order (no deadlock)
            for (action_id, profile_id), n in sorted(keys.items())
        ]
        # straight through the driver, as `add`: SQLAlchemy's work cost more than the upsert
        found = _counter(self.session.get_bind().dialect.name).rows(self.session.connection(), rows)
        return [ExposureCount(*r) for r in found]


@cache
def _decisions_insert(dialect: str) -> DriverInsert:
    return DriverInsert(decisions, _DECISION_COLUMNS, dialect)


@cache
def _actions_insert(dialect: str) -> DriverInsert:
    """Without `outcome_time`: NULL until an outcome joins."""
    return DriverInsert(decision_actions, _ACTION_COLUMNS, dialect)


@cache
def _counter(dialect: str) -> DriverInsert:
    """Adds a batch's numbers to the counters of its (action, profile) rows, creating them;
    returns the rows after (action, profile, served, positives)."""
    return DriverInsert(
        action_exposures,
        ("tenant_id", "action_id", "profile_id", "served", "positives"),
        dialect,
        add_on=("tenant_id", "action_id", "profile_id"),
        returning=("action_id", "profile_id", "served", "positives"),
    )

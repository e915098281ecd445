"""Audience members and sizes on SQL: the projection that keeps them, and the reads.

Members are one row per (tenant, audience, profile), listed by primary-key range (the
page token is the last profile id), so a page costs the same however large the audience;
the size is a counter kept in the same transaction as the members, answered at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from layercake.identity.v1 import profile_events_pb2 as pe
from services.identity import mapping
from services.identity.domain.events import AudienceEntered, AudienceExited
from services.identity.ports import AudienceBackfills, AudienceMember, AudienceMembers
from services.identity.store.tables import audience_members, audience_sizes
from services.kernel.store.records import StoredEvent
from services.kernel.store.unit_of_work import UnitOfWork
from services.kernel.timers import schedule

PREFIX = "profile-"
BACKFILL = "identity.audience_backfill"  # the timer kind
TYPES = frozenset({pe.AudienceEntered.DESCRIPTOR.full_name, pe.AudienceExited.DESCRIPTOR.full_name})


def members_query(tenant_id: str, audience_id: str, after: str, limit: int) -> Select[Any]:
    """A page of members; tests read its plan with EXPLAIN."""
    c = audience_members.c
    return (
        select(c.profile_id, c.audience_version, c.enter_time)
        .where(c.tenant_id == tenant_id, c.audience_id == audience_id, c.profile_id > after)
        .order_by(c.profile_id)
        .limit(limit)
    )


def backfill_timer_id(audience_id: str) -> str:
    return f"audience-backfill/{audience_id}"


def backfill_payload(audience_id: str, after: str) -> bytes:
    return json.dumps({"audience_id": audience_id, "after": after}).encode()


class SqlBackfills(AudienceBackfills):
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def start(self, tenant_id: str, audience_id: str, *, after: str, due: datetime) -> None:
        schedule(
            self.uow,
            backfill_timer_id(audience_id),
            due,
            backfill_payload(audience_id, after),
            tenant_id=tenant_id,
            kind=BACKFILL,
        )


class SqlAudienceMembers(AudienceMembers):
    def __init__(self, session: Session) -> None:
        self.session = session

    def page(
        self, tenant_id: str, audience_id: str, after: str, limit: int
    ) -> list[AudienceMember]:
        rows = self.session.execute(members_query(tenant_id, audience_id, after, limit))
        return [AudienceMember(r.profile_id, r.audience_version, r.enter_time) for r in rows]

    def size(self, tenant_id: str, audience_id: str) -> int:
        c = audience_sizes.c
        found = self.session.execute(
            select(c.size).where(c.tenant_id == tenant_id, c.audience_id == audience_id)
        ).scalar_one_or_none()
        return int(found or 0)


class AudienceProjection:
    """Keeps `audience_members` and `audience_sizes` from the profiles' audience events."""

    name = "audiences"

    def apply(self, session: Session, events: Sequence[StoredEvent]) -> None:
        for event in events:
            if event.type in TYPES and event.stream_id.startswith(PREFIX):
                self._apply(session, event)

    def _apply(self, session: Session, event: StoredEvent) -> None:
        tenant, profile_id = event.metadata.tenant_id, event.stream_id[len(PREFIX) :]
        c = audience_members.c
        match mapping.EVENTS.decode(event, None):
            case AudienceEntered(audience_id, version, enter_time):
                session.execute(
                    insert(audience_members).values(
                        tenant_id=tenant,
                        audience_id=audience_id,
                        profile_id=profile_id,
                        audience_version=version,
                        enter_time=enter_time,
                    )
                )
                _count(session, tenant, audience_id, 1)
            case AudienceExited(audience_id):
                gone = session.execute(
                    delete(audience_members).where(
                        c.tenant_id == tenant,
                        c.audience_id == audience_id,
                        c.profile_id == profile_id,
                    )
                )
                if isinstance(gone, CursorResult) and gone.rowcount:
                    _count(session, tenant, audience_id, -1)

    def clear(self, session: Session) -> None:
        session.execute(delete(audience_members))
        session.execute(delete(audience_sizes))


def _count(session: Session, tenant_id: str, audience_id: str, step: int) -> None:
    """Adds `step` to the audience's size (an upsert: the first member makes the row)."""
    c = audience_sizes.c
    module: Any = {"postgresql": postgresql, "sqlite": sqlite}[session.get_bind().dialect.name]
    stmt = module.insert(audience_sizes).values(
        tenant_id=tenant_id, audience_id=audience_id, size=step
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[c.tenant_id, c.audience_id], set_={"size": c.size + stmt.excluded.size}
        )
    )

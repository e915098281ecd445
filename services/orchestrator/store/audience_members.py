"""Audience membership on SQLAlchemy: rows of `audience_members`, and the page of an
audience's members a scheduled entry enters (with their contact states)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session

from services.kernel.store.versioned import Row
from services.orchestrator.domain.audience_members import Membership
from services.orchestrator.domain.contact_state import ContactState
from services.orchestrator.ports import AudienceMembers
from services.orchestrator.store.tables import audience_members, contact_states

NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # a member's contact state identity never updated


def _membership(m: Row) -> Membership:
    return Membership(m["tenant_id"], m["audience_id"], m["profile_id"], m["member"], m["version"])


class SqlAudienceMembers(AudienceMembers):
    def __init__(self, session: Session) -> None:
        self.session = session

    def of_profile(self, tenant_id: str, profile_id: str) -> dict[str, Membership]:
        t = audience_members.c
        stmt = select(audience_members).where(t.tenant_id == tenant_id, t.profile_id == profile_id)
        found = (_membership(r._mapping) for r in self.session.execute(stmt))
        return {m.audience_id: m for m in found}

    def put(self, membership: Membership) -> None:
        t, m = audience_members.c, membership
        key = (t.tenant_id == m.tenant_id, t.audience_id == m.audience_id)
        self.session.execute(delete(audience_members).where(*key, t.profile_id == m.profile_id))
        self.session.execute(audience_members.insert().values(**asdict(m)))

    def forget(self, tenant_id: str, profile_id: str) -> int:
        t = audience_members.c
        stmt = delete(audience_members).where(t.tenant_id == tenant_id, t.profile_id == profile_id)
        return len(self.session.execute(stmt.returning(t.audience_id)).all())


def audience_page(
    session: Session, tenant_id: str, audience_id: str, after: str, limit: int
) -> list[ContactState]:
    """Up to `limit` of the audience's members with a profile id after `after`, in profile
    id order, as their contact states (an empty one for a member identity has told nothing
    else of): a range of the membership's primary key, each joined by the contact state's,
    so paging costs the same at any depth."""
    m, c = audience_members.c, contact_states.c
    joined = audience_members.outerjoin(
        contact_states, and_(c.tenant_id == m.tenant_id, c.profile_id == m.profile_id)
    )
    stmt = (
        select(
            m.profile_id,
            c.profile_version,
            c.consent,
            c.time_zone,
            c.update_time,
            c.field_versions,
        )
        .select_from(joined)
        .where(
            m.tenant_id == tenant_id,
            m.audience_id == audience_id,
            m.profile_id > after,
            m.member.is_(True),
        )
        .order_by(m.profile_id)
        .limit(limit)
    )
    return [_member_state(tenant_id, r._mapping) for r in session.execute(stmt)]


def _member_state(tenant_id: str, r: Row) -> ContactState:
    return ContactState(
        tenant_id=tenant_id,
        profile_id=r["profile_id"],
        profile_version=r["profile_version"] or 0,
        consent=r["consent"] or {},
        time_zone=r["time_zone"] or "",
        update_time=r["update_time"] or NEVER,
        field_versions=r["field_versions"] or {},
    )

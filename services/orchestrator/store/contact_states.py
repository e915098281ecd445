"""Contact states on SQLAlchemy: rows of `contact_states`, one per tenant and profile."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.kernel.store.versioned import Row, SqlProfileCopies
from services.orchestrator.domain.contact_state import ContactState
from services.orchestrator.store.tables import contact_states


def _state(m: Row) -> ContactState:
    return ContactState(
        tenant_id=m["tenant_id"],
        profile_id=m["profile_id"],
        profile_version=m["profile_version"],
        consent=m["consent"],
        time_zone=m["time_zone"],
        update_time=m["update_time"],
        field_versions=m["field_versions"],
    )


def _row(state: ContactState) -> dict[str, object]:
    return {
        "profile_version": state.profile_version,
        "consent": dict(state.consent),
        "time_zone": state.time_zone,
        "update_time": state.update_time,
        "field_versions": dict(state.field_versions),
    }


def sql_contact_states(session: Session) -> SqlProfileCopies[ContactState]:
    return SqlProfileCopies(session, contact_states, _state, _row)


def contact_state_page(
    session: Session, tenant_id: str, after: str, limit: int
) -> list[ContactState]:
    """Up to `limit` of the tenant's contact states with a profile id after `after`, in
    profile id order: a range of the primary key, so paging costs the same at any depth."""
    c = contact_states.c
    rows = session.execute(
        select(contact_states)
        .where(c.tenant_id == tenant_id, c.profile_id > after)
        .order_by(c.profile_id)
        .limit(limit)
    )
    return [_state(row._mapping) for row in rows]

"""Reads and writes contact states; every query is scoped to one tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.kernel.profile_changes import ProfileChange
from services.kernel.store.versioned import Row, merge_row
from services.orchestrator.domain.contact_state import ContactState, contact_state_after
from services.orchestrator.store.tables import contact_states


def apply(session: Session, change: ProfileChange, now: datetime) -> bool:
    """Merges identity's change into the stored contact state; True when it wrote."""

    def merge(row: Row | None) -> dict[str, object] | None:
        state = contact_state_after(None if row is None else _state(row), change, now)
        if state is None:
            return None
        return {
            "profile_version": state.profile_version,
            "consent": dict(state.consent),
            "time_zone": state.time_zone,
            "update_time": state.update_time,
            "field_versions": dict(state.field_versions),
        }

    key = {"tenant_id": change.tenant_id, "profile_id": change.profile_id}
    return merge_row(session, contact_states, key, merge)


def get(session: Session, tenant_id: str, profile_id: str) -> ContactState | None:
    stmt = select(contact_states).where(
        contact_states.c.tenant_id == tenant_id, contact_states.c.profile_id == profile_id
    )
    row = session.execute(stmt).first()
    return None if row is None else _state(row._mapping)


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

"""Reads and writes contact states; every query is scoped to one tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.kernel.store.versioned import save_if_newer
from services.orchestrator.domain.contact_state import ContactState
from services.orchestrator.store.tables import contact_states


def save(session: Session, state: ContactState) -> bool:
    """Stores `state` unless a newer profile version is already stored; True when written."""
    row = {
        "tenant_id": state.tenant_id,
        "profile_id": state.profile_id,
        "profile_version": state.profile_version,
        "consent": dict(state.consent),
        "time_zone": state.time_zone,
        "update_time": state.update_time,
    }
    return save_if_newer(session, contact_states, row, version="profile_version")


def get(session: Session, tenant_id: str, profile_id: str) -> ContactState | None:
    stmt = select(contact_states).where(
        contact_states.c.tenant_id == tenant_id, contact_states.c.profile_id == profile_id
    )
    row = session.execute(stmt).first()
    if row is None:
        return None
    m = row._mapping
    return ContactState(
        tenant_id=m["tenant_id"],
        profile_id=m["profile_id"],
        profile_version=m["profile_version"],
        consent=m["consent"],
        time_zone=m["time_zone"],
        update_time=m["update_time"],
    )

"""`profile_trait_index`: which live profiles hold a trait value, for SearchProfiles.

A row per live profile and non-personal trait, keyed by the SHA-256 of the value's
JSON, so the lookup is one primary-key range seek whatever the tenant holds and
whatever the value's size. Kept by `store.projection` in the append's transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, delete, insert, select, tuple_
from sqlalchemy.orm import Session

from services.identity.domain.personal_data import is_personal
from services.identity.store.tables import profile_trait_index

MAX_TRAIT = 128


def searchable(trait: str) -> bool:
    return len(trait) <= MAX_TRAIT and not is_personal(trait)


def value_hash(json_value: str) -> str:
    return hashlib.sha256(json_value.encode()).hexdigest()


def reindex(
    session: Session,
    tenant_id: str,
    profile_id: str,
    before: Mapping[str, str],
    after: Mapping[str, str],
) -> None:
    """Moves the profile's rows from `before` to `after` (trait -> JSON value)."""
    c = profile_trait_index.c
    gone = [(k, value_hash(v)) for k, v in before.items() if searchable(k) and after.get(k) != v]
    new = [(k, value_hash(v)) for k, v in after.items() if searchable(k) and before.get(k) != v]
    if gone:
        session.execute(
            delete(profile_trait_index).where(
                c.tenant_id == tenant_id,
                c.profile_id == profile_id,
                tuple_(c.trait, c.value_hash).in_(gone),
            )
        )
    if new:
        session.execute(
            insert(profile_trait_index),
            [
                {"tenant_id": tenant_id, "trait": k, "value_hash": h, "profile_id": profile_id}
                for k, h in new
            ],
        )


def search_query(
    tenant_id: str, trait: str, json_value: str, after: str, limit: int
) -> Select[Any]:
    """Profile ids holding the value, by id after `after`; tests read its plan with EXPLAIN."""
    c = profile_trait_index.c
    return (
        select(c.profile_id)
        .where(
            c.tenant_id == tenant_id,
            c.trait == trait,
            c.value_hash == value_hash(json_value),
            c.profile_id > after,
        )
        .order_by(c.profile_id)
        .limit(limit)
    )

"""`profile_trait_index`: which live profiles hold a trait value, for SearchProfiles.

A row per live profile and non-personal trait, keyed by the SHA-256 of the value's
JSON, so the lookup is one primary-key range seek whatever the tenant holds and
whatever the value's size. Kept by `store.profile_rows` in the append's transaction.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Select, select

from services.identity.domain.personal_data import is_personal
from services.identity.store.tables import profile_trait_index

MAX_TRAIT = 128


def searchable(trait: str) -> bool:
    return len(trait) <= MAX_TRAIT and not is_personal(trait)


def value_hash(json_value: str) -> str:
    return hashlib.sha256(json_value.encode()).hexdigest()


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

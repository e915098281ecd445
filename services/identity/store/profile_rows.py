"""The read model's writes for one flush of profile events, folded: each `profiles` row
is read once (one query for the flush) and written once, identifiers inserted and moved
with one statement each, the trait index changed by difference at the end.

So projecting a consumer batch of a few hundred events costs a handful of statements,
not several per event. An operation that must see everything before it in the database
(forgetting, an unmerge's split) calls `write()` first and runs on its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, Update, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.identity.domain.identifiers import Identifier
from services.identity.store.sealed_traits import Stored
from services.identity.store.tables import profile_identifiers, profile_trait_index, profiles
from services.identity.store.trait_index import searchable, value_hash
from services.kernel.errors import ConcurrencyError
from services.kernel.store.conflicts import DriverInsert

Key = tuple[str, str]  # (tenant, profile id)


@dataclass
class Row:
    """A `profiles` row as the flush leaves it, and the trait index it had when read."""

    version: int
    traits: dict[str, Stored]
    consent: dict[str, bool]
    create_time: datetime
    update_time: datetime
    merged_into: str | None
    indexed: dict[str, str] = field(default_factory=dict)  # trait -> JSON value, as stored

    def searchable_values(self) -> dict[str, str]:
        """What the trait index should hold: the clear values of a live profile."""
        if self.merged_into is not None:
            return {}
        return {k: v["v"] for k, v in self.traits.items() if "v" in v and searchable(k)}


def rows_query(tenant_id: str, profile_ids: list[str]) -> Select[Any]:
    """The flush's existing rows of one tenant (a primary-key seek each); tests read its plan."""
    c = profiles.c
    return select(profiles).where(c.tenant_id == tenant_id, c.profile_id.in_(profile_ids))


_UPDATE_ROW = (
    update(profiles)
    .where(profiles.c.tenant_id == bindparam("k_tenant"))
    .where(profiles.c.profile_id == bindparam("k_profile"))
    .values(
        version=bindparam("n_version"),
        traits=bindparam("n_traits"),
        consent=bindparam("n_consent"),
        update_time=bindparam("n_update_time"),
        merged_into=bindparam("n_merged_into"),
    )
)
_MOVE_IDS = (
    update(profile_identifiers)
    .where(profile_identifiers.c.tenant_id == bindparam("k_tenant"))
    .where(profile_identifiers.c.profile_id == bindparam("k_from"))
    .values(profile_id=bindparam("n_to"))
)


def move_aliases(tenant: Any, absorbed: Any, survivor: Any) -> Update:
    """The absorbed profile's aliases become the survivor's (an index seek on
    `ix_profiles_merged_into`); tests read its plan."""
    c = profiles.c
    return (
        update(profiles)
        .where(c.tenant_id == tenant, c.merged_into == absorbed)
        .values(merged_into=survivor)
    )


_MOVE_ALIASES = move_aliases(bindparam("k_tenant"), bindparam("k_from"), bindparam("n_to"))
_UNINDEX = delete(profile_trait_index).where(
    profile_trait_index.c.tenant_id == bindparam("k_tenant"),
    profile_trait_index.c.trait == bindparam("k_trait"),
    profile_trait_index.c.value_hash == bindparam("k_hash"),
    profile_trait_index.c.profile_id == bindparam("k_profile"),
)


PROFILE_COLUMNS = (
    "tenant_id",
    "profile_id",
    "version",
    "traits",
    "consent",
    "create_time",
    "update_time",
    "merged_into",
)
INDEX_COLUMNS = ("tenant_id", "trait", "value_hash", "profile_id")
LINK_COLUMNS = (
    "tenant_id",
    "id_type",
    "id_value",
    "hashed",
    "profile_id",
    "message_id",
    "link_time",
)


@dataclass(frozen=True)
class _Writers:
    """New rows go through the driver (a flush inserts hundreds: SQLAlchemy's per-row work
    cost more than the inserts)."""

    profiles: DriverInsert
    links: DriverInsert
    index: DriverInsert


@cache
def _writers(dialect: str) -> _Writers:
    return _Writers(
        DriverInsert(profiles, PROFILE_COLUMNS, dialect),
        DriverInsert(profile_identifiers, LINK_COLUMNS, dialect),
        DriverInsert(profile_trait_index, INDEX_COLUMNS, dialect),
    )


class ProfileRows:
    """Buffers one flush's changes to `profiles`, `profile_identifiers` and the trait index."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._writers = _writers(session.get_bind().dialect.name)
        self.rows: dict[Key, Row] = {}
        self.created: set[Key] = set()
        self.dirty: set[Key] = set()
        self.links: list[list[Any]] = []  # LINK_COLUMNS
        self.moves: list[dict[str, str]] = []  # identifiers, then aliases, in order

    def read(self, keys: set[Key]) -> None:
        """Reads the existing rows among `keys` (one query per tenant)."""
        by_tenant: dict[str, list[str]] = {}
        for tenant, profile_id in sorted(keys - self.rows.keys()):
            by_tenant.setdefault(tenant, []).append(profile_id)
        for tenant, ids in by_tenant.items():
            for r in self.session.execute(rows_query(tenant, ids)):
                row = Row(
                    r.version,
                    json.loads(r.traits),
                    json.loads(r.consent),
                    r.create_time,
                    r.update_time,
                    r.merged_into,
                )
                row.indexed = row.searchable_values()
                self.rows[(tenant, r.profile_id)] = row

    def row(self, key: Key) -> Row | None:
        """The row as the flush has it so far; None when there is none (forgotten)."""
        if key not in self.rows:
            self.read({key})
        return self.rows.get(key)

    def create(self, key: Key, version: int, at: datetime) -> None:
        self.rows[key] = Row(version, {}, {}, at, at, None)
        self.created.add(key)

    def touch(self, key: Key, version: int) -> Row | None:
        row = self.row(key)
        if row is not None:
            row.version = version
            self.dirty.add(key)
        return row

    def link(
        self,
        key: Key,
        identifiers: tuple[Identifier, ...],
        message_id: str,
        link_time: datetime | None,
    ) -> None:
        tenant, profile_id = key
        at = None if link_time is None else self._writers.links.time(link_time)
        self.links += [
            [tenant, i.type, i.value, i.hashed, profile_id, message_id or None, at]
            for i in identifiers
        ]

    def absorb(self, tenant: str, absorbed_id: str, survivor_id: str) -> None:
        """The absorbed profile's identifiers and aliases now belong to the survivor: those
        written before this flush by one statement each, those of this flush here."""
        for link in self.links:
            if link[0] == tenant and link[4] == absorbed_id:
                link[4] = survivor_id
        for (t, _), row in self.rows.items():
            if t == tenant and row.merged_into == absorbed_id:
                row.merged_into = survivor_id
        self.moves.append({"k_tenant": tenant, "k_from": absorbed_id, "n_to": survivor_id})

    def drop(self, keys: set[Key]) -> None:
        """Rows deleted by a statement of their own (after `write()`)."""
        for key in keys:
            self.rows.pop(key, None)

    def write(self) -> None:
        """Sends what is buffered: new rows, moves (in order), links, changed rows, index."""
        s, writers = self.session, self._writers
        if self.created:
            rows = [self._new_row(k) for k in sorted(self.created)]
            writers.profiles.count(s.connection(), rows)
        if self.moves:
            s.execute(_MOVE_IDS, self.moves)
            s.execute(_MOVE_ALIASES, self.moves)
        if self.links:
            try:
                writers.links.count(s.connection(), [tuple(link) for link in self.links])
            except IntegrityError as e:  # rolled back whole by the caller, then retried
                raise ConcurrencyError("an identifier was linked concurrently") from e
        changed = sorted((self.dirty - self.created) & self.rows.keys())
        if changed:
            s.execute(_UPDATE_ROW, [self._changes(k) for k in changed])
        self._reindex(sorted((self.dirty | self.created) & self.rows.keys()))
        self.created, self.dirty, self.links, self.moves = set(), set(), [], []

    def _reindex(self, keys: list[Key]) -> None:
        gone: list[dict[str, str]] = []
        new: list[tuple[str, str, str, str]] = []  # INDEX_COLUMNS
        for tenant, profile_id in keys:
            row = self.rows[(tenant, profile_id)]
            before, after = row.indexed, row.searchable_values()
            at = {"k_tenant": tenant, "k_profile": profile_id}
            gone += [
                at | {"k_trait": k, "k_hash": value_hash(v)}
                for k, v in before.items()
                if after.get(k) != v
            ]
            new += [
                (tenant, k, value_hash(v), profile_id)
                for k, v in after.items()
                if before.get(k) != v
            ]
            row.indexed = after
        if gone:
            self.session.execute(_UNINDEX, gone)
        if new:
            self._writers.index.count(self.session.connection(), new)

    def _values(self, key: Key) -> dict[str, Any]:
        """The row's columns, in `PROFILE_COLUMNS` order."""
        row = self.rows[key]
        return {
            "tenant_id": key[0],
            "profile_id": key[1],
            "version": row.version,
            "traits": json.dumps(row.traits, sort_keys=True),
            "consent": json.dumps(row.consent, sort_keys=True),
            "create_time": row.create_time,
            "update_time": row.update_time,
            "merged_into": row.merged_into,
        }

    def _new_row(self, key: Key) -> tuple[Any, ...]:
        """`_values` as the driver takes them."""
        values, time = self._values(key), self._writers.profiles.time
        values["create_time"] = time(values["create_time"])
        values["update_time"] = time(values["update_time"])
        return tuple(values.values())

    def _changes(self, key: Key) -> dict[str, Any]:
        """`_values` as `_UPDATE_ROW` binds them: the key, then the new values."""
        values = self._values(key)
        changed = ("version", "traits", "consent", "update_time", "merged_into")
        return {"k_tenant": key[0], "k_profile": key[1]} | {f"n_{c}": values[c] for c in changed}

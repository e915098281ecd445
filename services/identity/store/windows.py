"""Computed-trait windows on SQL: one row per (profile, trait), its expiry a kernel timer.

The state is compact JSON (bucket key, newest event as epoch seconds, count, sum, min,
max, first, last, distinct values); `put` keeps the row and (re)schedules the timer
that fires when the oldest bucket leaves the window, in the caller's transaction.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.identity.domain.windows import Bucket, Window
from services.identity.ports import ComputedWindows, StoredWindow
from services.identity.store.tables import computed_trait_windows as windows_table
from services.kernel.store.conflicts import upsert_statement
from services.kernel.store.unit_of_work import UnitOfWork
from services.kernel.timers import cancel, schedule

EXPIRY = "identity.computed_trait_expiry"  # the timer kind


def timer_id(profile_id: str, name: str) -> str:
    return f"computed/{profile_id}/{name}"


def expiry_payload(profile_id: str, name: str) -> bytes:
    return json.dumps({"profile_id": profile_id, "name": name}).encode()


def _stamp(at: datetime) -> float:
    return at.timestamp()


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def dump_window(window: Window) -> str:
    return json.dumps(
        {
            "w": window.width.total_seconds(),
            "b": [
                [
                    b.key,
                    _stamp(b.newest),
                    b.count,
                    b.total,
                    b.low,
                    b.high,
                    [_stamp(b.first[0]), b.first[1]] if b.first else None,
                    [_stamp(b.last[0]), b.last[1]] if b.last else None,
                    sorted(b.distinct),
                ]
                for b in window.buckets
            ],
        },
        separators=(",", ":"),
    )


def load_window(text: str) -> Window:
    state = json.loads(text)
    return Window(
        timedelta(seconds=state["w"]),
        [
            Bucket(
                key,
                _time(newest),
                count,
                total,
                low,
                high,
                (_time(first[0]), first[1]) if first else None,
                (_time(last[0]), last[1]) if last else None,
                frozenset(distinct),
            )
            for key, newest, count, total, low, high, first, last, distinct in state["b"]
        ],
    )


class SqlComputedWindows(ComputedWindows):
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session: Session = uow.session

    def get(self, tenant_id: str, profile_id: str, name: str) -> StoredWindow | None:
        c = windows_table.c
        row = self.session.execute(
            select(c.fingerprint, c.state).where(
                c.tenant_id == tenant_id, c.profile_id == profile_id, c.name == name
            )
        ).one_or_none()
        return None if row is None else StoredWindow(row.fingerprint, load_window(row.state))

    def of_profile(self, tenant_id: str, profile_id: str) -> dict[str, StoredWindow]:
        c = windows_table.c
        rows = self.session.execute(
            select(c.name, c.fingerprint, c.state).where(
                c.tenant_id == tenant_id, c.profile_id == profile_id
            )
        )
        return {r.name: StoredWindow(r.fingerprint, load_window(r.state)) for r in rows}

    def put(
        self,
        tenant_id: str,
        profile_id: str,
        name: str,
        stored: StoredWindow,
        due: datetime | None,
    ) -> None:
        if not stored.window.buckets:
            self.delete(tenant_id, profile_id, name)
            return
        row = {
            "tenant_id": tenant_id,
            "profile_id": profile_id,
            "name": name,
            "fingerprint": stored.fingerprint,
            "state": dump_window(stored.window),
        }
        dialect = self.session.get_bind().dialect.name
        upsert = upsert_statement(
            windows_table, dialect, ("tenant_id", "profile_id", "name"), ("fingerprint", "state")
        )
        self.session.execute(upsert, [row])
        if due is None:
            cancel(self.uow, timer_id(profile_id, name), tenant_id=tenant_id)
        else:
            schedule(
                self.uow,
                timer_id(profile_id, name),
                due,
                expiry_payload(profile_id, name),
                tenant_id=tenant_id,
                kind=EXPIRY,
            )

    def delete(self, tenant_id: str, profile_id: str, name: str) -> None:
        c = windows_table.c
        self.session.execute(
            delete(windows_table).where(
                c.tenant_id == tenant_id, c.profile_id == profile_id, c.name == name
            )
        )
        cancel(self.uow, timer_id(profile_id, name), tenant_id=tenant_id)

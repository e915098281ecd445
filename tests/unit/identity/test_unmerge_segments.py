"""An unmerge re-derives each side's computed traits and audiences from the events that
belong to it: the windows are rebuilt (property sums included), each side enters or exits
audiences, and the changes are published with their versions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from layercake.events.v1 import identity_events_pb2 as ie
from services.identity import unmerging
from services.identity.domain.audience_content import read_computed_traits
from services.identity.domain.computed_trait_content import ASSET_ID, COMPUTED_TRAITS
from services.identity.store.memory import InMemoryIdentityUnitOfWork, in_memory
from services.kernel.clock import FixedClock
from tests.contracts.asset_harness import ANN
from tests.unit.identity.test_segments import (
    DAY,
    T0,
    TRAITS,
    Db,
    audience,
    fire_due,
    ingest,
    members,
    order,
    publish,
    published,
)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def db(clock: FixedClock) -> Db:
    return in_memory(clock)


def merged_buyers(db: Db) -> str:
    """c1 bought twice (10 + 5), c2 once (7), then one event wrongly joined them."""
    publish(db, COMPUTED_TRAITS, ASSET_ID, read_computed_traits(TRAITS)[0])
    audience(db, "buyers", "profile.computed.purchases_30d >= 2")
    audience(db, "big-spenders", "profile.computed.spend_30d >= 20")
    order(db, "m1", ("cookie_id", "c1"), total=10)
    order(db, "m2", ("cookie_id", "c1"), total=5)
    order(db, "m3", ("cookie_id", "c2"), total=7)
    survivor = ingest(db, "m4", ("cookie_id", "c1"), ("cookie_id", "c2"))
    assert survivor.computed["spend_30d"].json_value == "22"
    assert members(db, "big-spenders") == [survivor.profile_id]
    return survivor.profile_id


def split(db: Db, ref: str = "cookie_id:c1", moved: str = "cookie_id:c2") -> tuple[str, str]:
    with InMemoryIdentityUnitOfWork(db) as uow:
        kept, split_off = unmerging.unmerge_profile(uow, ANN, ref, [moved], "r-1")
    return kept.profile_id, split_off.profile_id


def test_each_side_gets_the_computed_traits_of_its_own_events(db: Db) -> None:
    merged_buyers(db)
    kept, split_off = split(db)
    assert {p for _, p, _ in db.state.windows} == {kept, split_off}
    changed = {
        (m.profile_id, m.name): m.value.json_value for m in published(db, ie.ComputedTraitChanged)
    }
    assert changed[(kept, "purchases_30d")] == "2" and changed[(kept, "spend_30d")] == "15"
    assert changed[(split_off, "purchases_30d")] == "1"
    assert changed[(split_off, "spend_30d")] == "7", "the property sum came back from the log"


def test_each_side_enters_and_exits_audiences_as_its_own_traits_say(db: Db) -> None:
    merged = merged_buyers(db)
    exits_before = len(published(db, ie.AudienceExited))  # the merged-away one's, if any
    kept, _ = split(db)
    assert kept == merged
    assert members(db, "buyers") == [kept]  # 2 purchases left: still a buyer
    assert members(db, "big-spenders") == []  # 15 < 20: exits
    (exited,) = published(db, ie.AudienceExited)[exits_before:]
    assert (exited.profile_id, exited.audience_id) == (kept, "big-spenders")
    versions = [
        m.version
        for t in (ie.ComputedTraitChanged, ie.AudienceExited)
        for m in published(db, t)
        if m.profile_id == kept
    ]
    assert len(versions) == len(set(versions)), "each change has its own version"


def test_rebuilt_windows_keep_expiring(db: Db, clock: FixedClock) -> None:
    merged_buyers(db)
    _, split_off = split(db)
    clock.advance(30 * DAY + timedelta(seconds=1))
    fire_due(db)
    last = [m for m in published(db, ie.ComputedTraitChanged) if m.profile_id == split_off]
    assert last[-1].value.json_value == "0", "the split-off's rebuilt window expired on time"
    assert db.state.windows == {}
    assert members(db, "buyers") == []

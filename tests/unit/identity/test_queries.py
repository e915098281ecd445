"""The read side on the in-memory unit of work: details, trait history, timeline, search."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.identity import handlers, queries
from services.identity.store.memory import IdentityState, InMemoryIdentityUnitOfWork, in_memory
from services.kernel.clock import FixedClock
from services.kernel.errors import InvalidArgument, NotFound
from services.kernel.store.memory import InMemoryDatabase
from tests.unit.identity.test_handlers import T0, ingest

Db = InMemoryDatabase[IdentityState]


@pytest.fixture
def db() -> Db:
    db = in_memory(FixedClock(T0))
    ingest(db, "m1", ("device_id", "d1"), plan='"free"', consent={"analytics": True})
    ingest(db, "m2", ("device_id", "d2"), hour=1, plan='"gold"', city='"Paris"')
    ingest(db, "m3", ("device_id", "d1"), ("device_id", "d2"), hour=2)  # merges them
    ingest(db, "m4", ("device_id", "d1"), hour=3, plan='"platinum"', consent={"analytics": False})
    ingest(db, "m5", ("cookie_id", "c9"), hour=4, plan='"gold"')  # someone else
    return db


def uow(db: Db) -> InMemoryIdentityUnitOfWork:
    return InMemoryIdentityUnitOfWork(db)


def test_a_profile_shows_provenance_consent_sources_and_aliases(db: Db) -> None:
    with uow(db) as u:
        profile = handlers.get_profile(u, "acme", "device_id:d2")
        gone = handlers.get_profile(u, "acme", "device_id:d1").aliases
    links = {i.value: link for i, link in profile.links.items()}
    assert (links["d1"].message_id, links["d2"].message_id) == ("m1", "m2")
    assert links["d2"].link_time == datetime(2026, 3, 1, 13, tzinfo=UTC)
    assert profile.consent == {"analytics": False}
    assert profile.consent_source == {"analytics": ""}  # the command named no channel
    assert profile.consent_time == {"analytics": datetime(2026, 3, 1, 15, tzinfo=UTC)}
    assert len(gone) == 1 and profile.aliases == gone


def test_trait_history_is_newest_first_across_the_merge_and_pages(db: Db) -> None:
    with uow(db) as u:
        first = queries.list_trait_history(u, "acme", "device_id:d1", "plan", 2, "")
        rest = queries.list_trait_history(
            u, "acme", "device_id:d1", "plan", 2, first.next_page_token
        )
        every = queries.list_trait_history(u, "acme", "device_id:d1", "", 0, "")
    assert [(c.json_value, c.message_id) for c in first.items + rest.items] == [
        ('"platinum"', "m4"),
        ('"gold"', "m2"),
        ('"free"', "m1"),
    ]
    assert first.next_page_token and not rest.next_page_token
    assert {c.trait for c in every.items} == {"plan", "city"} and len(every.items) == 4


def test_the_timeline_holds_the_profiles_events_newest_first(db: Db) -> None:
    with uow(db) as u:
        page = queries.list_profile_events(u, "acme", "device_id:d2", 3, "")
        last = queries.list_profile_events(u, "acme", "device_id:d2", 3, page.next_page_token)
        with pytest.raises(InvalidArgument) as bad:
            queries.list_profile_events(u, "acme", "device_id:d2", 3, "not base64!")
    assert [e.message_id for e in page.items + last.items] == ["m4", "m3", "m2", "m1"]
    assert [v.field for v in bad.value.violations] == ["page_token"]


def test_search_by_trait_finds_live_profiles_by_id_and_pages(db: Db) -> None:
    with uow(db) as u:
        gold = queries.search_profiles(u, "acme", "plan", '"gold"', 0, "")
        platinum = queries.search_profiles(u, "acme", "plan", '"platinum"', 1, "")
        none = queries.search_profiles(u, "other", "plan", '"platinum"', 0, "")
        paris = queries.search_profiles(u, "acme", "city", '"Paris"', 0, "")
    survivor = platinum.items[0].profile_id
    assert not platinum.next_page_token
    assert len(gold.items) == 1 and not gold.next_page_token
    assert {i.value for i in gold.items[0].identifiers} == {"c9"}  # the merged one moved on
    assert [p.profile_id for p in paris.items] == [survivor] and none.items == []


def test_search_refuses_a_personal_trait_and_a_missing_value(db: Db) -> None:
    with uow(db) as u, pytest.raises(InvalidArgument) as bad:
        queries.search_profiles(u, "acme", "email", "", 0, "")
    assert sorted(v.field for v in bad.value.violations) == ["trait", "value"]


def test_a_miss_names_the_identifier_type_never_its_value(db: Db) -> None:
    with uow(db) as u, pytest.raises(NotFound) as missing:
        handlers.get_profile(u, "acme", "email:ann@example.com")
    assert "ann" not in str(missing.value) and "email:#" in str(missing.value)

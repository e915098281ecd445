"""The ingest batch rules, each reported with the path of the field at fault."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.gateway.domain.ingest import MAX_BATCH, IncomingEvent, batch_violations
from services.kernel.vocabulary import is_identifier_type

WHEN = datetime(2026, 3, 1, 12, tzinfo=UTC)
GOOD = IncomingEvent(
    message_id="m-1",
    type="track",
    event="page_viewed",
    timestamp=WHEN,
    identifiers={"cookie_id": "ck-81", "email": ["ann@example.com", "a@b.c"]},
    consent={"email_marketing": True},
)


def fields(*events: IncomingEvent) -> dict[str, str]:
    return {v.field: v.description for v in batch_violations(list(events))}


def test_a_good_batch_passes() -> None:
    identify = replace(GOOD, type="identify", event="")
    assert fields(GOOD, identify) == {}


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
def test_batch_holds_1_to_1000_events(size: int) -> None:
    assert "events" in fields(*[GOOD] * size)


def test_full_batch_passes() -> None:
    assert fields(*[GOOD] * MAX_BATCH) == {}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"message_id": ""}, "events[0].message_id"),
        ({"message_id": "x" * 129}, "events[0].message_id"),
        ({"type": ""}, "events[0].type"),
        ({"type": "page"}, "events[0].type"),
        ({"event": ""}, "events[0].event"),
        ({"type": "identify"}, "events[0].event"),
        ({"timestamp": None}, "events[0].timestamp"),
        ({"identifiers": {}}, "events[0].identifiers"),
        ({"identifiers": {"shoe_size": "42"}}, "events[0].identifiers.shoe_size"),
        ({"identifiers": {"email": ""}}, "events[0].identifiers.email"),
        ({"identifiers": {"email": "   "}}, "events[0].identifiers.email"),
        ({"identifiers": {"email": 7.0}}, "events[0].identifiers.email"),
        ({"identifiers": {"email": "a" * 257}}, "events[0].identifiers.email"),
        ({"identifiers": {"email": []}}, "events[0].identifiers.email"),
        ({"identifiers": {"email": ["a@b.c", ""]}}, "events[0].identifiers.email[1]"),
        ({"identifiers": {"email": ["a@b.c", None]}}, "events[0].identifiers.email[1]"),
        ({"identifiers": {"phone": "call me"}}, "events[0].identifiers.phone"),
        ({"identifiers": {"partner:": "x"}}, "events[0].identifiers.partner:"),
        ({"identifiers": {"partner:Acme": "x"}}, "events[0].identifiers.partner:Acme"),
        ({"consent": {"telepathy": True}}, "events[0].consent.telepathy"),
    ],
)
def test_each_rule_names_its_field(change: dict[str, object], field: str) -> None:
    bad = replace(GOOD, **change)  # type: ignore[arg-type]
    assert list(fields(bad)) == [field]


def test_message_id_of_128_characters_is_fine() -> None:
    assert fields(replace(GOOD, message_id="x" * 128)) == {}


def test_paths_carry_the_event_index_and_every_bad_field_is_reported() -> None:
    bad = replace(GOOD, message_id="", identifiers={"email": "", "fax": "1"})
    found = fields(GOOD, GOOD, GOOD, bad)
    assert set(found) == {
        "events[3].message_id",
        "events[3].identifiers.email",
        "events[3].identifiers.fax",
    }


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("anonymous_id", True),
        ("user_id", True),
        ("email", True),
        ("phone", True),
        ("device_id", True),
        ("cookie_id", True),
        ("crm_id", True),
        ("partner:acme", True),
        ("partner:acme_crm-2", True),
        ("partner:", False),
        ("partner:-x", False),
        ("Email", False),
        ("ssn", False),
    ],
)
def test_identifier_types(name: str, ok: bool) -> None:
    assert is_identifier_type(name) is ok

"""The ingest batch rules, each reported with the path of the field at fault."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.gateway.domain.ingest import IncomingEvent, Limits, judge, request_violations
from services.kernel.vocabulary import is_identifier_type

NOW = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
WHEN = datetime(2026, 3, 1, 12, tzinfo=UTC)
LIMITS = Limits()
GOOD = IncomingEvent(
    message_id="m-1",
    type="track",
    event="page_viewed",
    timestamp=WHEN,
    identifiers={"cookie_id": "ck-81", "email": ["ann@example.com", "a@b.co"]},
    consent={"email_marketing": True},
    payloads={"traits": {"plan": "gold", "tags": ["a", {"b": 1.0}]}},
)


def fields(*events: IncomingEvent, limits: Limits = LIMITS) -> dict[str, str]:
    return {v.field: v.description for r in judge(list(events), limits, NOW) for v in r.violations}


def test_a_good_batch_passes() -> None:
    identify = replace(GOOD, type="identify", event="", message_id="m-2")
    assert fields(GOOD, identify) == {}


@pytest.mark.parametrize("size", [0, LIMITS.max_batch + 1])
def test_a_request_holds_1_to_max_batch_events(size: int) -> None:
    (bad,) = request_violations(size, 100, LIMITS)
    assert bad.field == "events" and "LAYERCAKE_GATEWAY_MAX_BATCH" in bad.description


def test_a_request_over_its_bytes_is_refused_naming_the_limit() -> None:
    assert request_violations(LIMITS.max_batch, LIMITS.max_request_bytes, LIMITS) == []
    (bad,) = request_violations(1, LIMITS.max_request_bytes + 1, LIMITS)
    assert "LAYERCAKE_GATEWAY_MAX_REQUEST_BYTES" in bad.description


def test_each_event_is_judged_on_its_own() -> None:
    bad = replace(GOOD, message_id="m-2", identifiers={})
    first, second, third = judge([GOOD, bad, replace(GOOD, message_id="m-3")], LIMITS, NOW)
    assert not first.rejected and second.rejected and not third.rejected
    assert [v.field for v in second.violations] == ["events[1].identifiers"]


def test_a_message_id_repeated_in_the_batch_is_a_repeat_of_the_first() -> None:
    bad_twin = replace(GOOD, identifiers={})
    verdicts = judge([bad_twin, GOOD, GOOD], LIMITS, NOW)
    assert [(v.rejected, v.repeats_earlier) for v in verdicts] == [
        (True, False),
        (False, False),  # a rejected event does not claim the id
        (False, True),
    ]


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
        ({"identifiers": {"email": ["a@b.co", ""]}}, "events[0].identifiers.email[1]"),
        ({"identifiers": {"email": ["a@b.co", None]}}, "events[0].identifiers.email[1]"),
        ({"identifiers": {"phone": "call me"}}, "events[0].identifiers.phone"),
        ({"identifiers": {"phone": "+1 1"}}, "events[0].identifiers.phone"),
        ({"identifiers": {"email": "ann"}}, "events[0].identifiers.email"),
        (
            {"identifiers": {"email": ["ann@example.com", "a b@c.d"]}},
            "events[0].identifiers.email[1]",
        ),
        ({"size": 32 * 1024 + 1}, "events[0]"),
        ({"timestamp": datetime(1, 1, 1, tzinfo=UTC)}, "events[0].timestamp"),
        ({"timestamp": datetime(9999, 1, 1, tzinfo=UTC)}, "events[0].timestamp"),
        ({"payloads": {"traits": {"x" * 257: 1.0}}}, "events[0].traits"),
        ({"payloads": {"properties": {"note": "x" * 8193}}}, "events[0].properties.note"),
        ({"payloads": {"context": {"a": [{"b": "é" * 4097}]}}}, "events[0].context.a[0].b"),
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


@pytest.mark.parametrize("phone", ["+1 (312) 555-0100", "312-555-0100", "030 1234567"])
def test_international_and_national_phones_pass(phone: str) -> None:
    # a national number's country is the tenant's default region, which identity applies
    assert fields(replace(GOOD, identifiers={"phone": phone})) == {}


def nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": "x"}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def test_json_nested_deeper_than_the_limit_is_refused_once() -> None:
    assert fields(replace(GOOD, payloads={"traits": nested(200)})) == {}
    found = fields(replace(GOOD, payloads={"traits": nested(201)}))
    assert len(found) == 1 and "nests deeper than 200 levels" in next(iter(found.values()))


def test_a_time_ahead_is_corrected_by_the_clients_skew() -> None:
    ahead = replace(GOOD, timestamp=NOW + timedelta(hours=3))
    # the client's clock runs 3 h 1 min fast: it sent 1 min after the event happened
    (verdict,) = judge([ahead], LIMITS, NOW, sent_at=NOW + timedelta(hours=3, minutes=1))
    assert not verdict.rejected and verdict.timestamp == NOW - timedelta(minutes=1)


def test_a_time_ahead_without_sent_at_is_refused_and_within_skew_is_kept() -> None:
    ahead = replace(GOOD, timestamp=NOW + timedelta(hours=3))
    assert "LAYERCAKE_GATEWAY_MAX_FUTURE_SKEW" in fields(ahead)["events[0].timestamp"]
    close = replace(GOOD, timestamp=NOW + timedelta(minutes=9))
    (verdict,) = judge([close], LIMITS, NOW, sent_at=NOW + timedelta(hours=1))
    assert verdict.timestamp == close.timestamp  # within the skew: not touched


def test_too_old_is_refused_per_the_setting() -> None:
    old = replace(GOOD, timestamp=NOW - timedelta(days=2))
    assert fields(old) == {}
    found = fields(old, limits=Limits(max_age=timedelta(days=1)))
    assert "LAYERCAKE_GATEWAY_MAX_EVENT_AGE" in found["events[0].timestamp"]


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

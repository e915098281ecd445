"""Segment's Tracking API messages as ingest events, and ingest's field paths as Segment's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf import json_format

from services.gateway.segment.mapping import (
    MAX_NESTING,
    segment_field,
    translate_batch,
    translate_one,
)
from services.kernel.errors import InvalidArgument

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def as_dict(body: object, kind: str | None = None) -> list[dict[str, object]]:
    translated = translate_one(body, kind, NOW) if kind else translate_batch(body, NOW)
    assert translated.refused == {}
    return [
        json_format.MessageToDict(e, preserving_proto_field_name=True) for e in translated.events
    ]


def test_an_identify_carries_its_ids_traits_context_and_time() -> None:
    [event] = as_dict(
        {
            "messageId": "m-1",
            "userId": "u-1",
            "anonymousId": "a-1",
            "timestamp": "2026-03-01T11:59:00.000Z",
            "traits": {"email": "ann@example.com", "plan": "pro"},
            "context": {"device": {"id": "d-1"}, "ip": "10.0.0.1"},
        },
        "identify",
    )
    assert event == {
        "message_id": "m-1",
        "type": "identify",
        "timestamp": "2026-03-01T11:59:00Z",
        "identifiers": {"user_id": "u-1", "anonymous_id": "a-1", "device_id": "d-1"},
        "traits": {"email": "ann@example.com", "plan": "pro"},
        "context": {"device": {"id": "d-1"}, "ip": "10.0.0.1"},
    }


def test_a_batch_maps_each_type_and_shares_its_context() -> None:
    body = {
        "sentAt": "2026-03-01T12:00:05Z",
        "context": {"library": {"name": "analytics-node"}},
        "batch": [
            {
                "type": "track",
                "messageId": "t",
                "userId": 42,
                "event": "Order Completed",
                "properties": {"total": 9.5},
                "timestamp": "2026-03-01T11:00:00Z",
            },
            {
                "type": "page",
                "messageId": "p",
                "anonymousId": "a",
                "name": "Deals",
                "category": "Promo",
                "properties": {"url": "/deals"},
            },
            {"type": "screen", "messageId": "s", "anonymousId": "a", "name": "Home"},
            {
                "type": "group",
                "messageId": "g",
                "userId": "u",
                "groupId": "acme",
                "traits": {"size": 10},
            },
            {"type": "alias", "messageId": "al", "userId": "u", "previousId": "a"},
        ],
    }
    translated = translate_batch(body, NOW)
    assert translated.sent_at == datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
    track, page, screen, group, alias = as_dict(body)
    assert (track["type"], track["event"], track["properties"]) == (
        "track",
        "Order Completed",
        {"total": 9.5},
    )
    assert track["identifiers"] == {"user_id": "42"}  # a number is its text
    assert track["context"] == {"library": {"name": "analytics-node"}}
    assert (page["event"], page["properties"]) == (
        "page_viewed",
        {"url": "/deals", "name": "Deals", "category": "Promo"},
    )
    assert page["timestamp"] == "2026-03-01T12:00:00Z"  # none sent: when it was received
    assert (screen["event"], screen["properties"]) == ("screen_viewed", {"name": "Home"})
    assert (group["event"], group["properties"]) == (
        "group_joined",
        {"group_id": "acme", "traits": {"size": 10.0}},
    )
    assert (alias["type"], alias["identifiers"]) == (
        "identify",
        {"user_id": "u", "anonymous_id": "a"},
    )


def test_consent_categories_naming_a_purpose_become_consent() -> None:
    context = {
        "consent": {
            "categoryPreferences": {
                "Advertising": False,
                "Email Marketing": True,
                "Functional": True,
            }
        }
    }
    [event] = as_dict({"messageId": "m", "userId": "u", "context": context}, "identify")
    assert event["consent"] == {"advertising": False, "email_marketing": True}


def test_what_the_door_finds_wrong_is_refused_by_index_with_segments_names() -> None:
    body = {
        "batch": [
            {"type": "track", "messageId": "ok", "userId": "u", "event": "E"},
            {"type": "rocket", "messageId": "r"},
            {
                "type": "identify",
                "messageId": "t",
                "userId": {"x": 1},
                "timestamp": "yesterday",
                "traits": [1],
            },
            "not an object",
            {"type": "alias", "messageId": "a", "userId": "u"},
        ]
    }
    translated = translate_batch(body, NOW)
    assert len(translated.events) == 5  # indexes line up with the request
    fields = {
        i: [segment_field(v.field, single=False) for v in found]
        for i, found in translated.refused.items()
    }
    assert fields == {
        1: ["batch[1].type"],
        2: ["batch[2].traits", "batch[2].timestamp", "batch[2].userId"],
        3: ["batch[3]"],
        4: ["batch[4].previousId"],
    }


def test_a_payload_too_deep_for_protobuf_is_refused_not_built() -> None:
    deep: dict[str, object] = {}
    cursor = deep
    for _ in range(MAX_NESTING):
        cursor["a"] = {}
        cursor = cursor["a"]  # type: ignore[assignment]
    translated = translate_one({"messageId": "m", "userId": "u", "traits": deep}, "identify", NOW)
    assert [v.field for v in translated.refused[0]] == ["events[0].traits"]
    assert not translated.events[0].traits.fields


def test_a_body_that_is_no_batch_is_refused_whole() -> None:
    for body in ([], {"batch": {}}, {"batch": [], "sentAt": "soon"}):
        with pytest.raises(InvalidArgument):
            translate_batch(body, NOW)
    with pytest.raises(InvalidArgument):
        translate_one([1], "track", NOW)


@pytest.mark.parametrize(
    ("ours", "single", "theirs"),
    [
        ("events", False, "batch"),
        ("events[3].identifiers.user_id", False, "batch[3].userId"),
        ("events[0].identifiers.anonymous_id[1]", True, "anonymousId[1]"),
        ("events[2].identifiers.device_id", False, "batch[2].context.device.id"),
        ("events[2].identifiers", False, "batch[2].userId"),
        ("events[0].message_id", True, "messageId"),
        ("events[1].traits.email", False, "batch[1].traits.email"),
        ("events[0].consent.sms", True, "context.consent.categoryPreferences.sms"),
        ("events[7]", False, "batch[7]"),
        ("events[7]", True, ""),
    ],
)
def test_field_paths_read_as_segment_names_them(ours: str, single: bool, theirs: str) -> None:
    assert segment_field(ours, single) == theirs

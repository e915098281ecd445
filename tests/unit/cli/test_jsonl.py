"""JSON lines into IngestEvent messages; every refusal names its line."""

from __future__ import annotations

import pytest

from services.cli.jsonl import LineError, NumberedEvent, batches, parse_line, read_events

GOOD = (
    '{"message_id": "m-1", "type": "track", "event": "page_viewed",'
    ' "timestamp": "2026-03-01T12:00:00Z",'
    ' "identifiers": {"cookie_id": "ck-81", "email": ["a@b.c"]},'
    ' "traits": {"n": 3}, "consent": {"email_marketing": true}}'
)


def test_the_design_shape_parses() -> None:
    event = parse_line(GOOD, 1)
    assert (event.message_id, event.type, event.event) == ("m-1", "track", "page_viewed")
    assert event.timestamp.ToJsonString() == "2026-03-01T12:00:00Z"
    assert event.identifiers["cookie_id"] == "ck-81"
    assert event.consent["email_marketing"] is True


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"message_id": "m", "colour": "red"}', 'unknown field "colour"'),
        ('{"message_id": "m",', "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"timestamp": "yesterday"}', "timestamp"),
        ('{"consent": {"email_marketing": "yes"}}', "consent"),
        ('{"identifiers": "ck-81"}', "identifiers"),
    ],
)
def test_bad_lines_say_why_with_their_number(text: str, reason: str) -> None:
    with pytest.raises(LineError) as refused:
        parse_line(text, 7)
    assert refused.value.line == 7
    assert str(refused.value).startswith("line 7: ")
    assert reason in refused.value.reason
    assert "\n" not in str(refused.value)


def test_read_events_skips_blank_lines_and_keeps_numbers() -> None:
    items = list(read_events([GOOD + "\n", "\n", '{"nope": 1}\n', "   \n", GOOD]))
    assert [type(i) for i in items] == [NumberedEvent, LineError, NumberedEvent]
    assert [i.line for i in items] == [1, 3, 5]


def test_batches_of_a_size_with_a_short_tail() -> None:
    events = [NumberedEvent(i, parse_line(GOOD, i)) for i in range(1, 6)]
    assert [[e.line for e in b] for b in batches(events, 2)] == [[1, 2], [3, 4], [5]]
    assert list(batches([], 2)) == []

"""Journey YAML in, a validated `Journey` out: every bad field named by step id and field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.errors import InvalidArgument
from services.orchestrator.domain.journeys import read_journey, validate_journey
from services.orchestrator.domain.journeys.durations import is_local_time, parse_duration

EXAMPLE = Path(__file__).parents[3] / "services/orchestrator/examples/abandoned-cart.yaml"


def problems(text: str) -> dict[str, str]:
    """field -> description of every violation, structural or semantic."""
    try:
        journey, _ = read_journey(text)
    except InvalidArgument as e:
        return {v.field: v.description for v in e.violations}
    return {v.field: v.description for v in validate_journey("journey j", journey)}


def edited(change: str) -> str:
    """The example with `change` (a Python statement over `doc`) applied."""
    doc = yaml.safe_load(EXAMPLE.read_text())
    steps = {s["id"]: s for s in doc["steps"]}
    exec(change, {"doc": doc, "steps": steps})
    return yaml.safe_dump(doc)


def test_the_designs_abandoned_cart_journey_validates() -> None:
    journey, metadata = read_journey(EXAMPLE.read_text())
    assert validate_journey("journey abandoned-cart", journey) == []
    assert metadata.owner == "growth-team" and metadata.description.startswith("Remind")
    assert journey.journey_id == "abandoned-cart"
    assert journey.entry.event == "cart_updated"
    assert journey.reentry.policy == pb.REENTRY_POLICY_AFTER_COOLDOWN
    assert journey.reentry.cooldown.ToTimedelta() == timedelta(hours=24)
    assert [g.event for g in journey.goals] == ["order_placed"]
    wait = journey.steps[0].wait_for_event
    assert (wait.timeout.ToTimedelta(), wait.on_event, wait.on_timeout) == (
        timedelta(hours=4),
        "done",
        "pick",
    )
    assert dict(journey.steps[1].decide.paths) == {"water": "in-stock", "diet_soda": "remind"}
    assert journey.steps[2].branch.otherwise == "remind-alternatives"


BAD = [
    (
        "steps['pick']['paths']['water'] = 'in-stock2'",
        {"steps[pick].paths.water": "unknown step 'in-stock2'"},
    ),
    ("steps['pick']['decide']['placment'] = 'x'", {"steps[pick].decide.placment": "unknown field"}),
    ("steps['remind']['colour'] = 'red'", {"steps[remind].colour": "unknown field"}),
    ("del steps['remind']['next']", {"steps[remind].next": "is required"}),
    ("del doc['entry']", {"entry": "is required"}),
    ("doc['reentry']['back_in_stock'] = 'yes'", {"reentry.back_in_stock": "must be true or false"}),
    (
        "steps['wait-for-order']['wait_for_event']['timeout'] = '4 hours'",
        {"steps[wait-for-order].wait_for_event.timeout": "'4 hours' is not a duration"},
    ),
    (
        "steps['wait-for-order']['wait_for_event']['timeout'] = '0s'",
        {"steps[wait-for-order].wait_for_event.timeout": "must be more than 0s"},
    ),
    (
        "steps['remind'].pop('send'); steps['remind']['wait'] = {'until_local_time': '25:00'}",
        {"steps[remind].wait.until_local_time": "'25:00' is not HH:MM"},
    ),
    (
        "steps['pick']['paths'] = {'water': 'remind'}; steps['pick']['fallback'] = 'remind'",
        {"steps[in-stock]": "is unreachable from 'wait-for-order'"},
    ),
    (
        "steps['done'].pop('exit'); steps['done']['send'] = {'channel': 'email',"
        " 'template': 't'}; steps['done']['next'] = 'remind'",
        {"steps[done]": "loops back without a wait: remind -> done -> remind"},
    ),
    (
        "steps['done'].pop('exit'); steps['done']['split'] = {'holdout': 1.5,"
        " 'paths': [{'weight': 50, 'next': 'remind'}, {'weight': 40, 'next': 'pick'}]}",
        {
            "steps[done].split.holdout": "must be from 0 to below 1",
            "steps[done].split.paths": "weights sum to 90; they must sum to 100",
        },
    ),
    ("doc['reentry'] = {'policy': 'after_cooldown'}", {"reentry.cooldown": "is required"}),
    ("doc['reentry'] = {'policy': 'sometimes'}", {"reentry.policy": "must be one of never"}),
    ("steps['remind']['send']['channel'] = 'fax'", {"steps[remind].send.channel": "must be one"}),
    ("doc['steps'][3]['id'] = 'pick'", {"steps[3].id": "repeats step id 'pick'"}),
    ("steps['pick']['decide'] = {}", {"steps[pick].decide.placement": "is required"}),
    (
        "doc['entry'] = {'schedule': {'cron': '0 9 * *', 'time_zone': 'Mars/Base'}}",
        {
            "entry.schedule.cron": "must be five cron fields",
            "entry.schedule.time_zone": "must be an IANA time zone",
        },
    ),
    ("doc['entry'] = {'schedule': {'cron': '61 9 * * *'}}", {"entry.schedule.cron": "not a valid"}),
    ("doc['entry'] = {'schedule': {'cron': '0 0 30 2 *'}}", {"entry.schedule.cron": "never fires"}),
    (
        "doc['entry'] = {'schedule': {'cron': '0 9 * * 1', 'audience': 'VIP people!'}}",
        {"entry.schedule.audience": "must be an audience id"},
    ),
    (
        "doc['entry'] = {'schedule': {'cron': '0 9 * * 1'}, 'when': 'event.name == \"x\"'}",
        {"entry.when": "a scheduled entry has no event"},
    ),
    ("doc['entry']['audience'] = 'vips'", {"entry": "needs exactly one of event, audience"}),
    (
        "steps['remind'].pop('send'); steps['remind']['webhook'] = {'url': 'ftp://x'}",
        {"steps[remind].webhook.url": "must be an http(s) URL"},
    ),
]


@pytest.mark.parametrize(("change", "expected"), BAD, ids=[c for c, _ in BAD])
def test_a_bad_journey_names_the_step_and_field(change: str, expected: dict[str, str]) -> None:
    found = problems(edited(change))
    for field, description in expected.items():
        assert field in found, found
        assert description in found[field]


def test_every_bad_cel_expression_is_reported_at_once_with_its_position() -> None:
    found = problems(
        edited(
            "doc['entry']['when'] = 'event.properties.total >'\n"
            "steps['in-stock']['branch'][0]['when'] = 'profle.traits.vip'\n"
            "doc['goal']['when'] = 'decision.prodct == \"x\"'"
        )
    )
    assert set(found) == {"entry.when", "steps[in-stock].branch[0].when", "goals[0].when"}
    assert all(d.startswith("journey j at 1:") for d in found.values())
    assert "profle" in found["steps[in-stock].branch[0].when"]


def test_cel_sees_profile_event_context_decision_and_facts() -> None:
    when = (
        "facts.stock(decision.product, profile.traits.store_id) > 0"
        " && context.channel == 'email' && event.name == 'x'"
    )
    assert problems(edited(f"steps['in-stock']['branch'][0]['when'] = {when!r}")) == {}


@pytest.mark.parametrize(
    "text", ["journey: [", "- a list", "journey: j\nentry: {event: e}\nsteps: nope"]
)
def test_yaml_that_is_not_a_journey_is_refused(text: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        read_journey(text)
    assert e.value.violations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(minutes=90)),
        ("4", None),
        ("4 h", None),
        ("h", None),
        ("-4h", None),
        ("4y", None),
    ],
)
def test_durations(text: str, expected: timedelta | None) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "ok"), [("09:00", True), ("23:59", True), ("24:00", False), ("9:00", False)]
)
def test_local_times(text: str, ok: bool) -> None:
    assert is_local_time(text) is ok


def test_a_send_with_a_stock_check_and_an_alternative() -> None:
    text = edited(
        "steps['remind']['send']['stock'] = "
        "{'product': 'decision.product', 'store': 'profile.traits.store_id'}\n"
        "steps['remind']['alternative'] = 'remind-alternatives'"
    )
    assert problems(text) == {}
    journey, _ = read_journey(text)
    send = journey.steps[3].send
    assert (send.stock.product, send.stock.store) == ("decision.product", "profile.traits.store_id")
    assert send.alternative == "remind-alternatives"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            "steps['remind']['alternative'] = 'remind-alternatives'",
            {"steps[remind].alternative": "applies to a send with a stock check only"},
        ),
        (
            "steps['remind']['send']['stock'] = "
            "{'product': 'decision.product', 'store': '\"s-1\"'}\n"
            "steps['remind']['alternative'] = 'nowhere'",
            {"steps[remind].alternative": "unknown step 'nowhere'"},
        ),
        (
            "steps['remind']['send']['stock'] = {'product': 'decision.prodct', 'store': '\"s-1\"'}",
            {"steps[remind].send.stock.product": "prodct"},
        ),
        (
            "steps['remind']['send']['stock'] = {'product': 'decision.product'}",
            {"steps[remind].send.stock.store": "is required"},
        ),
    ],
)
def test_bad_stock_checks_are_named(change: str, expected: dict[str, str]) -> None:
    found = problems(edited(change))
    assert set(found) == set(expected)
    for field, text in expected.items():
        assert text in found[field]

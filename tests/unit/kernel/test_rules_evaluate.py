"""Evaluating a tenant's rule never raises and never runs away: every failure is an
outcome with a reason, and a loop too costly for the data is stopped before it starts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY as METRICS

from services.kernel import rules
from services.kernel.clock import FixedClock

TYPICAL = (
    'profile.traits.country == "US" && profile.computed.purchases_30d >= 3'
    " && profile.consent.email_marketing"
)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def compile_(text: str, declarations: rules.Declarations = rules.CONDITION) -> rules.Rule:
    return rules.compile_rule(text, declarations, asset="test rule", field="when")


def profile(**traits: Any) -> dict[str, Any]:
    return {
        "profile": {
            "id": "p-1",
            "traits": {"country": "US", "store_id": "s-12", **traits},
            "computed": {"purchases_30d": 4},
            "consent": {"email_marketing": True},
            "audiences": [],
            "timezone": "America/Chicago",
        }
    }


class Stock:
    def __init__(self, units: dict[tuple[str, str], int]) -> None:
        self.units = units

    def stock(self, product: str, store: str) -> int:
        return self.units.get((product, store), 0)


class Broken:
    def stock(self, product: str, store: str) -> int:
        raise ConnectionError("facts store unavailable")


def failures(reason: rules.Reason) -> float:
    sample = METRICS.get_sample_value(
        "layercake_rule_evaluation_failures_total", {"reason": reason.value}
    )
    return sample or 0.0


def test_a_typical_audience_rule_holds_or_not() -> None:
    rule = compile_(TYPICAL, rules.AUDIENCE)
    assert rule.evaluate(profile()).holds
    us_without_purchases = profile()
    us_without_purchases["profile"]["computed"]["purchases_30d"] = 1
    outcome = rule.evaluate(us_without_purchases)
    assert outcome.ok and outcome.value is False and not outcome.holds


@pytest.mark.parametrize(
    ("text", "activation", "reason", "message"),
    [
        ("profile.traits.age > 18", profile(), rules.Reason.MISSING_FIELD, "age"),
        ("profile.traits.country > 3", profile(), rules.Reason.TYPE_ERROR, "No such overload"),
        ("profile.computed.purchases_30d / 0 > 1", profile(), rules.Reason.ARITHMETIC, "zero"),
        ("event.name == 'x'", profile(), rules.Reason.MISSING_VARIABLE, "event"),
        ("profile.traits.country.matches('(')", profile(), rules.Reason.FUNCTION_ERROR, "regex"),
        ("profile.traits.country", profile(), rules.Reason.RESULT_TYPE, "expected bool, got str"),
    ],
)
def test_runtime_failures_are_outcomes_with_a_reason(
    text: str, activation: dict[str, Any], reason: rules.Reason, message: str
) -> None:
    before = failures(reason)
    outcome = compile_(text).evaluate(activation)
    assert outcome.reason is reason
    assert message in outcome.message
    assert not outcome.ok and not outcome.holds
    assert failures(reason) == before + 1


@pytest.mark.parametrize(
    "text",
    [
        "profile.computed.purchases_30d >= 3",  # holds
        "profile.traits.age > 18",  # a missing field
        "profile.traits.country",  # not a bool
        "profile.traits.country.matches('^U')",  # a CEL function
    ],
)
def test_a_shared_activation_gives_what_the_plain_values_give(text: str) -> None:
    rule, values = compile_(text), profile()
    shared = rules.Activation(values)
    assert rule.evaluate(shared) == rule.evaluate(values)
    assert rule.evaluate(shared) == rule.evaluate(values)  # converted once, used again


def test_has_guards_an_optional_field() -> None:
    rule = compile_("has(profile.traits.age) && profile.traits.age > 18")
    assert rule.evaluate(profile()) == rules.Outcome(False)
    assert rule.evaluate(profile(age=30)).holds


def test_declarations_may_ask_for_another_result_type() -> None:
    score = rules.compile_rule(
        "profile.computed.purchases_30d * 2",
        rules.Declarations.of("profile", result=int),
        asset="offer o",
        field="value",
    )
    assert score.evaluate(profile()).value == 8


def test_a_loop_that_would_exceed_the_cost_limit_is_stopped_before_it_runs() -> None:
    rule = compile_(
        "profile.audiences.all(a, profile.audiences.all(b, profile.audiences.all(c, "
        "a + b + c != '')))"
    )
    small = profile()
    small["profile"]["audiences"] = ["a1", "a2", "a3"]
    assert rule.evaluate(small).holds

    huge = profile()
    huge["profile"]["audiences"] = [f"a{i}" for i in range(1000)]  # 10^9 steps if it ran
    before = failures(rules.Reason.COST_LIMIT)
    outcome = rule.evaluate(huge)
    assert outcome.reason is rules.Reason.COST_LIMIT
    assert "exceeds the limit of 1,000,000" in outcome.message
    assert failures(rules.Reason.COST_LIMIT) == before + 1


def test_an_expression_without_loops_costs_its_size() -> None:
    rule = compile_(TYPICAL)
    big = profile(tags=list(range(100_000)))
    assert rule.estimated_cost(big) == rule.nodes
    assert rule.evaluate(big).holds


@pytest.mark.parametrize("name", sorted(rules.REGISTRY))
def test_every_registered_function_example_holds(name: str) -> None:
    function = rules.REGISTRY[name]
    assert function.signature.startswith(f"{name}(")
    env = rules.Env(clock=FixedClock(NOW), facts=Stock({("water", "s-12"): 3}))
    rule = compile_(function.example)
    assert rule.evaluate({}, env).holds, function.example


def test_facts_stock_reads_the_port_the_caller_gives() -> None:
    rule = compile_("facts.stock(decision.product, profile.traits.store_id) > 0")
    activation = profile() | {"decision": {"action": "water", "product": "water"}}
    assert rule.evaluate(activation, rules.Env(facts=Stock({("water", "s-12"): 2}))).holds
    assert not rule.evaluate(activation, rules.Env(facts=Stock({}))).holds

    broken = rule.evaluate(activation, rules.Env(facts=Broken()))
    assert broken.reason is rules.Reason.FUNCTION_ERROR
    assert "facts store unavailable" in broken.message
    missing = rule.evaluate(activation)
    assert missing.reason is rules.Reason.FUNCTION_ERROR
    assert "no business facts" in missing.message


def test_time_helpers_use_the_injected_clock_and_time_zones() -> None:
    env = rules.Env(clock=FixedClock(NOW))
    quiet = compile_(
        'time.localTime(time.now(), profile.timezone) >= "21:00"'
        ' || time.localTime(time.now(), profile.timezone) < "08:00"'
    )
    assert quiet.evaluate(profile(), env).holds  # noon UTC is 06:00 in Chicago: quiet hours
    assert (
        compile_("time.localHour(time.now(), profile.timezone) == 6").evaluate(profile(), env).holds
    )
    recent = compile_('time.now() - event.time < duration("4h")')
    assert recent.evaluate({"event": {"time": datetime(2026, 3, 1, 9, tzinfo=UTC)}}, env).holds

    bad_zone = compile_("time.localHour(time.now(), 'Mars/Olympus') == 1").evaluate({}, env)
    assert bad_zone.reason is rules.Reason.FUNCTION_ERROR
    assert "unknown time zone 'Mars/Olympus'" in bad_zone.message


def test_a_rule_evaluates_in_any_thread() -> None:
    rule = compile_(TYPICAL, rules.AUDIENCE)
    outcomes: list[rules.Outcome] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(rule.evaluate(profile()))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [o.holds for o in outcomes] == [True] * 4


def test_the_readme_example_runs() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("## Rules (CEL)", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    last = code.strip().splitlines()[-1]
    namespace: dict[str, Any] = {}
    exec(code.replace(last, f"holds = {last}"), namespace)
    assert namespace["holds"] is True


MAPS = rules.Declarations(
    (("features", rules.declarations.MAP), ("context", rules.declarations.MAP))
)
NARROWED = [
    "context.stock.water > 0",
    "has(context.stock.water) && features.trait_age >= 13.0",
    "has(features.nope)",
    "context.missing.x > 1",  # a missing key: the same error either way
    'features["trait_age"] > 3.0',  # indexed: the whole map
    "size(context) == 3",
    "context.tags.exists(t, t == 'vip')",
    "[1, 2].exists(context, context > 1)",  # a loop variable of a declared name
    "context.stock.size() > 1",
]


@pytest.mark.parametrize("text", NARROWED)
def test_rules_sharing_narrowed_values_evaluate_as_on_the_whole_values(text: str) -> None:
    """An activation holds only what its rules read (conversion costs by size): every rule
    must evaluate to exactly what it gives on the whole values."""
    values = {
        "features": {"trait_age": 41.0, "trait_sodas_30d": 2.0},
        "context": {"stock": {"water": 3, "soda": 0}, "tags": ["vip"], "channel": "kiosk"},
    }
    rule = rules.compile_rule(text, MAPS, asset="action a", field="eligibility")
    other = rules.compile_rule("context.channel == 'kiosk'", MAPS, asset="a", field="f")
    narrowed = rules.narrowed(values, [rule, other])
    assert rule.evaluate(rules.Activation(narrowed)) == rule.evaluate(values)
    assert other.evaluate(rules.Activation(narrowed)).holds


def test_narrowed_values_leave_out_what_no_rule_reads() -> None:
    rule = rules.compile_rule(
        "context.stock.water > 0 && features.trait_age > 1.0", MAPS, asset="a", field="f"
    )
    values = {
        "features": {"trait_age": 41.0, "trait_sodas_30d": 2.0},
        "context": {"stock": {"water": 3}, "weather": {"t": 20.0}},
        "profile": {"id": "p"},
    }
    assert rules.narrowed(values, [rule]) == {
        "features": {"trait_age": 41.0},
        "context": {"stock": {"water": 3}},
    }

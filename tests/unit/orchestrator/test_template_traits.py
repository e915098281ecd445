"""Which traits a template needs a profile to supply (reads not guarded by `default` or
`is defined`), and the submit check of them against the tenant's traits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.clock import FixedClock
from services.kernel.errors import FailedPrecondition, InvalidArgument
from services.kernel.profile_changes import ProfileChange
from services.orchestrator import handlers
from services.orchestrator.domain.journeys import read_journey
from services.orchestrator.domain.templates import render, unguarded_traits, with_variables
from services.orchestrator.store.memory import (
    InMemoryOrchestratorUnitOfWork,
    in_memory,
    publish_journey,
)
from services.orchestrator.template_checks import UNKNOWN_TRAIT, check_template_traits

NOBODY = {"profile": {"traits": {}, "computed": {}}, "decision": {"product": "water"}}
GUARDED = [
    "Hi {{ profile.traits.first_name | default('there') }}",
    "{{ profile.traits.first_name | d('there') | upper }}",
    "{% if profile.traits.nick is defined %}{{ profile.traits.nick }}{% endif %}",
    "{% if profile.traits.nick is not defined %}hi{% else %}{{ profile.traits.nick }}{% endif %}",
    "{% if profile.traits.a is undefined %}-{% elif profile.traits.b is defined %}"
    "{{ profile.traits.a }}{{ profile.traits.b }}{% endif %}",
    "{{ profile.traits.x if profile.traits.x is defined else '' }}",
    "{% if profile.traits.x is defined and profile.traits.x > 3 %}{{ profile.traits['x'] }}"
    "{% endif %}",
    "{% set profile = {'traits': {'z': 1}} %}{{ profile.traits.z }}",  # its own, not a person's
    "{{ profile.computed.purchases_30d | default(0) }}",
    "{% if profile.computed.ltv is defined %}{{ profile.computed['ltv'] }}{% endif %}",
]
UNGUARDED = [
    ("Hi {{ profile.traits.first_name }}", {"profile.traits.first_name"}),
    ("{{ profile.traits.address.city }} {{ decision.product }}", {"profile.traits.address"}),
    ("{% if profile.traits.x > 3 %}big{% endif %}", {"profile.traits.x"}),
    ("{{ profile.traits.q or 'a' }}", {"profile.traits.q"}),  # strict: undefined has no truth
    (
        "{% if profile.traits.nick is defined %}-{% else %}{{ profile.traits.nick }}{% endif %}",
        {"profile.traits.nick"},
    ),
    ("{{ profile.traits.a | default(profile.traits.b) }}", {"profile.traits.b"}),
    (
        "{{ profile.computed.ltv }} {{ profile.traits.ltv | default(1) }}",
        {"profile.computed.ltv"},
    ),
    (
        "{% if profile.traits.ltv is undefined %}{{ profile.computed.ltv }}{% endif %}",
        {"profile.computed.ltv"},  # a trait of that name guards no computed one
    ),
]


@pytest.mark.parametrize("source", GUARDED)
def test_a_guarded_read_needs_no_trait_and_renders_for_a_person_without_it(source: str) -> None:
    assert unguarded_traits(source) == set()
    render(source, NOBODY)  # and the guard holds at send time


@pytest.mark.parametrize(("source", "needed"), UNGUARDED)
def test_an_unguarded_read_needs_its_trait_and_fails_for_a_person_without_it(
    source: str, needed: set[str]
) -> None:
    assert unguarded_traits(source) == needed
    with pytest.raises(InvalidArgument, match="cannot render"):
        render(source, NOBODY)


def mail(subject: str, body: str) -> pb.Template:
    return with_variables(pb.Template(template_id="m", channel="email", subject=subject, body=body))


SETS_TIER = """
journey: tiering
owner: growth-team
entry: {api: {}}
steps:
  - id: tag
    update_profile: {traits: {tier: gold}}
    next: done
  - id: done
    exit: {}
"""


def test_submit_accepts_traits_a_profile_has_or_a_live_journey_sets() -> None:
    db = in_memory(FixedClock(datetime(2026, 3, 2, tzinfo=UTC)))
    journey, _ = read_journey(SETS_TIER)
    publish_journey(db, "acme", journey, 1)
    template = mail("{{ profile.traits.first_name }}", "You are {{ profile.traits.tier }}.")
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        with pytest.raises(FailedPrecondition) as refused:
            check_template_traits(uow, "acme", template)
        assert refused.value.reason == UNKNOWN_TRAIT
        assert [v.field for v in refused.value.violations] == ["subject"]
        assert "profile.traits.first_name" in refused.value.violations[0].description
        uow.trait_names.learn("acme", ["profile.traits.first_name"])
        check_template_traits(uow, "acme", template)
        with pytest.raises(FailedPrecondition):  # another tenant's people are not its
            check_template_traits(uow, "other", template)


def test_submit_names_each_field_and_misspelt_trait() -> None:
    db = in_memory(FixedClock(datetime(2026, 3, 2, tzinfo=UTC)))
    template = mail("{{ profile.traits.frist_name }}", "{{ profile.traits.first_name }}")
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        uow.trait_names.learn("acme", ["profile.traits.first_name"])
        with pytest.raises(FailedPrecondition) as refused:
            check_template_traits(uow, "acme", template)
    [violation] = refused.value.violations
    assert violation.field == "subject" and "profile.traits.frist_name" in violation.description


def test_submit_accepts_computed_traits_identity_reported_for_the_tenant() -> None:
    db = in_memory(FixedClock(datetime(2026, 3, 2, tzinfo=UTC)))
    journey, _ = read_journey(SETS_TIER.replace("tier: gold", "purchases_30d: 1"))
    publish_journey(db, "acme", journey, 1)  # sets a trait, not the computed one
    template = mail("Your orders", "{{ profile.computed.purchases_30d }} this month")
    computed = ProfileChange("acme", "p-1", 3, computed={"purchases_30d": None})
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        handlers.record_profile_change(uow, replace(computed, tenant_id="other"))
        with pytest.raises(FailedPrecondition) as refused:
            check_template_traits(uow, "acme", template)
        [violation] = refused.value.violations
        assert violation.field == "body" and "profile.computed.purchases_30d" in str(violation)
        handlers.record_profile_change(uow, computed)  # an empty window still names it
        check_template_traits(uow, "acme", template)

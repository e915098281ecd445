"""The seed story's journey and templates are valid assets, so `make demo` can publish them."""

from __future__ import annotations

from services.demo import assets
from services.orchestrator.domain.journeys import read_journey, validate_journey
from services.orchestrator.domain.templates import read_template, validate_template, with_variables


def test_the_story_journey_is_valid_and_enters_only_the_audience() -> None:
    journey, _ = read_journey((assets.STORY_ASSETS / f"{assets.JOURNEY_ID}.yaml").read_text())
    assert validate_journey(assets.JOURNEY_ID, journey) == []
    assert assets.AUDIENCE_ID in journey.entry.when
    assert journey.reentry.back_in_stock
    [pick] = [s for s in journey.steps if s.HasField("decide")]
    assert pick.decide.placement == assets.PLACEMENT
    sends = {s.send.template for s in journey.steps if s.HasField("send")}
    assert sends == set(assets.TEMPLATES)


def test_the_story_templates_are_valid() -> None:
    for template_id in assets.TEMPLATES:
        template, _ = read_template((assets.STORY_ASSETS / f"{template_id}.yaml").read_text())
        assert validate_template(template_id, with_variables(template)) == []

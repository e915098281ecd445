"""Templates: the variables they read are found when applied; unknown ones are refused then."""

from __future__ import annotations

from pathlib import Path

import pytest

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.errors import InvalidArgument
from services.orchestrator.domain.templates import (
    read_template,
    render,
    validate_template,
    variables_of,
    with_variables,
)

EXAMPLE = Path(__file__).parents[3] / "services/orchestrator/examples/cart-reminder.yaml"


def problems(body: str, subject: str = "", channel: str = "email") -> dict[str, str]:
    template = with_variables(
        pb.Template(template_id="t", channel=channel, subject=subject, body=body)
    )
    return {v.field: v.description for v in validate_template("template t", template)}


def test_the_example_reads_and_lists_its_variables() -> None:
    template, metadata = read_template(EXAMPLE.read_text())
    assert list(template.variables) == ["decision.product", "profile.traits.first_name"]
    assert validate_template("template cart-reminder", template) == []
    assert metadata.owner == "growth-team"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Hi {{ profile.traits.first_name }}", {"profile.traits.first_name"}),
        ("{{ profile.traits['first_name'] | title }}", {"profile.traits.first_name"}),
        (
            "{% for p in decision.attributes.alts %}{{ p.name }}{% endfor %}",
            {"decision.attributes.alts"},
        ),
        ("{% set n = 3 %}{{ n }}", set()),
        ("{{ coupon }}", {"coupon"}),
        ("{% if profile.computed.vip %}VIP{% endif %}", {"profile.computed.vip"}),
    ],
)
def test_variables_a_template_reads(source: str, expected: set[str]) -> None:
    assert variables_of(source) == expected


def test_a_variable_no_profile_supplies_is_an_error_when_applied() -> None:
    found = problems("Use {{ coupon }} or {{ profile.traits.first_name }}", "{{ profile.secret }}")
    assert found == {
        "body": "'coupon' is not a variable a profile or decision supplies",
        "subject": "'profile.secret' is not a variable a profile or decision supplies",
    }


def test_syntax_errors_name_the_source_and_line() -> None:
    found = problems("line one\n{{ profile.traits.first_name ")
    assert "template t at line 2" in found["body"]


def test_channel_id_and_declared_variables_are_checked() -> None:
    assert "channel" in problems("hi", channel="fax")
    stale = pb.Template(template_id="t", channel="email", body="{{ decision.product }}")
    assert [v.field for v in validate_template("template t", stale)] == ["variables"]


def test_rendering_is_sandboxed_and_strict() -> None:
    context = {"profile": {"traits": {"first_name": "Ann"}}}
    assert render("Hi {{ profile.traits.first_name }}", context) == "Hi Ann"
    with pytest.raises(InvalidArgument, match="last_name"):
        render("Hi {{ profile.traits.last_name }}", context)
    with pytest.raises(InvalidArgument, match="unsafe"):
        render("{{ ''.__class__.__mro__ }}", context)


@pytest.mark.parametrize("text", ["template: t\nchannel: email\nbody: [1]", "tmpl: x", "x: ["])
def test_bad_template_yaml_is_refused(text: str) -> None:
    with pytest.raises(InvalidArgument):
        read_template(text)

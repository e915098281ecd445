"""What a send renders: the template's sources over the step's variables and the person's
traits, which identity holds (asked for per send, never stored). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.orchestrator.domain.channels import ADDRESS_TRAITS
from services.orchestrator.domain.templates import render

_TRAIT = "profile.traits."


@dataclass(frozen=True)
class Content:
    subject: str
    body: str


def traits_to_ask(template: pb.Template, channel: str) -> set[str]:
    """The traits identity must supply: those the template reads, and the channel's address
    (a send request carries no trait values: personal ones never sit in an event log)."""
    wanted = {v[len(_TRAIT) :].split(".")[0] for v in template.variables if v.startswith(_TRAIT)}
    if address := ADDRESS_TRAITS.get(channel):
        wanted.add(address)
    return wanted


def render_content(
    template: pb.Template,
    profile: Mapping[str, Any],
    traits: Mapping[str, Any],
    decision: Mapping[str, Any],
    context: Mapping[str, Any],
) -> Content:
    """Subject and body; InvalidArgument (field `template`) when a value is missing."""
    person = dict(profile)
    person["traits"] = dict(traits)
    variables = {"profile": person, "decision": dict(decision), "context": dict(context)}
    subject = render(template.subject, variables) if template.subject else ""
    return Content(subject, render(template.body, variables))

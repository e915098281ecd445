"""Computed traits as a controlled asset: the `computed_traits` kind (id `default`).

The content is `layercake.identity.v1.ComputedTraits`; a draft is checked field by field
when saved (names, events, windows, property paths, each `when` compiled as CEL over
`event`), and the published version becomes the domain's definitions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from google.protobuf.message import Message

from layercake.identity.v1 import computed_traits_pb2 as pb
from services.identity.domain.computed_traits import (
    MAX_WINDOW,
    Aggregation,
    ComputedTraitDefinition,
    parse_property,
)
from services.kernel import rules
from services.kernel.assets import KINDS, AssetKind
from services.kernel.durations import parse_duration
from services.kernel.errors import FieldViolation

ASSET_ID = "default"  # one computed-traits asset per tenant
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_TRAITS = 200
EVENT_RULES = rules.Declarations.of("event")
AGGREGATIONS = {
    pb.AGGREGATION_COUNT: Aggregation.COUNT,
    pb.AGGREGATION_SUM: Aggregation.SUM,
    pb.AGGREGATION_MIN: Aggregation.MIN,
    pb.AGGREGATION_MAX: Aggregation.MAX,
    pb.AGGREGATION_FIRST: Aggregation.FIRST,
    pb.AGGREGATION_LAST: Aggregation.LAST,
    pb.AGGREGATION_DISTINCT: Aggregation.DISTINCT,
}


def violations(asset: str, content: Message) -> Iterable[FieldViolation]:
    """Every bad field of a draft, by path (`content.traits[1].window`)."""
    assert isinstance(content, pb.ComputedTraits)
    if len(content.traits) > MAX_TRAITS:
        yield FieldViolation("content.traits", f"at most {MAX_TRAITS} computed traits")
    seen: set[str] = set()
    for n, trait in enumerate(content.traits):
        at = f"content.traits[{n}]"
        if not NAME.match(trait.name):
            yield FieldViolation(f"{at}.name", "must be lower-case letters, digits and _")
        elif trait.name in seen:
            yield FieldViolation(f"{at}.name", f"{trait.name} is defined twice")
        seen.add(trait.name)
        if not trait.event:
            yield FieldViolation(f"{at}.event", "name the event it reads, e.g. order_completed")
        aggregation = AGGREGATIONS.get(trait.aggregation)
        if aggregation is None:
            yield FieldViolation(f"{at}.aggregation", "must be set")
        elif aggregation != Aggregation.COUNT and (problem := parse_property(trait.property)):
            yield FieldViolation(f"{at}.property", problem)
        elif aggregation == Aggregation.COUNT and trait.property:
            yield FieldViolation(f"{at}.property", "count reads no property")
        window = parse_duration(trait.window)
        if window is None or not window.total_seconds():
            yield FieldViolation(f"{at}.window", "must be a duration such as 30d or 12h")
        elif window > MAX_WINDOW:
            yield FieldViolation(f"{at}.window", f"must be at most {MAX_WINDOW.days}d")
        if trait.when:
            try:
                rules.compile_rule(trait.when, EVENT_RULES, asset=asset, field=f"{at}.when")
            except rules.RuleError as e:
                yield from e.violations


def definitions_from_content(
    content: pb.ComputedTraits, asset: str = "computed_traits"
) -> tuple[ComputedTraitDefinition, ...]:
    """The domain definitions of a published (so valid) version."""
    found = []
    for n, trait in enumerate(content.traits):
        window = parse_duration(trait.window)
        assert window is not None, "a published version was validated"
        when = (
            rules.compile_rule(
                trait.when, EVENT_RULES, asset=asset, field=f"content.traits[{n}].when"
            )
            if trait.when
            else None
        )
        found.append(
            ComputedTraitDefinition(
                name=trait.name,
                event=trait.event,
                aggregation=AGGREGATIONS[trait.aggregation],
                window=window,
                property_path=trait.property,
                when=when,
            )
        )
    return tuple(found)


COMPUTED_TRAITS = KINDS.register(
    AssetKind(
        "computed_traits",
        pb.ComputedTraits,
        required_metadata=frozenset({"owner"}),
        validate=violations,
    )
)

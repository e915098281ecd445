"""Computed traits: what a tenant counts over a sliding window of a person's events.

`purchases_30d = count(order_completed) over 30d`, `spend_30d = sum(properties.total)
of order_completed over 30d`: a definition names the event, an optional CEL filter over
it (`event.properties.category == "minivan"`), the aggregation, the property it reads and
the window. Pure: the published definitions come from the `computed_traits` asset.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from services.kernel.rules import Rule

MAX_WINDOW = timedelta(days=400)


class Aggregation(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MIN = "min"
    MAX = "max"
    FIRST = "first"
    LAST = "last"
    DISTINCT = "distinct"  # how many different values


NUMERIC = frozenset({Aggregation.SUM, Aggregation.MIN, Aggregation.MAX})
ZERO_WHEN_EMPTY = frozenset({Aggregation.COUNT, Aggregation.SUM, Aggregation.DISTINCT})


@dataclass(frozen=True)
class TrackedEvent:
    """What a computed trait sees of one ingested event."""

    name: str  # the track event's name; "" for identify
    properties: Mapping[str, Any]  # JSON values as the partner sent them
    facts: Mapping[str, Any]  # the event as CEL's `event` variable sees it


@dataclass(frozen=True)
class ComputedTraitDefinition:
    """One computed trait of a tenant's published `computed_traits` version."""

    name: str
    event: str
    aggregation: Aggregation
    window: timedelta
    property_path: str = ""  # `properties.total`; empty for count
    when: Rule | None = None  # CEL over `event`; None: every event named `event`

    @property
    def fingerprint(self) -> str:
        """Changes when what the trait counts changes: its window state then starts anew."""
        text = json.dumps(
            [
                self.event,
                self.aggregation,
                self.window.total_seconds(),
                self.property_path,
                self.when.text if self.when else "",
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def reads(self, event: TrackedEvent) -> tuple[bool, object]:
        """(counts, value): whether the event counts, and the value it brings (None for count)."""
        if event.name != self.event:
            return False, None
        if self.when is not None and not self.when.evaluate({"event": event.facts}).holds:
            return False, None
        if self.aggregation == Aggregation.COUNT:
            return True, None
        value = property_value(event.properties, self.property_path)
        if value is None:
            return False, None
        if self.aggregation in NUMERIC and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            return False, None
        return True, value


def property_value(properties: Mapping[str, Any], path: str) -> object:
    """`properties.cart.total` of the event's properties; None when any step is missing."""
    value: object = properties
    for step in path.split(".")[1:]:
        if not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    return value


def parse_property(path: str) -> str | None:
    """A problem with a property path, or None when it reads `properties.<name>[.<name>...]`."""
    steps = path.split(".")
    if len(steps) < 2 or steps[0] != "properties" or not all(steps[1:]):
        return "must read the event's properties, e.g. properties.total"
    return None

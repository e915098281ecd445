"""Tracking plans: what a tenant's events must look like, checked at the door.

A plan names, per event type (a track event's name, or `identify`), a JSON Schema
(`jsonschema`, draft 2020-12) for the event's properties (an identify's traits) and what
a violation does: `reject` (the event is REJECTED with each violation named) or `flag`
(ACCEPTED, its violations in the result). `unplanned: block` rejects the event types the
plan does not name. One plan per tenant, replaced whole by each apply (its stream keeps
every version); schemas are checked when the plan is applied, compiled once per replica.

    {"unplanned": "allow",
     "events": {"Order Completed": {"mode": "reject", "schema": {"type": "object", ...}}}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from services.gateway.domain.events import TrackingPlanApplied
from services.gateway.domain.ingest import IDENTIFY, TRACK, IncomingEvent, Verdict
from services.kernel.aggregate import Aggregate
from services.kernel.errors import FieldViolation, InvalidArgument, Violations

STREAM_PREFIX = "tracking-plan-"
MAX_PLAN_BYTES = 256 * 1024
MAX_VIOLATIONS = 10  # per event: enough to fix it, never a flood
MAX_EVENT_TYPE = 200


class Mode(StrEnum):
    REJECT = "reject"
    FLAG = "flag"


class Unplanned(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"


@dataclass(frozen=True)
class EventRule:
    schema: Mapping[str, Any]
    mode: Mode = Mode.REJECT


@dataclass(frozen=True)
class PlanContent:
    events: Mapping[str, EventRule] = field(default_factory=dict)
    unplanned: Unplanned = Unplanned.ALLOW

    def to_json(self) -> str:
        """Canonical text (sorted keys): an unchanged plan applied again is no new version."""
        document = {
            "unplanned": self.unplanned.value,
            "events": {
                name: {"mode": rule.mode.value, "schema": rule.schema}
                for name, rule in self.events.items()
            },
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"))


def parse_plan(document: object, where: str = "plan") -> PlanContent:
    """A plan from its JSON document; InvalidArgument naming each bad field
    (`plan.events["Order Completed"].schema: ...`)."""
    bad = Violations()
    if not isinstance(document, Mapping):
        raise InvalidArgument.field(where, "must be an object with events and unplanned")
    if len(json.dumps(document)) > MAX_PLAN_BYTES:
        raise InvalidArgument.field(where, f"must be at most {MAX_PLAN_BYTES} bytes of JSON")
    for key in set(document) - {"events", "unplanned"}:
        bad.add(f"{where}.{key[:40]}", "unknown field; expected events and unplanned")
    unplanned = document.get("unplanned", Unplanned.ALLOW.value)
    if unplanned not in {u.value for u in Unplanned}:
        bad.add(f"{where}.unplanned", "must be allow or block")
    events = document.get("events", {})
    rules: dict[str, EventRule] = {}
    if not isinstance(events, Mapping):
        bad.add(f"{where}.events", "must be an object of event type to rule")
        events = {}
    for name, rule in events.items():
        rule_where = f"{where}.events[{json.dumps(str(name)[:MAX_EVENT_TYPE])}]"
        if not name or len(name) > MAX_EVENT_TYPE:
            bad.add(rule_where, f"an event type is 1 to {MAX_EVENT_TYPE} characters")
        elif (parsed := _rule(bad, rule_where, rule)) is not None:
            rules[name] = parsed
    bad.raise_if_any()
    return PlanContent(rules, Unplanned(unplanned))


def _rule(bad: Violations, where: str, rule: object) -> EventRule | None:
    if not isinstance(rule, Mapping):
        bad.add(where, "must be an object with schema and mode")
        return None
    mode = rule.get("mode", Mode.REJECT.value)
    if mode not in {m.value for m in Mode}:
        bad.add(f"{where}.mode", "must be reject or flag")
        return None
    schema = rule.get("schema")
    if not isinstance(schema, Mapping):
        bad.add(f"{where}.schema", "must be a JSON Schema object")
        return None
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        path = "".join(f"[{json.dumps(p)}]" for p in e.path)
        bad.add(f"{where}.schema{path}", f"is no JSON Schema: {e.message[:200]}")
        return None
    return EventRule(dict(schema), Mode(mode))


@dataclass(frozen=True)
class Judgement:
    """What a plan says of one event: violations that reject it, or flags it carries."""

    rejected: tuple[FieldViolation, ...] = ()
    flagged: tuple[FieldViolation, ...] = ()


class CompiledPlan:
    """A plan with its validators built once, to judge many events."""

    def __init__(self, content: PlanContent, version: int) -> None:
        self.content = content
        self.version = version
        self._validators = {
            name: (Draft202012Validator(rule.schema), rule.mode)
            for name, rule in content.events.items()
        }

    def judge(self, path: str, event: IncomingEvent) -> Judgement:
        """`path` is the event's (`events[3]`); violations name fields under it."""
        event_type = event.event if event.type == TRACK else event.type
        payload = "traits" if event.type == IDENTIFY else "properties"
        planned = self._validators.get(event_type)
        if planned is None:
            if self.content.unplanned is Unplanned.BLOCK:
                where = f"{path}.event" if event.type == TRACK else f"{path}.type"
                blocked = FieldViolation(where, f"{event_type[:80]!r} is not in the tracking plan")
                return Judgement(rejected=(blocked,))
            return Judgement()
        validator, mode = planned
        found = tuple(
            FieldViolation(
                ".".join([f"{path}.{payload}", *(str(p) for p in e.absolute_path)]),
                f"tracking plan: {e.message[:200]}",
            )
            for e in sorted(
                validator.iter_errors(dict(event.payloads.get(payload, {}))),
                key=lambda e: list(map(str, e.absolute_path)),
            )[:MAX_VIOLATIONS]
        )
        return Judgement(rejected=found) if mode is Mode.REJECT else Judgement(flagged=found)


@dataclass(frozen=True)
class PlanCount:
    """How many events of one type a tenant's plans rejected and flagged, and when last."""

    rejected: int = 0
    flagged: int = 0
    last_time: datetime | None = None


def judge_planned(
    plan: CompiledPlan, verdicts: Sequence[Verdict], events: Sequence[IncomingEvent]
) -> tuple[list[Verdict], dict[str, PlanCount]]:
    """The verdicts once the plan has judged the events the ingest rules let through (a
    plan's rejection rejects; its flags ride along), with what it did per event type."""
    judged: list[Verdict] = []
    counts: dict[str, PlanCount] = {}
    for verdict, event in zip(verdicts, events, strict=True):
        if verdict.rejected:
            judged.append(verdict)
            continue
        found = plan.judge(f"events[{verdict.index}]", event)
        if found.rejected or found.flagged:
            name = event.event if event.type == TRACK else event.type
            held = counts.get(name, PlanCount())
            counts[name] = PlanCount(
                held.rejected + bool(found.rejected), held.flagged + bool(found.flagged)
            )
        if found.rejected:
            verdict = replace(verdict, violations=found.rejected, repeats_earlier=False)
        judged.append(replace(verdict, flags=found.flagged))
    return judged, counts


@dataclass
class TrackingPlan(Aggregate[TrackingPlanApplied]):
    tenant_id: str = ""
    content: PlanContent | None = None
    apply_time: datetime | None = None

    @property
    def stream_id(self) -> str:
        return stream_id(self.tenant_id)

    def apply_plan(self, content: PlanContent, at: datetime) -> bool:
        """Records a new version unless `content` is the plan in force; True when it did."""
        if self.content is not None and self.content.to_json() == content.to_json():
            return False
        self._record(TrackingPlanApplied(self.tenant_id, content.to_json(), at))
        return True

    def compiled(self) -> CompiledPlan | None:
        return CompiledPlan(self.content, self.version) if self.content is not None else None

    def apply(self, event: TrackingPlanApplied) -> None:
        self.tenant_id = event.tenant_id
        self.content = parse_plan(json.loads(event.plan_json))
        self.apply_time = event.apply_time


def stream_id(tenant_id: str) -> str:
    return f"{STREAM_PREFIX}{tenant_id}"

"""A journey in YAML -> its `Journey` message and asset metadata, with errors naming each path.

Structure only (keys, types, durations); `validation` checks the graph and the CEL. Paths
name steps by id (`steps[pick].paths.water`), as the marketer wrote them. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.assets import AssetMetadata
from services.kernel.assets.documents import METADATA_KEYS, load_yaml, metadata_from
from services.kernel.errors import Violations
from services.orchestrator.domain.journeys.durations import parse_duration

_POLICIES = {
    "never": pb.REENTRY_POLICY_NEVER,
    "after_cooldown": pb.REENTRY_POLICY_AFTER_COOLDOWN,
    "always": pb.REENTRY_POLICY_ALWAYS,
}
# step kind -> (keys inside its mapping, keys beside it on the step)
STEP_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "wait": (("duration", "until_local_time"), ("next",)),
    "wait_for_event": (("event", "timeout", "when"), ("on_event", "on_timeout")),
    "branch": ((), ("otherwise",)),
    "split": (("holdout", "paths"), ()),
    "decide": (("placement", "timeout"), ("paths", "fallback")),
    "send": (("channel", "template", "stock"), ("next", "alternative")),
    "update_profile": (("traits",), ("next",)),
    "webhook": (("url",), ("next",)),
    "exit": ((), ()),
}


def read_journey(text: str) -> tuple[pb.Journey, AssetMetadata]:
    """Parses a journey's YAML; raises InvalidArgument listing every structural error."""
    document = load_yaml(text, "journey")
    r = _Reader()
    r.keys(
        document,
        "",
        {"journey", "entry", "reentry", "priority", "goal", "goals", "steps", *METADATA_KEYS},
    )
    metadata = metadata_from(document, r.bad)
    journey = pb.Journey(journey_id=r.string(document, "", "journey", required=True))
    if (entry := r.mapping(document, "", "entry", required=True)) is not None:
        r.entry(entry, journey.entry)
    if (reentry := r.mapping(document, "", "reentry")) is not None:
        r.keys(reentry, "reentry", {"policy", "cooldown", "back_in_stock"})
        policy = r.string(reentry, "reentry", "policy", required=True)
        if policy and policy not in _POLICIES:
            r.bad.add("reentry.policy", f"must be one of {', '.join(_POLICIES)}")
        journey.reentry.policy = _POLICIES.get(policy, pb.REENTRY_POLICY_UNSPECIFIED)
        r.duration(reentry, "reentry", "cooldown", journey.reentry)
        back = reentry.get("back_in_stock", False)
        if isinstance(back, bool):
            journey.reentry.back_in_stock = back
        else:
            r.bad.add("reentry.back_in_stock", "must be true or false")
    if "priority" in document:
        priority = document["priority"]
        if isinstance(priority, int) and not isinstance(priority, bool):
            journey.priority = priority
        else:
            r.bad.add("priority", "must be an integer")
    r.goals(document, journey)
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps:
        r.bad.add("steps", "must be a non-empty list of steps")
    else:
        for i, raw in enumerate(steps):
            r.step(raw, i, journey.steps.add())
    r.bad.raise_if_any()
    return journey, metadata


class _Reader:
    """Walks the YAML, filling a message and collecting every violation on the way."""

    def __init__(self) -> None:
        self.bad = Violations()

    def keys(self, mapping: dict[str, Any], path: str, allowed: set[str]) -> None:
        for key in mapping:
            if key not in allowed:
                self.bad.add(
                    _join(path, str(key)),
                    f"unknown field; expected one of {', '.join(sorted(allowed))}",
                )

    def mapping(
        self, parent: dict[str, Any], path: str, key: str, *, required: bool = False
    ) -> dict[str, Any] | None:
        value = parent.get(key)
        if value is None:
            if required:
                self.bad.add(_join(path, key), "is required")
            return {} if key in parent else None
        if not isinstance(value, dict):
            self.bad.add(_join(path, key), "must be a mapping")
            return None
        return value

    def string(self, parent: dict[str, Any], path: str, key: str, *, required: bool = False) -> str:
        value = parent.get(key)
        if value is None or value == "":
            if required:
                self.bad.add(_join(path, key), "is required")
            return ""
        if not isinstance(value, str):
            self.bad.add(_join(path, key), "must be a string")
            return ""
        return value

    def duration(self, parent: dict[str, Any], path: str, key: str, message: Any) -> None:
        """Sets `message.<key>` from `4h`-style text when the key is present."""
        value = parent.get(key)
        if value is None:
            return
        parsed = parse_duration(value) if isinstance(value, str) else None
        if parsed is None:
            self.bad.add(_join(path, key), f"{value!r} is not a duration like 30m, 4h or 2d")
            return
        getattr(message, key).FromTimedelta(parsed)

    def entry(self, entry: dict[str, Any], message: pb.JourneyEntry) -> None:
        self.keys(entry, "entry", {"event", "audience", "schedule", "api", "when"})
        triggers = [k for k in ("event", "audience", "schedule", "api") if k in entry]
        if len(triggers) != 1:
            self.bad.add("entry", "needs exactly one of event, audience, schedule, api")
        if "event" in entry:
            message.event = self.string(entry, "entry", "event", required=True)
        if "audience" in entry:
            message.audience = self.string(entry, "entry", "audience", required=True)
        if (schedule := self.mapping(entry, "entry", "schedule")) is not None:
            self.keys(schedule, "entry.schedule", {"cron", "time_zone", "audience"})
            message.schedule.cron = self.string(schedule, "entry.schedule", "cron", required=True)
            message.schedule.time_zone = self.string(schedule, "entry.schedule", "time_zone")
            message.schedule.audience = self.string(schedule, "entry.schedule", "audience")
        if (api := self.mapping(entry, "entry", "api")) is not None:
            self.keys(api, "entry.api", set())
            message.api.SetInParent()
        message.when = self.string(entry, "entry", "when")

    def goals(self, document: dict[str, Any], journey: pb.Journey) -> None:
        if "goal" in document and "goals" in document:
            self.bad.add("goals", "give `goal` (one) or `goals` (a list), not both")
        raw = [document["goal"]] if "goal" in document else document.get("goals") or []
        if not isinstance(raw, list):
            self.bad.add("goals", "must be a list")
            return
        for i, goal in enumerate(raw):
            path = "goal" if "goal" in document else f"goals[{i}]"
            if not isinstance(goal, dict):
                self.bad.add(path, "must be a mapping with an event")
                continue
            self.keys(goal, path, {"event", "when"})
            journey.goals.add(
                event=self.string(goal, path, "event", required=True),
                when=self.string(goal, path, "when"),
            )

    def step(self, raw: Any, index: int, step: pb.Step) -> None:
        if not isinstance(raw, dict):
            self.bad.add(f"steps[{index}]", "must be a mapping with an id")
            return
        step.id = self.string(raw, f"steps[{index}]", "id", required=True)
        path = step_path(step.id, index)
        kinds = [k for k in STEP_KINDS if k in raw]
        if len(kinds) != 1:
            self.bad.add(path, f"needs exactly one of {', '.join(STEP_KINDS)}")
            self.keys(
                raw, path, {"id", *STEP_KINDS, *(k for _, b in STEP_KINDS.values() for k in b)}
            )
            return
        kind = kinds[0]
        inner_keys, beside = STEP_KINDS[kind]
        self.keys(raw, path, {"id", kind, *beside})
        if kind == "branch":
            self.branch(raw, path, step.branch)
            return
        body = self.mapping(raw, path, kind, required=True)
        if body is None:
            return
        where = _join(path, kind)
        self.keys(body, where, set(inner_keys))
        action = getattr(step, kind)
        action.SetInParent()
        if "next" in beside:
            step.next = self.string(raw, path, "next")
        if kind == "wait":
            self.duration(body, where, "duration", action)
            action_text = self.string(body, where, "until_local_time")
            if action_text:
                action.until_local_time = action_text
        elif kind == "wait_for_event":
            action.event = self.string(body, where, "event", required=True)
            self.duration(body, where, "timeout", action)
            action.when = self.string(body, where, "when")
            action.on_event = self.string(raw, path, "on_event")
            action.on_timeout = self.string(raw, path, "on_timeout")
        elif kind == "split":
            self.split(body, where, action)
        elif kind == "decide":
            action.placement = self.string(body, where, "placement", required=True)
            self.duration(body, where, "timeout", action)
            paths = self.mapping(raw, path, "paths") or {}
            for name, target in paths.items():
                if isinstance(target, str):
                    action.paths[str(name)] = target
                else:
                    self.bad.add(f"{path}.paths.{name}", "must be a step id")
            action.fallback = self.string(raw, path, "fallback")
        elif kind == "send":
            action.channel = self.string(body, where, "channel", required=True)
            action.template = self.string(body, where, "template", required=True)
            action.alternative = self.string(raw, path, "alternative")
            stock = self.mapping(body, where, "stock")
            if stock is not None:
                at = _join(where, "stock")
                self.keys(stock, at, {"product", "store"})
                action.stock.product = self.string(stock, at, "product", required=True)
                action.stock.store = self.string(stock, at, "store", required=True)
        elif kind == "update_profile":
            traits = self.mapping(body, where, "traits", required=True)
            try:
                action.traits.CopyFrom(_struct(traits or {}))
            except (TypeError, ValueError):
                self.bad.add(
                    f"{where}.traits", "values must be strings, numbers, booleans or lists"
                )
        elif kind == "webhook":
            action.url = self.string(body, where, "url", required=True)

    def branch(self, raw: dict[str, Any], path: str, branch: pb.BranchStep) -> None:
        branch.SetInParent()
        paths = raw.get("branch")
        if not isinstance(paths, list) or not paths:
            self.bad.add(f"{path}.branch", "must be a non-empty list of {when, next}")
        else:
            for i, item in enumerate(paths):
                where = f"{path}.branch[{i}]"
                if not isinstance(item, dict):
                    self.bad.add(where, "must be a mapping with when and next")
                    continue
                self.keys(item, where, {"when", "next"})
                branch.paths.add(
                    when=self.string(item, where, "when", required=True),
                    next=self.string(item, where, "next", required=True),
                )
        branch.otherwise = self.string(raw, path, "otherwise", required=True)

    def split(self, body: dict[str, Any], where: str, split: pb.SplitStep) -> None:
        holdout = body.get("holdout", 0)
        if isinstance(holdout, int | float) and not isinstance(holdout, bool):
            split.holdout = float(holdout)
        else:
            self.bad.add(f"{where}.holdout", "must be a number from 0 to below 1")
        paths = body.get("paths")
        if not isinstance(paths, list) or not paths:
            self.bad.add(f"{where}.paths", "must be a non-empty list of {weight, next}")
            return
        for i, item in enumerate(paths):
            at = f"{where}.paths[{i}]"
            if not isinstance(item, dict):
                self.bad.add(at, "must be a mapping with weight and next")
                continue
            self.keys(item, at, {"weight", "next"})
            weight = item.get("weight")
            if not isinstance(weight, int) or isinstance(weight, bool):
                self.bad.add(f"{at}.weight", "must be an integer percentage")
                weight = 0
            split.paths.add(weight=weight, next=self.string(item, at, "next", required=True))


def step_path(step_id: str, index: int) -> str:
    """`steps[pick]`, or `steps[3]` for a step without an id."""
    return f"steps[{step_id}]" if step_id else f"steps[{index}]"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message

"""What makes a journey runnable: its graph, its values and its CEL, checked at once.

Runs on the `Journey` message (from YAML or protobuf JSON) as the journey kind's validator;
every problem is a violation whose path names the step by id and the field as written in
YAML (`steps[pick].paths.water: unknown step 'in-stock2'`). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf import duration_pb2
from google.protobuf.message import Message

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel import rules
from services.kernel.assets.kinds import ASSET_ID
from services.kernel.errors import FieldViolation, InvalidArgument, Violations
from services.orchestrator.domain.guards import NAMES
from services.orchestrator.domain.journeys.durations import MAX_WAIT, is_local_time
from services.orchestrator.domain.journeys.reading import step_path
from services.orchestrator.domain.journeys.schedule import cron_problem

STEP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
EVENT_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
NO_EVENT = re.compile(r"(?<![.\w])event\b")  # a scheduled entry's filter sees no event
URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
CHANNELS = frozenset({"email", "sms", "push", "webhook"})
WAITS = frozenset({"wait", "wait_for_event"})
VARIABLES = rules.CONDITION  # profile, event, context, decision; facts.* and time.* functions


def validate_journey(asset: str, journey: Message) -> list[FieldViolation]:
    """Every violation of `journey`, its CEL compiled in one go (the journey kind's validator)."""
    assert isinstance(journey, pb.Journey)
    bad = Violations()
    if not ASSET_ID.match(journey.journey_id):
        bad.add("journey", "must be lower-case letters, digits and ._- (at most 100)")
    _entry(journey.entry, bad)
    _reentry(journey.reentry, bad)
    for i, goal in enumerate(journey.goals):
        _event_name(goal.event, f"goals[{i}].event", bad)
    ids = _step_ids(journey, bad)
    for i, step in enumerate(journey.steps):
        _step(step, step_path(step.id, i), ids, bad)
    if not bad.items:  # the graph is only meaningful once every target exists
        _graph(journey, bad)
    for found, declarations in ((expressions, VARIABLES), (_names, NAMES)):
        try:
            rules.compile_rules(dict(found(journey)), declarations, asset=asset)
        except InvalidArgument as e:
            bad.items += e.violations
    return bad.items


def edges(step: pb.Step) -> Iterator[tuple[str, str]]:
    """(field as written, target step id) for every way out of `step`."""
    kind = step.WhichOneof("action")
    if kind == "wait_for_event":
        yield "on_event", step.wait_for_event.on_event
        yield "on_timeout", step.wait_for_event.on_timeout
    elif kind == "branch":
        for i, path in enumerate(step.branch.paths):
            yield f"branch[{i}].next", path.next
        yield "otherwise", step.branch.otherwise
    elif kind == "split":
        for i, split_path in enumerate(step.split.paths):
            yield f"split.paths[{i}].next", split_path.next
    elif kind == "decide":
        for action in sorted(step.decide.paths):
            yield f"paths.{action}", step.decide.paths[action]
        yield "fallback", step.decide.fallback
    elif kind not in (None, "exit"):
        yield "next", step.next
    if kind == "send" and step.send.alternative:
        yield "alternative", step.send.alternative


def _entry(entry: pb.JourneyEntry, bad: Violations) -> None:
    trigger = entry.WhichOneof("trigger")
    if trigger is None:
        bad.add("entry", "needs exactly one of event, audience, schedule, api")
    elif trigger == "event":
        _event_name(entry.event, "entry.event", bad)
    elif trigger == "audience" and not ASSET_ID.match(entry.audience):
        bad.add("entry.audience", "must be an audience id")
    elif trigger == "schedule":
        if problem := cron_problem(entry.schedule.cron):
            bad.add("entry.schedule.cron", problem)
        if entry.schedule.time_zone and not _is_zone(entry.schedule.time_zone):
            bad.add("entry.schedule.time_zone", "must be an IANA time zone, e.g. Europe/Paris")
        if entry.schedule.audience and not ASSET_ID.match(entry.schedule.audience):
            bad.add("entry.schedule.audience", "must be an audience id")
        if NO_EVENT.search(entry.when):
            bad.add("entry.when", "a scheduled entry has no event: test profile and context")


def _reentry(reentry: pb.Reentry, bad: Violations) -> None:
    after = reentry.policy == pb.REENTRY_POLICY_AFTER_COOLDOWN
    if after and not _positive(reentry.cooldown):
        bad.add("reentry.cooldown", "is required for after_cooldown, e.g. 24h")
    elif not after and reentry.HasField("cooldown"):
        bad.add("reentry.cooldown", "applies to policy after_cooldown only")


def _step_ids(journey: pb.Journey, bad: Violations) -> set[str]:
    if not journey.steps:
        bad.add("steps", "must hold at least one step")
    seen: set[str] = set()
    for i, step in enumerate(journey.steps):
        if not STEP_ID.match(step.id):
            bad.add(f"{step_path(step.id, i)}.id", "must be lower-case letters, digits, - and _")
        elif step.id in seen:
            bad.add(f"steps[{i}].id", f"repeats step id '{step.id}'")
        seen.add(step.id)
    return seen


def _step(step: pb.Step, path: str, ids: set[str], bad: Violations) -> None:
    kind = step.WhichOneof("action")
    if kind is None:
        bad.add(path, "needs exactly one action (wait, branch, send, exit, ...)")
        return
    for field, target in edges(step):
        if not target:
            bad.add(f"{path}.{field}", "is required")
        elif target not in ids:
            bad.add(f"{path}.{field}", f"unknown step '{target}'")
    if kind == "exit" and step.next:
        bad.add(f"{path}.next", "an exit step leads nowhere")
    if kind == "wait":
        wait, where = step.wait, f"{path}.wait"
        if wait.WhichOneof("until") is None:
            bad.add(where, "needs duration or until_local_time")
        elif wait.HasField("duration"):
            _wait_duration(wait.duration, f"{where}.duration", bad)
        elif not is_local_time(wait.until_local_time):
            bad.add(f"{where}.until_local_time", f"'{wait.until_local_time}' is not HH:MM")
    elif kind == "wait_for_event":
        _event_name(step.wait_for_event.event, f"{path}.wait_for_event.event", bad)
        if not step.wait_for_event.HasField("timeout"):
            bad.add(f"{path}.wait_for_event.timeout", "is required, e.g. 4h")
        else:
            _wait_duration(step.wait_for_event.timeout, f"{path}.wait_for_event.timeout", bad)
    elif kind == "split":
        _split(step.split, f"{path}.split", bad)
    elif kind == "decide" and not step.decide.placement:
        bad.add(f"{path}.decide.placement", "is required")
    elif kind == "send":
        if step.send.channel not in CHANNELS:
            bad.add(f"{path}.send.channel", f"must be one of {', '.join(sorted(CHANNELS))}")
        if not ASSET_ID.match(step.send.template):
            bad.add(f"{path}.send.template", "must be a template id")
        if step.send.alternative and not step.send.HasField("stock"):
            bad.add(f"{path}.alternative", "applies to a send with a stock check only")
    elif kind == "update_profile" and not step.update_profile.traits.fields:
        bad.add(f"{path}.update_profile.traits", "must set at least one trait")
    elif kind == "webhook" and not URL.match(step.webhook.url):
        bad.add(f"{path}.webhook.url", "must be an http(s) URL")


def _split(split: pb.SplitStep, where: str, bad: Violations) -> None:
    if not 0 <= split.holdout < 1:
        bad.add(f"{where}.holdout", "must be from 0 to below 1, e.g. 0.1")
    if not split.paths:
        bad.add(f"{where}.paths", "must hold at least one path")
        return
    for i, path in enumerate(split.paths):
        if path.weight <= 0:
            bad.add(f"{where}.paths[{i}].weight", "must be a positive percentage")
    total = sum(p.weight for p in split.paths)
    if total != 100:
        bad.add(f"{where}.paths", f"weights sum to {total}; they must sum to 100")


def _graph(journey: pb.Journey, bad: Violations) -> None:
    """Every step reachable from the first; every cycle passes through a wait."""
    steps = {s.id: s for s in journey.steps}
    index = {s.id: i for i, s in enumerate(journey.steps)}
    start = journey.steps[0].id
    reached, todo = {start}, [start]
    while todo:
        for _, target in edges(steps[todo.pop()]):
            if target not in reached:
                reached.add(target)
                todo.append(target)
    for step in journey.steps:
        if step.id not in reached:
            bad.add(step_path(step.id, index[step.id]), f"is unreachable from '{start}'")
    # A cycle of steps that never wait would loop forever within one event's handling.
    instant = {
        s.id: [t for _, t in edges(s)] for s in journey.steps if s.WhichOneof("action") not in WAITS
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in instant:
        if state.get(root):
            continue
        trail, stack = [root], [iter(instant[root])]
        state[root] = 1
        while stack:
            hop = next(stack[-1], None)
            if hop is None:
                state[trail.pop()] = 2
                stack.pop()
            elif hop in instant and state.get(hop) == 1:
                cycle = [*trail[trail.index(hop) :], hop]
                bad.add(
                    step_path(trail[-1], index[trail[-1]]),
                    f"loops back without a wait: {' -> '.join(cycle)}",
                )
            elif hop in instant and not state.get(hop):
                state[hop] = 1
                trail.append(hop)
                stack.append(iter(instant[hop]))


def expressions(journey: pb.Journey) -> Iterator[tuple[str, str]]:
    """(field as written, CEL text) of every condition in the journey."""
    if journey.entry.when:
        yield "entry.when", journey.entry.when
    for i, goal in enumerate(journey.goals):
        if goal.when:
            yield f"goals[{i}].when", goal.when
    for i, step in enumerate(journey.steps):
        path = step_path(step.id, i)
        if step.WhichOneof("action") == "wait_for_event" and step.wait_for_event.when:
            yield f"{path}.wait_for_event.when", step.wait_for_event.when
        if step.WhichOneof("action") == "branch":
            for j, branch in enumerate(step.branch.paths):
                yield f"{path}.branch[{j}].when", branch.when


def _names(journey: pb.Journey) -> Iterator[tuple[str, str]]:
    """CEL that names something (a send's product and store), rather than a condition."""
    for i, step in enumerate(journey.steps):
        if step.WhichOneof("action") == "send" and step.send.HasField("stock"):
            path = f"{step_path(step.id, i)}.send.stock"
            yield f"{path}.product", step.send.stock.product
            yield f"{path}.store", step.send.stock.store


def _wait_duration(value: duration_pb2.Duration, field: str, bad: Violations) -> None:
    if not _positive(value) or value.ToTimedelta() > MAX_WAIT:
        bad.add(field, f"must be more than 0s and at most {MAX_WAIT.days}d")


def _positive(value: duration_pb2.Duration) -> bool:
    return value.seconds > 0 or (value.seconds == 0 and value.nanos > 0)


def _event_name(name: str, field: str, bad: Violations) -> None:
    if not EVENT_NAME.match(name):
        bad.add(field, "must be an event name, e.g. order_placed")


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True

"""Actions and placements as controlled assets: their kinds, checks and live domain form.

An `action` asset's content is an `ActionDefinition`, a `placement` asset's a
`PlacementPolicy`; both are checked whenever a draft is saved (CEL compiled, numbers in
range), and published versions become the domain's `Action` and `Placement`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import yaml
from google.protobuf import json_format
from google.protobuf.message import Message

from layercake.decision.v1 import decisions_pb2 as pb
from services.decision.domain.actions import Action, ContextWeight
from services.decision.domain.arbitration import (
    EPSILON_GREEDY,
    MAX_COLD_START_SHARE,
    THOMPSON_SAMPLING,
    Placement,
)
from services.decision.domain.decisions import MAX_ACTIONS
from services.decision.domain.transforms import FeatureSet, FeatureTransform, TransformKind
from services.kernel import rules
from services.kernel.assets import KINDS, AssetKind, AssetMetadata
from services.kernel.errors import FieldViolation, InvalidArgument, Violations
from services.kernel.protobuf import from_timestamp
from services.kernel.rules.declarations import MAP, Declarations

M = TypeVar("M", bound=Message)
ELIGIBILITY = Declarations((("features", MAP), ("context", MAP)))
"""What an action's rules see: the profile's features by name and the request's context."""

TRANSFORM_KINDS = {
    pb.FEATURE_TRANSFORM_KIND_NUMERIC: TransformKind.NUMERIC,
    pb.FEATURE_TRANSFORM_KIND_ONE_HOT: TransformKind.ONE_HOT,
    pb.FEATURE_TRANSFORM_KIND_BUCKETIZE: TransformKind.BUCKETIZE,
    pb.FEATURE_TRANSFORM_KIND_TEXT: TransformKind.TEXT,
}


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def action_of(content: Message, asset: str = "action", tags: tuple[str, ...] = ()) -> Action:
    """The domain action of a definition; INVALID_ARGUMENT naming each bad field."""
    assert isinstance(content, pb.ActionDefinition)
    c = content
    bad = Violations()
    if not _positive(c.value):
        bad.add("value", "must be a positive number (the value of a positive outcome)")
    if c.max_total < 0 or c.max_per_profile < 0:
        bad.add("max_total", "caps must be 0 (none) or more")
    start = from_timestamp(c.start_time) if c.HasField("start_time") else None
    end = from_timestamp(c.end_time) if c.HasField("end_time") else None
    if start is not None and end is not None and end <= start:
        bad.add("end_time", "must be after start_time")
    for i, w in enumerate(c.context_weights):
        if not _positive(w.weight):
            bad.add(f"context_weights[{i}].weight", "must be a positive number")
    texts = {f"context_weights[{i}].when": w.when for i, w in enumerate(c.context_weights)}
    if c.eligibility:
        texts["eligibility"] = c.eligibility
    try:
        compiled = rules.compile_rules(texts, ELIGIBILITY, asset=asset)
    except InvalidArgument as e:
        bad.items.extend(e.violations)
        compiled = {}
    bad.raise_if_any()
    return Action(
        action_id=c.action_id,
        value=c.value,
        placements=frozenset(c.placements),
        channel=c.channel,
        start_time=start,
        end_time=end,
        eligibility_text=c.eligibility,
        eligibility=compiled.get("eligibility"),
        max_total=c.max_total,
        max_per_profile=c.max_per_profile,
        attributes=dict(c.attributes),
        tags=tags,
        context_weights=tuple(
            ContextWeight(w.when, compiled[f"context_weights[{i}].when"], w.weight)
            for i, w in enumerate(c.context_weights)
        ),
    )


def transform_of(t: pb.FeatureTransform) -> FeatureTransform:
    return FeatureTransform(
        name=t.name,
        source=t.source,
        kind=TRANSFORM_KINDS.get(t.kind, TransformKind.NUMERIC),
        default=t.default_value,
        categories=tuple(t.categories),
        boundaries=tuple(t.boundaries),
        default_text=t.default_text,
    )


EXPLORATION = {
    pb.EXPLORATION_METHOD_UNSPECIFIED: EPSILON_GREEDY,
    pb.EXPLORATION_METHOD_EPSILON_GREEDY: EPSILON_GREEDY,
    pb.EXPLORATION_METHOD_THOMPSON_SAMPLING: THOMPSON_SAMPLING,
}


def placement_of(content: Message) -> Placement:
    """The domain placement of a policy; INVALID_ARGUMENT naming each bad field."""
    assert isinstance(content, pb.PlacementPolicy)
    c = content
    bad = Violations()
    for i, t in enumerate(c.features):
        if t.kind not in TRANSFORM_KINDS:
            bad.add(f"features[{i}].kind", "must be numeric, one_hot, bucketize or text")
    features = FeatureSet(tuple(transform_of(t) for t in c.features))
    bad.items.extend(features.violations())
    if not 0.0 <= c.epsilon < 1.0:
        bad.add("epsilon", "must be in [0, 1)")
    exploration = EXPLORATION.get(c.exploration)
    if exploration is None:
        bad.add("exploration", "must be epsilon-greedy or Thompson sampling")
    elif exploration == THOMPSON_SAMPLING and c.epsilon:
        bad.add("epsilon", "must be 0 with Thompson sampling (it explores by its draws)")
    if not 0.0 <= c.cold_start_share <= MAX_COLD_START_SHARE:
        bad.add("cold_start_share", f"must be in [0, {MAX_COLD_START_SHARE}]")
    if c.cold_start_positives < 0:
        bad.add("cold_start_positives", "must be 0 or more")
    for key, value in sorted(c.levers.items()):
        if not _positive(value):
            bad.add(f"levers.{key[:40]}", "must be a positive number")
    if not 0 <= c.max_actions <= MAX_ACTIONS:
        bad.add("max_actions", f"must be in [0, {MAX_ACTIONS}]")
    bad.raise_if_any()
    return Placement(
        placement_id=c.placement_id,
        model_name=c.model_name,
        features=features,
        epsilon=c.epsilon,
        cold_start_share=c.cold_start_share,
        cold_start_positives=c.cold_start_positives,
        levers=dict(c.levers),
        max_actions=c.max_actions or 1,
        exploration=exploration or EPSILON_GREEDY,
    )


def _check_action(asset: str, content: Message) -> list[FieldViolation]:
    action_of(content, asset)
    return []


def _check_placement(asset: str, content: Message) -> list[FieldViolation]:
    placement_of(content)
    return []


ACTION = KINDS.register(
    AssetKind(
        "action",
        pb.ActionDefinition,
        required_metadata=frozenset({"owner"}),
        validate=_check_action,
    )
)
PLACEMENT = KINDS.register(
    AssetKind(
        "placement",
        pb.PlacementPolicy,
        required_metadata=frozenset({"owner"}),
        validate=_check_placement,
    )
)


@dataclass(frozen=True)
class CatalogFile:
    """A placement and its actions as one YAML file holds them (see `examples/`)."""

    metadata: AssetMetadata
    placement: pb.PlacementPolicy
    actions: tuple[pb.ActionDefinition, ...]


def read_catalog(text: str) -> CatalogFile:
    """A catalog file's placement and actions, each checked; INVALID_ARGUMENT naming the
    field (`actions[1].eligibility`) of anything bad."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InvalidArgument.field("yaml", str(e)[:300]) from None
    if not isinstance(data, dict):
        raise InvalidArgument.field("yaml", "must be a mapping with placement and actions")
    metadata = AssetMetadata(
        owner=str(data.get("owner", "")), description=str(data.get("description", ""))
    )
    placement = _parse(data.get("placement") or {}, pb.PlacementPolicy(), "placement")
    placement_of(placement)
    actions = []
    for i, item in enumerate(data.get("actions") or []):
        action = _parse(item, pb.ActionDefinition(), f"actions[{i}]")
        try:
            action_of(action, f"action {action.action_id}")
        except InvalidArgument as e:
            raise InvalidArgument(
                [FieldViolation(f"actions[{i}].{v.field}", v.description) for v in e.violations]
            ) from None
        actions.append(action)
    return CatalogFile(metadata, placement, tuple(actions))


def _parse(item: object, message: M, path: str) -> M:
    if not isinstance(item, dict):
        raise InvalidArgument.field(path, "must be a mapping")
    try:
        json_format.ParseDict(item, message)
    except (json_format.ParseError, TypeError) as e:
        raise InvalidArgument.field(path, str(e)[:300]) from None
    return message

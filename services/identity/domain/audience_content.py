"""Audiences and computed traits as people write them: the `audience` kind, and YAML.

An audience's content is `layercake.identity.v1.Audience` (its rule compiled as CEL over
`profile` when a draft is saved); both kinds read from YAML with their metadata among the
top-level keys (`services/identity/examples/`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from layercake.identity.v1 import audience_pb2, computed_traits_pb2
from services.identity.domain.audiences import AudienceDefinition
from services.kernel import rules
from services.kernel.assets import KINDS, AssetKind, AssetMetadata
from services.kernel.assets.documents import METADATA_KEYS, load_yaml, metadata_from
from services.kernel.assets.kinds import ASSET_ID
from services.kernel.errors import FieldViolation, InvalidArgument, Violations


def violations(asset: str, content: Message) -> Iterable[FieldViolation]:
    assert isinstance(content, audience_pb2.Audience)
    if not ASSET_ID.match(content.audience_id):
        yield FieldViolation("content.audience_id", "must be lower-case letters, digits, ._-")
    if not content.rule:
        yield FieldViolation("content.rule", "write the rule, e.g. profile.computed.x > 0")
        return
    try:
        rules.compile_rule(content.rule, rules.AUDIENCE, asset=asset, field="content.rule")
    except rules.RuleError as e:
        yield from e.violations


def audience_from_content(content: audience_pb2.Audience, version: int) -> AudienceDefinition:
    """The live definition of a published (so valid) version."""
    rule = rules.compile_rule(
        content.rule, rules.AUDIENCE, asset=f"audience {content.audience_id}", field="rule"
    )
    return AudienceDefinition(content.audience_id, version, rule)


def read_audience(text: str) -> tuple[audience_pb2.Audience, AssetMetadata]:
    """An audience's YAML (`audience`, `rule`, metadata keys) -> its message and metadata."""
    document = load_yaml(text, "audience")
    bad = Violations()
    _known_keys(document, {"audience", "rule"}, bad)
    values = {k: _string(document, k, bad) for k in ("audience", "rule")}
    metadata = metadata_from(document, bad)
    bad.raise_if_any()
    return audience_pb2.Audience(audience_id=values["audience"], rule=values["rule"]), metadata


def read_computed_traits(text: str) -> tuple[computed_traits_pb2.ComputedTraits, AssetMetadata]:
    """The tenant's computed traits in YAML (`traits`: a list, metadata keys)."""
    document = load_yaml(text, "traits")
    bad = Violations()
    _known_keys(document, {"traits"}, bad)
    traits = document.get("traits")
    if not isinstance(traits, list):
        bad.add("traits", "must be a list of computed traits")
        traits = []
    content = computed_traits_pb2.ComputedTraits()
    for n, trait in enumerate(traits):
        if not isinstance(trait, dict):
            bad.add(f"traits[{n}]", "must be a mapping")
            continue
        entry = dict(trait)
        aggregation = entry.pop("aggregation", "")
        try:
            parsed = json_format.ParseDict(entry, computed_traits_pb2.ComputedTrait())
        except json_format.ParseError as e:
            bad.add(f"traits[{n}]", str(e)[:300])
            continue
        value = computed_traits_pb2.Aggregation.Value  # name -> number
        try:
            parsed.aggregation = value(f"AGGREGATION_{str(aggregation).upper()}")
        except ValueError:
            bad.add(
                f"traits[{n}].aggregation", "one of count, sum, min, max, first, last, distinct"
            )
        content.traits.append(parsed)
    metadata = metadata_from(document, bad)
    bad.raise_if_any()
    return content, metadata


def _known_keys(document: dict[str, Any], own: set[str], bad: Violations) -> None:
    allowed = own | set(METADATA_KEYS)
    for key in document:
        if key not in allowed:
            bad.add(str(key), f"unknown field; expected one of {', '.join(sorted(allowed))}")


def _string(document: dict[str, Any], key: str, bad: Violations) -> str:
    value = document.get(key, "")
    if not isinstance(value, str):
        bad.add(key, "must be a string")
        return ""
    return value.strip()


def parse_json(text: str, message: Message) -> Message:
    """Protobuf JSON of a definition; INVALID_ARGUMENT naming `json` when it does not parse."""
    try:
        return json_format.Parse(text, message)
    except json_format.ParseError as e:
        raise InvalidArgument.field("json", str(e)[:300]) from None


AUDIENCE = KINDS.register(
    AssetKind(
        "audience",
        audience_pb2.Audience,
        required_metadata=frozenset({"owner", "description"}),
        validate=violations,
    )
)

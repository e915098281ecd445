"""Identifier rules as a controlled asset: the `identifier_rules` kind and its content.

The content is `layercake.identity.v1.IdentifierRules`; a draft is checked when saved
(unknown types, bad limits, traits naming no type are INVALID_ARGUMENT naming the
field), and the published version becomes the domain's `IdentifierRules`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from google.protobuf.message import Message

from layercake.identity.v1 import identifier_rules_pb2 as pb
from services.identity.domain.rules import DEFAULT_RULES, IdentifierRules, TypeRule, parse_limit
from services.kernel.assets import KINDS, AssetKind
from services.kernel.errors import FieldViolation
from services.kernel.vocabulary import PARTNER_TYPE, is_identifier_type

ASSET_ID = "default"  # one identifier-rules asset per tenant
ANY_PARTNER = "partner:*"


def _type_ok(name: str) -> bool:
    return name == ANY_PARTNER or is_identifier_type(name)


def violations(asset: str, content: Message) -> Iterable[FieldViolation]:
    """Every bad field of a draft, by path (`content.types[1].limit`)."""
    assert isinstance(content, pb.IdentifierRules)
    seen: set[str] = set()
    for n, rule in enumerate(content.types):
        at = f"content.types[{n}]"
        if not _type_ok(rule.type):
            yield FieldViolation(f"{at}.type", f"unknown identifier type {rule.type!r}")
        elif rule.type in seen:
            yield FieldViolation(f"{at}.type", f"{rule.type} has a rule already")
        seen.add(rule.type)
        if rule.priority < 0:
            yield FieldViolation(f"{at}.priority", "must be >= 0")
        try:
            parse_limit(rule.limit)
        except ValueError as e:
            yield FieldViolation(f"{at}.limit", str(e))
    for trait, type_name in sorted(content.identifier_traits.items()):
        if not is_identifier_type(type_name):
            yield FieldViolation(
                f"content.identifier_traits[{trait}]", f"unknown identifier type {type_name!r}"
            )
    if content.max_identifiers < 0:
        yield FieldViolation("content.max_identifiers", "must be >= 0 (0: the default)")
    if content.default_region and not (
        len(content.default_region) == 2 and content.default_region.isupper()
    ):
        yield FieldViolation("content.default_region", "must be an ISO 3166 code such as US")


def rules_from_content(content: pb.IdentifierRules) -> IdentifierRules:
    """The domain rules of a published version; what it leaves unset keeps the default."""
    types = dict(DEFAULT_RULES.types)
    partner = DEFAULT_RULES.partner
    for rule in content.types:
        limit, window = parse_limit(rule.limit)
        default = partner if PARTNER_TYPE.match(rule.type) else types.get(rule.type, partner)
        typed = TypeRule(rule.priority, limit, window, hashed=default.hashed)
        if rule.type == ANY_PARTNER:
            partner = typed
        else:
            types[rule.type] = typed
    return dataclasses.replace(
        DEFAULT_RULES,
        types=types,
        partner=partner,
        blocklist=frozenset(v.strip().lower() for v in content.blocklist)
        or DEFAULT_RULES.blocklist,
        traits=dict(content.identifier_traits) or DEFAULT_RULES.traits,
        max_identifiers=content.max_identifiers or DEFAULT_RULES.max_identifiers,
        default_region=content.default_region or DEFAULT_RULES.default_region,
    )


IDENTIFIER_RULES = KINDS.register(
    AssetKind(
        "identifier_rules",
        pb.IdentifierRules,
        required_metadata=frozenset({"owner"}),
        validate=violations,
    )
)

"""Identifier rules as a controlled asset: the lifecycle contract, checked drafts, and the
published version driving resolution, cached and dropped by the publish event."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf.message import Message

from layercake.identity.v1 import identifier_rules_pb2 as pb
from services.identity.domain.rule_content import IDENTIFIER_RULES
from services.kernel.assets import AssetMetadata
from services.kernel.errors import InvalidArgument
from tests.contracts.asset_harness import ANN, open_assets
from tests.contracts.asset_lifecycle import AssetLifecycleContract

METADATA = AssetMetadata(owner="data-team", team="data")


def rules(n: int) -> pb.IdentifierRules:
    return pb.IdentifierRules(
        types=[
            pb.IdentifierTypeRule(type="user_id", priority=100, limit="1"),
            pb.IdentifierTypeRule(type="device_id", priority=50, limit=f"{n} per week"),
            pb.IdentifierTypeRule(type="partner:*", priority=40, limit="2"),
        ],
        blocklist=["guest"],
        identifier_traits={"email": "email"},
        max_identifiers=100 + n,
        default_region="GB",
    )


class TestIdentifierRulesLifecycle(AssetLifecycleContract):
    kind = IDENTIFIER_RULES

    def content(self, n: int) -> Message:
        return rules(n)

    def metadata(self) -> AssetMetadata:
        return METADATA


def test_a_bad_draft_is_refused_naming_each_field(tmp_path: Path) -> None:
    bad = rules(1)
    bad.types.add(type="shoe_size", priority=1, limit="2")
    bad.types.add(type="user_id", priority=-1, limit="5 per fortnight")
    bad.identifier_traits["nick"] = "nickname"
    with (
        open_assets(
            "memory",
            tmp_path,
            kind=IDENTIFIER_RULES,
            content=lambda n: bad,
            metadata=lambda: METADATA,
        ) as assets,
        pytest.raises(InvalidArgument) as e,
    ):
        assets.edit("default", 1, ANN)
    assert [v.field for v in e.value.violations] == [
        "content.types[3].type",
        "content.types[4].type",
        "content.types[4].priority",
        "content.types[4].limit",
        "content.identifier_traits[nick]",
    ]

"""The lifecycle contract, run for a test asset kind whose content is a `Profile` message
(repeated, map and nested fields, so diffs and hashes see every shape)."""

from __future__ import annotations

from google.protobuf.message import Message

from layercake.common.v1 import common_pb2
from services.kernel.assets import AssetKind, AssetMetadata
from tests.contracts.asset_lifecycle import AssetLifecycleContract

TEST_KIND = AssetKind(
    "test_asset",
    common_pb2.Profile,
    required_metadata=frozenset({"owner", "team", "support_contact"}),
)


def profile(n: int) -> common_pb2.Profile:
    content = common_pb2.Profile(tenant_id="acme", profile_id=f"p-{n}", version=n)
    content.identifiers.add(type="email", value=f"{n}@example.com", hashed=False)
    content.consent["email_marketing"] = n % 2 == 0
    return content


class TestTestAssetLifecycle(AssetLifecycleContract):
    kind = TEST_KIND

    def content(self, n: int) -> Message:
        return profile(n)

    def metadata(self) -> AssetMetadata:
        return AssetMetadata(
            display_name="Test asset",
            owner="ann",
            team="growth",
            support_contact="#growth-oncall",
            tags=("test", "tier:2"),
        )

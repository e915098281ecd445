"""The kernel's asset lifecycle contract, run for the `action` and `placement` kinds."""

from __future__ import annotations

from google.protobuf.message import Message

from layercake.decision.v1 import decisions_pb2 as pb
from services.decision.catalog import ACTION, PLACEMENT
from services.kernel.assets import AssetMetadata
from tests.contracts.asset_lifecycle import AssetLifecycleContract


class TestActionLifecycle(AssetLifecycleContract):
    kind = ACTION

    def content(self, n: int) -> Message:
        return pb.ActionDefinition(
            value=float(n), eligibility=f"context.stock.water > {n}", attributes={"product": "w"}
        )

    def metadata(self) -> AssetMetadata:
        return AssetMetadata(owner="ann", team="growth")


class TestPlacementLifecycle(AssetLifecycleContract):
    kind = PLACEMENT

    def content(self, n: int) -> Message:
        return pb.PlacementPolicy(model_name="drinks", epsilon=n / 100.0, max_actions=n)

    def metadata(self) -> AssetMetadata:
        return AssetMetadata(owner="ann", team="growth")

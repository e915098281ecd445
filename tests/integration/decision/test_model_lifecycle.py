"""The kernel's asset lifecycle contract, run for the `model` kind (a model's deployment)."""

from __future__ import annotations

from google.protobuf.message import Message

from layercake.decision.v1 import models_pb2
from services.decision.mapping import MODEL
from services.kernel.assets import AssetMetadata
from tests.contracts.asset_lifecycle import AssetLifecycleContract


class TestModelLifecycle(AssetLifecycleContract):
    kind = MODEL

    def content(self, n: int) -> Message:
        return models_pb2.ModelDeployment(
            champion_version=f"v{n}",
            challenger_version=f"v{n}-c",
            challenger_share=0.1,
            shadow_versions=[f"v{n}-s"],
            retired_versions=[f"v{n - 1}"] if n > 1 else [],
        )

    def metadata(self) -> AssetMetadata:
        return AssetMetadata(owner="ann", team="data-science", support_contact="#models")

"""Journeys and templates keep the kernel's asset lifecycle contract, on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf.message import Message

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.assets import AssetMetadata
from services.kernel.errors import InvalidArgument
from services.orchestrator.domain.journeys import read_journey
from services.orchestrator.domain.kinds import JOURNEY, TEMPLATE
from services.orchestrator.domain.templates import with_variables
from tests.contracts.asset_harness import ANN, open_assets
from tests.contracts.asset_lifecycle import AssetLifecycleContract

EXAMPLES = Path(__file__).parents[3] / "services/orchestrator/examples"
JOURNEY_YAML = (EXAMPLES / "abandoned-cart.yaml").read_text()


def journey(n: int) -> pb.Journey:
    content, _ = read_journey(JOURNEY_YAML)
    content.priority = n
    return content


def template(n: int) -> pb.Template:
    body = f"Hi {{{{ profile.traits.first_name }}}}, reminder number {n}."
    return with_variables(pb.Template(template_id="cart-reminder", channel="email", body=body))


METADATA = AssetMetadata(
    description="Reminds people of their cart.", owner="growth-team", team="growth"
)


class TestJourneyLifecycle(AssetLifecycleContract):
    kind = JOURNEY

    def content(self, n: int) -> Message:
        return journey(n)

    def metadata(self) -> AssetMetadata:
        return METADATA


class TestTemplateLifecycle(AssetLifecycleContract):
    kind = TEMPLATE

    def content(self, n: int) -> Message:
        return template(n)

    def metadata(self) -> AssetMetadata:
        return METADATA


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_an_invalid_journey_is_refused_and_nothing_is_stored(backend: str, tmp_path: Path) -> None:
    bad = journey(1)
    bad.steps[1].decide.paths["water"] = "in-stock2"
    with open_assets(
        backend, tmp_path, kind=JOURNEY, content=lambda n: bad, metadata=lambda: METADATA
    ) as assets:
        with pytest.raises(InvalidArgument) as e:
            assets.edit("abandoned-cart", 1, ANN)
        assert [(v.field, v.description) for v in e.value.violations] == [
            ("steps[pick].paths.water", "unknown step 'in-stock2'")
        ]
        assert not assets.load("abandoned-cart").exists
        assert assets.record("abandoned-cart") is None


def test_submit_requires_a_journeys_owner_and_description() -> None:
    assert JOURNEY.missing_metadata(AssetMetadata(owner="x")) != []
    assert [v.field for v in JOURNEY.missing_metadata(AssetMetadata())] == [
        "metadata.description",
        "metadata.owner",
    ]
    assert [v.field for v in TEMPLATE.missing_metadata(AssetMetadata())] == ["metadata.owner"]

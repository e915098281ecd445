"""The seed's story end to end, as `make demo` tells it: every service, the channel
adapters, a local SMTP server and nats-server as processes, driven only through the
gateway (gRPC and the Segment HTTP door). Each step of `services.demo.story` is run and
what it saw is asserted here, so this test proves what the demo shows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.demo.story import SeedStory
from services.local.stack import LocalStack, Ports
from tests.e2e.conftest import Platform
from tests.e2e.sinks import arrived_once

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    stack = LocalStack(tmp_path_factory.mktemp("stack"), Ports.free(), channels=True)
    try:
        yield Platform(stack, stack.start())
    finally:
        stack.stop()


@pytest.mark.timeout(600)
async def test_the_seed_story(platform: Platform) -> None:
    async with platform.gateway() as gateway:
        story = SeedStory(gateway, platform.stack.state_dir)
        person = story.person

        published = await story.publishes_the_assets()
        assert len(published.lines) == 8 and all(
            "published" in line or "champion" in line for line in published.lines[1:]
        )

        ad = await story.sees_an_ad()
        assert ad.facts["cookie_profile"]

        app = await story.opens_the_app()
        assert app.facts["apart"] is True  # two strangers so far

        login = await story.logs_in_on_both()
        assert login.facts["identifier_types"] == [
            "anonymous_id",
            "cookie_id",
            "device_id",
            "email",
        ]
        assert login.facts["profile_id"] in (
            ad.facts["cookie_profile"],
            app.facts["device_profile"],
        )
        assert login.facts["traits"]["store_id"] == person.store_id
        assert login.facts["consent"] == {"email_marketing": True}

        intender = await story.is_a_family_car_intender()
        assert "family-car-intenders" in intender.facts["audiences"]
        computed = intender.facts["computed"]
        assert (computed["minivan_ad_views_30d"], computed["march_madness_views_30d"]) == (1, 1)

        decided = await story.gets_a_decision()
        assert decided.facts["model"] == ("drinks", "1", False)  # the real ONNX model
        assert sorted(decided.facts["actions"]) == ["diet_soda", "water"]
        for reasons in decided.facts["reasons"].values():
            assert any(r.startswith("model drinks 1") for r in reasons), reasons

        checkout = await story.reaches_the_checkout()
        counts = checkout.facts["counts"]
        assert counts[("promote", "suppressed:out_of_stock")] == 1
        assert counts[("other", "sent")] == 1
        assert "sold out at your store" in checkout.facts["subject"]

        restocked = await story.sees_stock_return()
        assert restocked.facts["released"] == 1
        assert restocked.facts["counts"][("promote", "sent")] == 1
        assert "is waiting at your store" in restocked.facts["subject"]

        again = await story.sends_the_same_batches_again()
        assert again.facts["mails"] == 2 and again.facts["unchanged"] is True
        assert again.facts["grpc_statuses"] == ["STATUS_DUPLICATE", "STATUS_DUPLICATE"]
        assert (
            again.facts["segment_answer"]["accepted"],
            again.facts["segment_answer"]["duplicate"],
        ) == (0, 3)
        assert again.facts["version_after"] == again.facts["version_before"]
        # nothing was delivered twice, not even a repeat the sinks kept once
        assert len(arrived_once(platform.stack.mail_dir)) >= again.facts["mails"]
        arrived_once(platform.stack.webhook_dir)

        forgotten = await story.is_forgotten()
        assert forgotten.facts["forgotten"] == login.facts["profile_id"]
        assert forgotten.facts["held"] == {}

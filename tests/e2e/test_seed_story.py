"""The seed's story end to end, as `make demo` tells it: every service, the channel
adapters, a local SMTP server and nats-server as processes, driven only through the
gateway (gRPC and the Segment HTTP door). Each step of `services.demo.story` is run and
what it saw is asserted here, so this test proves what the demo shows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.demo.gateway import Crew, Gateway
from services.demo.story import SeedStory
from services.local.stack import LocalStack, Ports
from tests.e2e.conftest import Platform

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
    stack = platform.stack
    door = f"http://127.0.0.1:{stack.ports.http}"
    async with Gateway(stack.addr("gateway"), door, Crew(platform.api_key)) as gateway:
        story = SeedStory(gateway, stack.state_dir)
        person = story.person

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
        assert login.facts["traits"]["store_id"].value.string_value == person.store_id
        assert login.facts["consent"] == {"email_marketing": True}

        again = await story.sends_the_same_batches_again()
        assert again.facts["grpc_statuses"] == ["STATUS_DUPLICATE", "STATUS_DUPLICATE"]
        assert (
            again.facts["segment_answer"]["accepted"],
            again.facts["segment_answer"]["duplicate"],
        ) == (0, 2)
        assert again.facts["version_after"] == again.facts["version_before"]

        forgotten = await story.is_forgotten()
        assert forgotten.facts["forgotten"] == login.facts["profile_id"]
        assert forgotten.facts["held"] == {}

"""A template reading a trait no profile of the tenant has is refused at submit, through
the orchestrator's API, until identity reports a profile with it over NATS (a personal
trait counts by its name; its sealed value never reaches the orchestrator)."""

from __future__ import annotations

import functools
import uuid
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from nats.js import JetStreamContext

from layercake.common.v1 import asset_pb2
from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from services.kernel.messaging.nats_server import NatsServer
from services.orchestrator.bootstrap import build
from tests.conftest import random_id
from tests.contracts.asset_harness import ANN
from tests.integration.harness import publish, running, violations
from tests.integration.orchestrator.journey_support import identity_event
from tests.integration.orchestrator.people import People
from tests.orchestrator_fakes import FakeDecider, FakeDirectory
from tests.polling import eventually
from tests.profile_events import profile_updated

TEMPLATE = """
template: fitting
channel: email
owner: growth-team
subject: "{{ profile.traits.nickname | default('Hello') }}, your size is back"
body: "Size {{ profile.traits.shoe_size }} is in stock again."
"""


async def test_submit_refuses_a_trait_no_profile_has_until_identity_reports_one(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    tenant = random_id("t")
    app = functools.partial(build, directory=FakeDirectory(), decider=FakeDecider())
    async with running("orchestrator", app, nats_server.url, tmp_path) as runtime:
        assert runtime.server is not None
        people = People(f"127.0.0.1:{runtime.server.port}")
        ann = people(replace(ANN, tenant_id=tenant))
        try:
            await ann.ApplyTemplate(pb.ApplyTemplateRequest(yaml=TEMPLATE), timeout=10)

            async def submit() -> pb.TransitionTemplateResponse:
                request = pb.TransitionTemplateRequest(
                    template_id="fitting",
                    action=pb.ASSET_ACTION_SUBMIT,
                    request_id=str(uuid.uuid4()),
                )
                reply: pb.TransitionTemplateResponse = await ann.TransitionTemplate(
                    request, timeout=10
                )
                return reply

            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await submit()
            assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert violations(refused.value) == ["body"]  # the guarded nickname is fine
            assert "profile.traits.shoe_size" in str(refused.value.details())
            got = await ann.GetTemplate(pb.GetTemplateRequest(template_id="fitting"), timeout=10)
            assert got.version.state == asset_pb2.ASSET_STATE_DRAFT  # nothing moved

            mine = profile_updated(tenant, "p-1", 1, traits={"plan": "gold"})
            mine.sealed_traits["shoe_size"].sealed_json_value = b"sealed"
            await publish(js, identity_event(tenant, "profile_updated", mine))
            submitted = await eventually(submit, timeout=30)
        finally:
            for channel in people.channels:
                await channel.close()
    assert submitted.version.state == asset_pb2.ASSET_STATE_SUBMITTED

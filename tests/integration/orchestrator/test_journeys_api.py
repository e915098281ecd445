"""Journeys and templates through the real servicer over gRPC, on SQLite and PostgreSQL:
apply, submit, approval by another person, publish, version 2, diff; bad YAML stores nothing;
a journey given as protobuf JSON is the YAML's journey and runs as it does."""

from __future__ import annotations

import functools
import json
import uuid
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from nats.js import JetStreamContext

from layercake.common.v1 import asset_pb2
from layercake.orchestrator.v1 import journey_pb2
from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from services.kernel.assets.mapping import metadata_message
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.principals import Principal, Role
from services.orchestrator.bootstrap import build
from services.orchestrator.domain.instances.profiles import ProfileView
from services.orchestrator.domain.journeys import read_journey
from tests.conftest import random_id
from tests.contracts.asset_harness import ANN, CAT, OPS, TENANT, person
from tests.integration.harness import publish, running, violations
from tests.integration.orchestrator.journey_support import ingested, stats_of
from tests.integration.orchestrator.people import People
from tests.orchestrator_fakes import FakeDecider, FakeDirectory
from tests.polling import eventually

EXAMPLES = Path(__file__).parents[3] / "services/orchestrator/examples"
JOURNEY = (EXAMPLES / "abandoned-cart.yaml").read_text()
A = pb.AssetAction


def as_json(yaml_text: str) -> tuple[str, asset_pb2.AssetMetadata, journey_pb2.Journey]:
    """A YAML journey as protobuf JSON with its metadata beside it (as Apply takes it)."""
    content, metadata = read_journey(yaml_text)
    return json_format.MessageToJson(content), metadata_message(metadata), content


async def move(
    people: People,
    action: int,
    who: Principal,
    journey: str = "abandoned-cart",
) -> asset_pb2.AssetVersion:
    request = pb.TransitionJourneyRequest(
        journey_id=journey,
        action=action,  # type: ignore[arg-type]
        request_id=str(uuid.uuid4()),
        reason="test",
    )
    return (await people(who).TransitionJourney(request, timeout=10)).version


async def test_a_journey_from_yaml_to_a_published_second_version_and_its_diff(
    people: People,
) -> None:
    apply = pb.ApplyJourneyRequest(yaml=JOURNEY, request_id=str(uuid.uuid4()))
    first = await people(ANN).ApplyJourney(apply, timeout=10)
    assert (first.version.version, first.version.state) == (1, asset_pb2.ASSET_STATE_DRAFT)
    assert first.version.metadata.owner == "growth-team"
    assert first.journey.steps[1].decide.paths["water"] == "in-stock"
    assert await people(ANN).ApplyJourney(apply, timeout=10) == first  # a retry applies once

    await move(people, A.ASSET_ACTION_SUBMIT, ANN)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await move(people, A.ASSET_ACTION_APPROVE, ANN)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "another approver" in (refused.value.details() or "")
    await move(people, A.ASSET_ACTION_APPROVE, CAT)
    live = await move(people, A.ASSET_ACTION_PUBLISH, OPS)
    assert (live.version, live.state) == (1, asset_pb2.ASSET_STATE_PUBLISHED)
    assert len(live.content_hash) == 64

    second = JOURNEY.replace("priority: 10", "priority: 20").replace(
        "cooldown: 24h", "cooldown: 2d"
    )
    draft = await people(ANN).ApplyJourney(
        pb.ApplyJourneyRequest(yaml=second, request_id=str(uuid.uuid4())), timeout=10
    )
    assert draft.version.version == 2
    await move(people, A.ASSET_ACTION_SUBMIT, ANN)
    await move(people, A.ASSET_ACTION_APPROVE, CAT)
    assert (await move(people, A.ASSET_ACTION_PUBLISH, OPS)).version == 2

    old = await people(ANN).GetJourney(
        pb.GetJourneyRequest(journey_id="abandoned-cart", version=1), timeout=10
    )
    assert old.journey.priority == 10 and old.version.content_hash == live.content_hash
    diff = await people(ANN).DiffJourneyVersions(
        pb.DiffJourneyVersionsRequest(journey_id="abandoned-cart", old_version=1, new_version=2),
        timeout=10,
    )
    assert [c.path for c in diff.changes] == ["content.reentry.cooldown", "content.priority"]
    listed = await people(ANN).ListJourneys(pb.ListJourneysRequest(), timeout=10)
    assert [(v.asset_id, v.version, v.state) for v in listed.versions] == [
        ("abandoned-cart", 2, asset_pb2.ASSET_STATE_PUBLISHED)
    ]


async def test_bad_yaml_is_invalid_argument_naming_step_and_field_and_stores_nothing(
    people: People,
) -> None:
    bad = JOURNEY.replace("water: in-stock,", "water: in-stock2,").replace(
        "when: event.properties.total > 20.0", "when: event.properties.total >"
    )
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await people(ANN).ApplyJourney(pb.ApplyJourneyRequest(yaml=bad), timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(violations(e.value)) == ["entry.when", "steps[pick].paths.water"]
    assert "unknown step 'in-stock2'" in (e.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await people(ANN).GetJourney(pb.GetJourneyRequest(journey_id="abandoned-cart"), timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert not (await people(ANN).ListJourneys(pb.ListJourneysRequest(), timeout=10)).versions
    with pytest.raises(grpc.aio.AioRpcError) as unparsable:
        await people(ANN).ApplyJourney(pb.ApplyJourneyRequest(yaml="journey: ["), timeout=10)
    assert violations(unparsable.value) == ["yaml"]


async def test_a_journey_from_json_is_the_journey_its_yaml_gives(people: People) -> None:
    text, metadata, content = as_json(JOURNEY)
    apply = pb.ApplyJourneyRequest(json=text, metadata=metadata, request_id=str(uuid.uuid4()))
    applied = await people(ANN).ApplyJourney(apply, timeout=10)
    assert applied.journey == content
    assert (applied.version.version, applied.version.metadata.owner) == (1, "growth-team")
    await move(people, A.ASSET_ACTION_SUBMIT, ANN)
    await move(people, A.ASSET_ACTION_APPROVE, CAT)
    live = await move(people, A.ASSET_ACTION_PUBLISH, OPS)
    assert live.state == asset_pb2.ASSET_STATE_PUBLISHED
    got = await people(ANN).GetJourney(
        pb.GetJourneyRequest(journey_id="abandoned-cart"), timeout=10
    )
    assert got.journey == content


async def test_a_bad_json_journey_names_the_step_and_field_and_stores_nothing(
    people: People,
) -> None:
    text, metadata, _ = as_json(JOURNEY)
    document = json.loads(text)
    pick = next(s for s in document["steps"] if s["id"] == "pick")
    pick["decide"]["paths"]["water"] = "in-stock2"
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await people(ANN).ApplyJourney(
            pb.ApplyJourneyRequest(json=json.dumps(document), metadata=metadata), timeout=10
        )
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(e.value) == ["steps[pick].paths.water"]
    assert "unknown step 'in-stock2'" in (e.value.details() or "")
    document["steps"][0]["colour"] = "red"  # no such field
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await people(ANN).ApplyJourney(
            pb.ApplyJourneyRequest(json=json.dumps(document), metadata=metadata), timeout=10
        )
    assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(unknown.value) == ["json"] and "colour" in (unknown.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await people(ANN).GetJourney(pb.GetJourneyRequest(journey_id="abandoned-cart"), timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert not (await people(ANN).ListJourneys(pb.ListJourneysRequest(), timeout=10)).versions


WELCOME = """
journey: welcome
description: Entered on sign-up, then a day's wait.
owner: growth-team
entry: {event: signed_up}
steps:
  - id: later
    wait: {duration: 1d}
    next: done
  - id: done
    exit: {}
"""


async def test_a_journey_applied_as_json_runs_over_real_nats(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    tenant = random_id("t")
    ann, cat, ops = (
        person(n, r, tenant=tenant)
        for n, r in (("ann", Role.EDITOR), ("cat", Role.APPROVER), ("ops", Role.OPERATOR))
    )
    directory = FakeDirectory()
    directory.add(
        ProfileView(tenant, "p-ann", {"email": "ann@example.com"}), "email:ann@example.com"
    )
    app = functools.partial(build, directory=directory, decider=FakeDecider())
    async with running("orchestrator", app, nats_server.url, tmp_path) as runtime:
        assert runtime.server is not None
        people = People(f"127.0.0.1:{runtime.server.port}")
        try:
            text, metadata, _ = as_json(WELCOME)
            await people(ann).ApplyJourney(
                pb.ApplyJourneyRequest(json=text, metadata=metadata), timeout=10
            )
            for action, who in (
                (A.ASSET_ACTION_SUBMIT, ann),
                (A.ASSET_ACTION_APPROVE, cat),
                (A.ASSET_ACTION_PUBLISH, ops),
            ):
                await move(people, action, who, "welcome")
            await publish(js, ingested(tenant, "signed_up", "ann@example.com"))
            stub = people(ann)

            async def waiting() -> dict[tuple[str, str], int]:
                counts = await stats_of(stub, tenant, "welcome")
                assert counts.get(("later", "waiting")) == 1, counts
                return counts

            counts = await eventually(waiting, timeout=30)
        finally:
            for channel in people.channels:
                await channel.close()
    assert counts[("", "entered")] == 1


async def test_a_template_from_json_gets_its_variables_and_unknown_ones_are_refused(
    people: People,
) -> None:
    body = "Hi {{ profile.traits.first_name }}, {{ decision.product }} is waiting."
    json = f'{{"templateId": "cart-reminder", "channel": "email", "body": "{body}"}}'
    applied = await people(ANN).ApplyTemplate(
        pb.ApplyTemplateRequest(
            json=json, metadata=asset_pb2.AssetMetadata(owner="growth-team"), tenant_id=TENANT
        ),
        timeout=10,
    )
    assert list(applied.template.variables) == ["decision.product", "profile.traits.first_name"]
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await people(ANN).ApplyTemplate(
            pb.ApplyTemplateRequest(json=json.replace("decision.product", "coupon")), timeout=10
        )
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(e.value) == ["body"]
    got = await people(ANN).GetTemplate(
        pb.GetTemplateRequest(template_id="cart-reminder"), timeout=10
    )
    assert got.version.version == 1 and "decision.product" in got.template.body


async def test_calls_need_a_principal_and_its_tenant(people: People) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await people(None).ListJourneys(pb.ListJourneysRequest(), timeout=10)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await people(ANN).ListJourneys(pb.ListJourneysRequest(tenant_id="globex"), timeout=10)
    assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_templates_are_listed_a_page_at_a_time_by_id(people: People) -> None:
    for name in ("c-mail", "a-mail", "b-mail"):
        json = f'{{"templateId": "{name}", "channel": "email", "body": "Hi"}}'
        await people(ANN).ApplyTemplate(
            pb.ApplyTemplateRequest(json=json, metadata=asset_pb2.AssetMetadata(owner="growth")),
            timeout=10,
        )
    first = await people(ANN).ListTemplates(pb.ListTemplatesRequest(page_size=2), timeout=10)
    rest = await people(ANN).ListTemplates(
        pb.ListTemplatesRequest(page_size=2, page_token=first.next_page_token), timeout=10
    )
    assert [v.asset_id for v in first.versions] == ["a-mail", "b-mail"]
    assert [v.asset_id for v in rest.versions] == ["c-mail"] and not rest.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await people(ANN).ListTemplates(pb.ListTemplatesRequest(page_token="%%%"), timeout=10)
    assert violations(bad.value) == ["page_token"]

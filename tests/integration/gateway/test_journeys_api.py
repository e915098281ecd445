"""JourneysService through the real gateway and the real orchestrator (and identity, for an
API entry): the lifecycle with four-eyes held through the gateway, templates from JSON,
runs entered, counted and migrated, and every refusal as a clear status."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from layercake.gateway.v1 import asset_pb2 as apb
from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import ingest_pb2
from layercake.gateway.v1 import journeys_service_pb2 as pb
from tests.conftest import random_id
from tests.integration.conftest import Services
from tests.integration.gateway.team import Team, request_id, team
from tests.integration.harness import violations
from tests.polling import eventually

WELCOME = """
journey: welcome
description: Waits an hour, then leaves.
owner: growth-team
entry: {api: {}}
reentry: {policy: always}
steps:
  - id: settle
    wait: {duration: 1h}
    next: done
  - id: done
    exit: {}
"""
WELCOME_2 = WELCOME.replace("id: settle", "id: settle-2").replace("1h", "2h")


def reason_of(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else []:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def publish(t: Team, yaml_text: str, journey: str = "welcome") -> apb.AssetVersion:
    """Ann writes and submits, Cat approves, Ops publishes: four eyes, through the gateway."""
    j = t.journeys
    await j.ApplyJourney(
        pb.ApplyJourneyRequest(yaml=yaml_text, request_id=request_id()),
        metadata=t.auth("ann"),
        timeout=10,
    )
    await j.SubmitJourney(
        pb.SubmitJourneyRequest(journey_id=journey, request_id=request_id()),
        metadata=t.auth("ann"),
        timeout=10,
    )
    await j.ApproveJourney(
        pb.ApproveJourneyRequest(journey_id=journey, request_id=request_id()),
        metadata=t.auth("cat"),
        timeout=10,
    )
    reply = await j.PublishJourney(
        pb.PublishJourneyRequest(journey_id=journey, request_id=request_id()),
        metadata=t.auth("ops"),
        timeout=10,
    )
    return reply.version


async def test_a_journey_from_yaml_to_rollback_with_four_eyes_through_the_gateway(
    services: Services,
) -> None:
    async with team(services) as t:
        j = t.journeys
        apply = pb.ApplyJourneyRequest(yaml=WELCOME, reason="first cut", request_id=request_id())
        first = await j.ApplyJourney(apply, metadata=t.auth("admin"), timeout=10)
        assert (first.version.kind, first.version.asset_id) == ("journey", "welcome")
        assert (first.version.version, first.version.state) == (1, "draft")
        assert first.version.authors == ["person:admin"]
        assert first.version.metadata.owner == "growth-team"
        assert first.definition["steps"][0]["wait"]["duration"] == "3600s"
        assert await j.ApplyJourney(apply, metadata=t.auth("admin"), timeout=10) == first

        submit = pb.SubmitJourneyRequest(journey_id="welcome", request_id=request_id())
        await j.SubmitJourney(submit, metadata=t.auth("admin"), timeout=10)
        approve = pb.ApproveJourneyRequest(journey_id="welcome", request_id=request_id())
        # the admin holds every scope, but wrote this version: someone else approves it
        own = await refused(j.ApproveJourney(approve, metadata=t.auth("admin"), timeout=10))
        assert own.code() == grpc.StatusCode.PERMISSION_DENIED
        assert reason_of(own) == "FOUR_EYES_REQUIRED"
        # a system principal (a partner's backend) never approves, whatever its scopes
        await t.admin.GrantRole(
            gpb.GrantRoleRequest(principal_id="crm", role="approver", request_id=request_id()),
            metadata=t.auth("admin"),
            timeout=10,
        )
        crm = await t.admin.IssueApiKey(
            gpb.IssueApiKeyRequest(principal_id="crm", request_id=request_id()),
            metadata=t.auth("admin"),
            timeout=10,
        )
        machine = (("authorization", f"Bearer {crm.key}"),)
        system = await refused(j.ApproveJourney(approve, metadata=machine, timeout=10))
        assert reason_of(system) == "SYSTEM_PRINCIPAL_CANNOT_APPROVE"
        approved = await j.ApproveJourney(approve, metadata=t.auth("cat"), timeout=10)
        assert approved.version.state == "approved"
        live = await j.PublishJourney(
            pb.PublishJourneyRequest(journey_id="welcome", request_id=request_id()),
            metadata=t.auth("ops"),
            timeout=10,
        )
        assert (live.version.state, len(live.version.content_hash)) == ("published", 64)

        second = await publish(t, WELCOME_2)
        assert (second.version, second.state) == (2, "published")
        diff = await j.DiffJourneyVersions(
            pb.DiffJourneyVersionsRequest(journey_id="welcome", old_version=1, new_version=2),
            metadata=t.auth("vic"),
            timeout=10,
        )
        changed = {
            c.path: (c.kind, c.old_value.string_value, c.new_value.string_value)
            for c in diff.changes
        }
        assert changed["content.steps[0].id"] == ("changed", "settle", "settle-2")
        assert changed["content.steps[0].wait.duration"] == ("changed", "3600s", "7200s")

        paused = await j.PauseJourney(
            pb.PauseJourneyRequest(journey_id="welcome", request_id=request_id()),
            metadata=t.auth("ops"),
            timeout=10,
        )
        assert (paused.version.version, paused.version.state) == (2, "paused")
        resumed = await j.ResumeJourney(
            pb.ResumeJourneyRequest(journey_id="welcome", request_id=request_id()),
            metadata=t.auth("ops"),
            timeout=10,
        )
        assert resumed.version.state == "published"
        back = await j.RollbackJourney(
            pb.RollbackJourneyRequest(journey_id="welcome", to_version=1, request_id=request_id()),
            metadata=t.auth("ops"),
            timeout=10,
        )
        assert (back.version.version, back.version.source_version) == (3, 1)
        assert back.version.content_hash == live.version.content_hash

        got = await j.GetJourney(
            pb.GetJourneyRequest(journey_id="welcome"), metadata=t.auth("vic"), timeout=10
        )
        assert got.version.version == 3 and got.definition["steps"][0]["id"] == "settle"
        old = await j.GetJourney(
            pb.GetJourneyRequest(journey_id="welcome", version=2),
            metadata=t.auth("vic"),
            timeout=10,
        )
        assert (old.version.state, old.definition["steps"][0]["id"]) == ("archived", "settle-2")


async def test_templates_from_json_and_lists_in_pages(services: Services) -> None:
    async with team(services) as t:
        j = t.journeys
        for name in ("b-mail", "a-mail", "c-mail"):
            template = {
                "template_id": name,
                "channel": "email",
                "subject": "Hello {{ profile.traits.first_name | default('there') }}",
                "body": "Hi there.",
            }
            reply = await j.ApplyTemplate(
                pb.ApplyTemplateRequest(
                    json=json.dumps(template),
                    metadata=apb.AssetMetadata(owner="growth-team", tags=["welcome"]),
                    request_id=request_id(),
                ),
                metadata=t.auth("ann"),
                timeout=10,
            )
            assert reply.version.kind == "template" and reply.definition["channel"] == "email"
            assert list(reply.version.metadata.tags) == ["welcome"]
        await j.SubmitTemplate(
            pb.SubmitTemplateRequest(template_id="a-mail", request_id=request_id()),
            metadata=t.auth("ann"),
            timeout=10,
        )
        pages: list[list[tuple[str, str]]] = []
        token = ""
        while True:
            page = await j.ListTemplates(
                pb.ListTemplatesRequest(page_size=2, page_token=token),
                metadata=t.auth("vic"),
                timeout=10,
            )
            pages.append([(v.asset_id, v.state) for v in page.versions])
            token = page.next_page_token
            if not token:
                break
        assert pages == [[("a-mail", "submitted"), ("b-mail", "draft")], [("c-mail", "draft")]]
        got = await j.GetTemplate(
            pb.GetTemplateRequest(template_id="b-mail"), metadata=t.auth("vic"), timeout=10
        )
        assert (
            got.definition["subject"] == "Hello {{ profile.traits.first_name | default('there') }}"
        )


async def test_a_profile_entered_by_api_is_counted_and_its_run_migrated(
    services: Services,
) -> None:
    async with team(services) as t:
        j = t.journeys
        await publish(t, WELCOME)
        event = ingest_pb2.IngestEvent(message_id=random_id("m-"), type="identify")
        json_format.ParseDict(
            {"timestamp": "2026-03-01T12:00:00Z", "identifiers": {"email": "ann@example.com"}},
            event,
        )
        ingested = await t.admin.Ingest(
            gpb.IngestRequest(events=[event]), metadata=t.auth("crm"), timeout=10
        )
        assert ingested.results[0].status == gpb.IngestResult.STATUS_ACCEPTED
        enter = pb.EnterJourneyRequest(
            journey_id="welcome", profile_ref="email:ann@example.com", request_id=request_id()
        )

        async def entered() -> pb.EnterJourneyResponse:  # once identity has the profile
            return await j.EnterJourney(enter, metadata=t.auth("crm"), timeout=10)

        first = await eventually(entered, timeout=30)
        assert (first.entered, first.journey_version) == (True, 1) and first.profile_id
        again = await j.EnterJourney(enter, metadata=t.auth("crm"), timeout=10)
        assert again == first  # the same request_id: entered once

        async def counts() -> dict[tuple[int, str, str], int]:
            reply = await j.GetJourneyStats(
                pb.GetJourneyStatsRequest(journey_id="welcome"), metadata=t.auth("vic"), timeout=10
            )
            return {(c.journey_version, c.step_id, c.metric): c.count for c in reply.counts}

        async def waiting() -> bool:
            return (await counts()).get((1, "settle", "waiting")) == 1

        await eventually(waiting)
        await publish(t, WELCOME_2)
        migrate = pb.MigrateJourneyRunsRequest(
            journey_id="welcome",
            from_version=1,
            to_version=2,
            step_map={"settle": "settle-2"},
            dry_run=True,
            request_id=request_id(),
        )
        dry = await j.MigrateJourneyRuns(migrate, metadata=t.auth("ops"), timeout=10)
        assert dry.dry_run and [(m.from_step_id, m.to_step_id, m.count) for m in dry.moves] == [
            ("settle", "settle-2", 1)
        ]
        assert (await counts())[(1, "settle", "waiting")] == 1  # a dry run moves nothing
        migrate.dry_run, migrate.request_id = False, request_id()
        done = await j.MigrateJourneyRuns(migrate, metadata=t.auth("ops"), timeout=10)
        assert not done.dry_run and list(done.moves) == list(dry.moves)
        after = await counts()
        assert after[(2, "settle-2", "waiting")] == 1 and (1, "settle", "waiting") not in after


async def test_refusals_are_clear_statuses(services: Services) -> None:
    async with team(services) as t, team(services) as other:
        j = t.journeys
        await publish(other, WELCOME)
        get = pb.GetJourneyRequest(journey_id="welcome")
        nobody = await refused(j.GetJourney(get, timeout=10))
        assert nobody.code() == grpc.StatusCode.UNAUTHENTICATED
        # another tenant's journey is not found, never shown
        elsewhere = await refused(j.GetJourney(get, metadata=t.auth("vic"), timeout=10))
        assert elsewhere.code() == grpc.StatusCode.NOT_FOUND
        # each action needs its own scope: a viewer writes nothing, an editor publishes nothing
        apply = pb.ApplyJourneyRequest(yaml=WELCOME, request_id=request_id())
        viewer = await refused(j.ApplyJourney(apply, metadata=t.auth("vic"), timeout=10))
        assert viewer.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "assets:write" in (viewer.details() or "")
        publish_it = pb.PublishJourneyRequest(journey_id="welcome", request_id=request_id())
        editor = await refused(j.PublishJourney(publish_it, metadata=t.auth("ann"), timeout=10))
        assert editor.code() == grpc.StatusCode.PERMISSION_DENIED
        # malformed requests name the field at fault
        unnamed = await refused(
            j.SubmitJourney(pb.SubmitJourneyRequest(), metadata=t.auth("ann"), timeout=10)
        )
        assert violations(unnamed) == ["journey_id"]
        rollback = pb.RollbackJourneyRequest(journey_id="welcome", request_id=request_id())
        nowhere = await refused(j.RollbackJourney(rollback, metadata=t.auth("ops"), timeout=10))
        assert violations(nowhere) == ["to_version"]
        empty = await refused(
            j.ApplyJourney(pb.ApplyJourneyRequest(), metadata=t.auth("ann"), timeout=10)
        )
        assert violations(empty) == ["yaml"]
        broken = WELCOME.replace("next: done", "next: nowhere")
        bad = await refused(
            j.ApplyJourney(
                pb.ApplyJourneyRequest(yaml=broken, request_id=request_id()),
                metadata=t.auth("ann"),
                timeout=10,
            )
        )
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations(bad) == ["steps[settle].next"]
        listed = await j.ListJourneys(pb.ListJourneysRequest(), metadata=t.auth("vic"), timeout=10)
        assert list(listed.versions) == []  # nothing invalid was stored
        token = await refused(
            j.ListJourneys(
                pb.ListJourneysRequest(page_token="%%%"), metadata=t.auth("vic"), timeout=10
            )
        )
        assert violations(token) == ["page_token"]
        # a lifecycle step out of order is the orchestrator's refusal, passed on as it is
        early = await refused(
            j.ApproveJourney(
                pb.ApproveJourneyRequest(journey_id="welcome", request_id=request_id()),
                metadata=other.auth("cat"),
                timeout=10,
            )
        )
        assert early.code() == grpc.StatusCode.FAILED_PRECONDITION, early.details()

"""A partner's path through all four services, as real processes over gRPC."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from grpc_status import rpc_status

from layercake.decision.v1 import decision_service_pb2 as dpb
from layercake.decision.v1 import decision_service_pb2_grpc as dgrpc
from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import gateway_service_pb2_grpc as ggrpc
from layercake.gateway.v1 import ingest_pb2
from layercake.gateway.v1 import profiles_service_pb2 as ppb
from layercake.gateway.v1 import profiles_service_pb2_grpc as pgrpc
from layercake.identity.v1 import identity_service_pb2 as ipb
from layercake.identity.v1 import identity_service_pb2_grpc as igrpc
from layercake.orchestrator.v1 import orchestrator_service_pb2 as opb
from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as ogrpc
from services.local.stack import DEMO_TENANT
from tests.conftest import random_id
from tests.e2e.conftest import Platform
from tests.polling import eventually

pytestmark = pytest.mark.e2e


def event(cookie: str, **extra: object) -> ingest_pb2.IngestEvent:
    body = {
        "message_id": random_id("m-"),
        "type": "track",
        "event": "page_viewed",
        "timestamp": "2026-03-01T12:00:00Z",
        "identifiers": {"cookie_id": cookie, "email": f"{cookie}@Example.com"},
        "traits": {"first_name": "Ann", "store_id": "s-12", "visits": 3},
        "properties": {"page": "March Madness Deals"},
        "context": {"channel": "mobile_app", "timezone": "America/Chicago"},
        "consent": {"email_marketing": True},
    } | extra
    return json_format.ParseDict(body, ingest_pb2.IngestEvent())


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    from google.rpc import error_details_pb2

    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    fields: list[str] = []
    for detail in status.details if status else []:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields += [v.field for v in bad.field_violations]
    return fields


async def test_ingest_reaches_every_service_and_profile_is_visible(
    platform: Platform, gateway: grpc.aio.Channel
) -> None:
    stub = ggrpc.GatewayServiceStub(gateway)
    profiles = pgrpc.ProfilesServiceStub(gateway)
    cookie = random_id("ck-")
    reply = await stub.Ingest(
        gpb.IngestRequest(events=[event(cookie)]), metadata=platform.auth, timeout=10
    )
    assert [r.status for r in reply.results] == [gpb.IngestResult.STATUS_ACCEPTED]

    async def profile_visible() -> ppb.GetProfileResponse:
        return await profiles.GetProfile(
            ppb.GetProfileRequest(profile_ref=f"email:{cookie.upper()}@example.com"),
            metadata=platform.auth,
            timeout=5,
        )

    found = await eventually(profile_visible)
    assert found.profile.traits["store_id"].value.string_value == "s-12"
    assert found.profile.consent["email_marketing"].granted is True
    profile_id = found.profile.profile_id

    async with platform.internal_channel("orchestrator") as ch:
        orch = ogrpc.OrchestratorServiceStub(ch)

        async def contact_state() -> opb.GetContactStateResponse:
            r = await orch.GetContactState(
                opb.GetContactStateRequest(tenant_id=DEMO_TENANT, profile_id=profile_id),
                timeout=5,
            )
            assert r.contact_state.profile_version == found.profile.version
            return r

        state = await eventually(contact_state)
        assert state.contact_state.consent["email_marketing"] is True

    async with platform.internal_channel("decision") as ch:
        decision = dgrpc.DecisionServiceStub(ch)

        async def features() -> dpb.GetFeaturesResponse:
            r = await decision.GetFeatures(
                dpb.GetFeaturesRequest(tenant_id=DEMO_TENANT, profile_id=profile_id), timeout=5
            )
            assert r.features.profile_version == found.profile.version
            return r

        vector = await eventually(features)
        assert vector.features.values


async def test_same_message_id_twice_is_one_effect(
    platform: Platform, gateway: grpc.aio.Channel
) -> None:
    stub = ggrpc.GatewayServiceStub(gateway)
    profiles = pgrpc.ProfilesServiceStub(gateway)
    cookie = random_id("ck-")
    first = event(cookie)
    await stub.Ingest(gpb.IngestRequest(events=[first]), metadata=platform.auth, timeout=10)
    again = await stub.Ingest(gpb.IngestRequest(events=[first]), metadata=platform.auth, timeout=10)
    assert again.results[0].status == gpb.IngestResult.STATUS_DUPLICATE

    async def visible() -> ppb.GetProfileResponse:
        return await profiles.GetProfile(
            ppb.GetProfileRequest(profile_ref=f"cookie_id:{cookie}"),
            metadata=platform.auth,
            timeout=5,
        )

    profile = (await eventually(visible)).profile
    assert profile.version == 3  # created, consent, received (its identifiers and traits)


async def test_bad_requests_name_the_field(platform: Platform, gateway: grpc.aio.Channel) -> None:
    stub = ggrpc.GatewayServiceStub(gateway)
    profiles = pgrpc.ProfilesServiceStub(gateway)
    bad = event(random_id("ck-"), message_id="")
    reply = await stub.Ingest(gpb.IngestRequest(events=[bad]), metadata=platform.auth, timeout=10)
    (result,) = reply.results
    assert result.status == gpb.IngestResult.STATUS_REJECTED
    assert [v.field for v in result.violations] == ["events[0].message_id"]
    with pytest.raises(grpc.aio.AioRpcError) as ingest_error:
        await stub.Ingest(gpb.IngestRequest(), metadata=platform.auth, timeout=10)
    assert ingest_error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "events" in violations(ingest_error.value)

    with pytest.raises(grpc.aio.AioRpcError) as get_error:
        await profiles.GetProfile(ppb.GetProfileRequest(), metadata=platform.auth, timeout=5)
    assert get_error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "profile_ref" in violations(get_error.value)

    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await profiles.GetProfile(ppb.GetProfileRequest(profile_ref="cookie_id:x"), timeout=5)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED

    async with platform.internal_channel("orchestrator") as ch:
        with pytest.raises(grpc.aio.AioRpcError) as orch_error:
            await ogrpc.OrchestratorServiceStub(ch).GetContactState(
                opb.GetContactStateRequest(tenant_id=DEMO_TENANT), timeout=5
            )
    assert orch_error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "profile_id" in violations(orch_error.value)

    async with platform.internal_channel("decision") as ch:
        with pytest.raises(grpc.aio.AioRpcError) as decision_error:
            await dgrpc.DecisionServiceStub(ch).GetFeatures(
                dpb.GetFeaturesRequest(tenant_id="Not A Tenant", profile_id="p"), timeout=5
            )
    assert decision_error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tenant_id" in violations(decision_error.value)


async def test_an_internal_service_refuses_a_call_the_gateway_did_not_sign(
    platform: Platform,
) -> None:
    for service, ask in (
        (
            "orchestrator",
            lambda ch: ogrpc.OrchestratorServiceStub(ch).GetContactState(
                opb.GetContactStateRequest(tenant_id=DEMO_TENANT, profile_id="p-1"), timeout=5
            ),
        ),
        (
            "decision",
            lambda ch: dgrpc.DecisionServiceStub(ch).GetFeatures(
                dpb.GetFeaturesRequest(tenant_id=DEMO_TENANT, profile_id="p-1"), timeout=5
            ),
        ),
        (
            "identity",
            lambda ch: igrpc.IdentityServiceStub(ch).GetProfile(
                ipb.GetProfileRequest(tenant_id=DEMO_TENANT, profile_ref="cookie_id:x"), timeout=5
            ),
        ),
    ):
        async with grpc.aio.insecure_channel(platform.stack.addr(service)) as ch:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await ask(ch)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, service
        async with platform.internal_channel(service, tenant="someone-else") as ch:
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await ask(ch)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED, service


def test_cli_ingests_a_file_and_reads_the_profile(platform: Platform, tmp_path: Path) -> None:
    cookie = random_id("ck-")
    lines = [
        {
            "message_id": random_id("m-"),
            "type": "identify",
            "timestamp": "2026-03-01T12:00:00Z",
            "identifiers": {"cookie_id": cookie},
            "traits": {"plan": "gold", "n": i},
        }
        for i in range(5)
    ]
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    env = os.environ | {
        "LAYERCAKE_GATEWAY": platform.stack.addr("gateway"),
        "LAYERCAKE_API_KEY": platform.api_key,
    }
    cli = [str(Path(sys.executable).parent / "layercake")]  # the installed console script
    ingest = subprocess.run(
        [*cli, "ingest", str(events_file)], env=env, capture_output=True, text=True, timeout=60
    )
    assert ingest.returncode == 0, ingest.stderr + ingest.stdout

    deadline = time.monotonic() + 30
    while True:
        got = subprocess.run(
            [*cli, "profile", "get", f"cookie_id:{cookie}", "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if got.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert got.returncode == 0, got.stderr + got.stdout
    profile = json.loads(got.stdout)
    assert "plan" in json.dumps(profile)


async def test_trace_context_crosses_grpc_and_nats(
    platform: Platform, gateway: grpc.aio.Channel
) -> None:
    """A partner's traceparent reaches the INGEST message and identity's ProfileUpdated."""
    from services.kernel.messaging.batch import open_envelopes
    from services.kernel.messaging.connection import connect

    trace_id = random_id("").ljust(32, "0")[:32]
    traceparent = f"00-{trace_id}-{'1' * 16}-01"
    cookie = random_id("ck-")
    stub = ggrpc.GatewayServiceStub(gateway)
    profiles = pgrpc.ProfilesServiceStub(gateway)
    await stub.Ingest(
        gpb.IngestRequest(events=[event(cookie)]),
        metadata=(*platform.auth, ("traceparent", traceparent)),
        timeout=10,
    )
    found = await eventually(
        lambda: profiles.GetProfile(
            ppb.GetProfileRequest(profile_ref=f"cookie_id:{cookie}"),
            metadata=platform.auth,
            timeout=5,
        )
    )
    nc = await connect(f"nats://127.0.0.1:{platform.stack.ports.nats}", "e2e")
    try:
        js = nc.jetstream()
        ingest = await js.get_last_msg("INGEST", f"layercake.{DEMO_TENANT}.ingest")
        # the batch message's own headers name no one call: each event carries its own
        (ours,) = open_envelopes(ingest.subject or "", ingest.headers, ingest.data or b"")
        assert ours.traceparent.split("-")[1] == trace_id

        async def our_update_relayed() -> dict[str, str] | None:
            # the relay may still be publishing earlier tests' updates: wait for ours
            last = await js.get_last_msg(
                "IDENTITY", f"layercake.{DEMO_TENANT}.identity.profile_updated"
            )
            ours = last.headers and last.headers["ce-subject"] == found.profile.profile_id
            return last.headers if ours else None

        update = await eventually(our_update_relayed)
    finally:
        await nc.close()
    assert update["traceparent"].split("-")[1] == trace_id


async def test_each_service_serves_prometheus_metrics(
    platform: Platform, gateway: grpc.aio.Channel
) -> None:
    stub = ggrpc.GatewayServiceStub(gateway)
    await stub.Ingest(
        gpb.IngestRequest(events=[event(random_id("ck-"))]), metadata=platform.auth, timeout=10
    )

    def scrape(service: str) -> str:
        port = platform.stack.ports.metrics[service]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            return str(reply.read().decode())

    gateway_metrics = await asyncio.to_thread(scrape, "gateway")
    assert 'method="/layercake.gateway.v1.GatewayService/Ingest"' in gateway_metrics

    async def identity_applied() -> bool:
        text = await asyncio.to_thread(scrape, "identity")
        return 'layercake_consumer_applied_total{consumer="identity-ingest"}' in text

    await eventually(identity_applied)


async def test_a_20_kb_consent_purpose_is_rejected_with_its_path_clipped(
    platform: Platform, gateway: grpc.aio.Channel
) -> None:
    huge = "p" * 20_000
    bad = event(random_id("ck-"), consent={huge: True})
    stub = ggrpc.GatewayServiceStub(gateway)
    reply = await stub.Ingest(gpb.IngestRequest(events=[bad]), metadata=platform.auth, timeout=10)
    (result,) = reply.results
    assert result.status == gpb.IngestResult.STATUS_REJECTED
    (violation,) = result.violations
    assert violation.field.startswith("events[0].consent.ppp")
    assert violation.field.endswith("bytes cut]") and reply.ByteSize() < 1000
    log = (platform.stack.log_dir / "gateway.log").read_text().splitlines()
    assert max(len(line) for line in log) < 10_000

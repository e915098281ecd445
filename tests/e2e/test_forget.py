"""Forgetting a person through the real pipeline (the gateway's Ingest and ForgetProfile,
JetStream, identity, orchestrator, decision as processes): afterwards no byte of their
email, phone or name is left in any database file (with its WAL), the key store, the
JetStream store or a service log; a lookup and a replay bring nothing back, and a later
event carrying their email is suppressed."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import uuid

import grpc
import pytest
from google.protobuf import json_format

from layercake.decision.v1 import decision_service_pb2 as dpb
from layercake.decision.v1 import decision_service_pb2_grpc as dgrpc
from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import gateway_service_pb2_grpc as ggrpc
from layercake.gateway.v1 import ingest_pb2
from layercake.gateway.v1 import profiles_service_pb2 as ppb
from layercake.gateway.v1 import profiles_service_pb2_grpc as pgrpc
from layercake.orchestrator.v1 import orchestrator_service_pb2 as opb
from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as ogrpc
from services.demo.scan import files_holding
from services.local.stack import DEMO_TENANT
from tests.conftest import random_id
from tests.e2e.conftest import Platform
from tests.polling import eventually

pytestmark = pytest.mark.e2e


def person_event(email: str, phone: str, name: str, cookie: str) -> ingest_pb2.IngestEvent:
    body = {
        "message_id": random_id("m-"),
        "type": "identify",
        "timestamp": "2026-03-01T12:00:00Z",
        "identifiers": {"cookie_id": cookie, "email": email, "phone": phone},
        "traits": {"first_name": name, "email": email, "phone": phone, "plan": "gold"},
        "consent": {"email_marketing": True},
    }
    return json_format.ParseDict(body, ingest_pb2.IngestEvent())


async def not_found(call: object) -> bool:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as e:
        return e.code() == grpc.StatusCode.NOT_FOUND
    return False


async def test_a_forgotten_person_leaves_no_trace_and_does_not_come_back(
    platform: Platform, gateway: grpc.aio.Channel
) -> None:
    stack, stub = platform.stack, ggrpc.GatewayServiceStub(gateway)
    profiles = pgrpc.ProfilesServiceStub(gateway)
    tag = uuid.uuid4().hex[:10]
    email, phone, name = f"zq{tag}@example.com", "+14155552671", f"Zelphinea{tag}"
    reply = await stub.Ingest(
        gpb.IngestRequest(events=[person_event(email, phone, name, random_id("ck-"))]),
        metadata=platform.auth,
        timeout=10,
    )
    assert [r.status for r in reply.results] == [gpb.IngestResult.STATUS_ACCEPTED]

    async def by_email() -> ppb.GetProfileResponse:
        return await profiles.GetProfile(
            ppb.GetProfileRequest(profile_ref=f"email:{email}"), metadata=platform.auth, timeout=5
        )

    profile = (await eventually(by_email, timeout=30)).profile
    assert profile.traits["first_name"].value.string_value == name  # opened on read
    profile_id = profile.profile_id
    secrets = [email.encode(), phone[2:].encode(), name.encode()]
    held = files_holding(stack.state_dir, secrets)
    assert held and all(path.startswith("jetstream") for path in held)  # INGEST, and only it
    async with platform.internal_channel("orchestrator") as ch:
        orch = ogrpc.OrchestratorServiceStub(ch)
        ask_state = opb.GetContactStateRequest(tenant_id=DEMO_TENANT, profile_id=profile_id)
        await eventually(lambda: orch.GetContactState(ask_state, timeout=5))

    forget = ppb.ForgetProfileRequest(profile_ref=f"email:{email}", request_id=str(uuid.uuid4()))
    forgotten = await profiles.ForgetProfile(forget, metadata=platform.auth, timeout=10)
    assert forgotten.profile_id == profile_id
    again = await profiles.ForgetProfile(forget, metadata=platform.auth, timeout=10)
    assert again == forgotten  # a retry gets the first answer

    assert await not_found(by_email())
    async with platform.internal_channel("orchestrator") as ch:
        orch = ogrpc.OrchestratorServiceStub(ch)
        await eventually(lambda: not_found(orch.GetContactState(ask_state, timeout=5)), 30)
    async with platform.internal_channel("decision") as ch:
        ask = dpb.GetFeaturesRequest(tenant_id=DEMO_TENANT, profile_id=profile_id)
        decision = dgrpc.DecisionServiceStub(ch)
        await eventually(lambda: not_found(decision.GetFeatures(ask, timeout=5)), 30)

    # a replay of identity's log brings nothing back
    await asyncio.to_thread(stack.stop_service, "identity")
    replayed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.identity", "replay"],
        env=os.environ | stack.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replayed.returncode == 0, replayed.stderr
    await asyncio.to_thread(stack.start_service, "identity")
    await eventually(lambda: not_found(by_email()), timeout=30)  # once the gateway reconnects

    # the same email later: suppressed, recorded, not retried nor dead-lettered
    later = person_event(email, "", "", random_id("ck-"))
    del later.identifiers.fields["phone"]
    later.traits.Clear()
    await stub.Ingest(gpb.IngestRequest(events=[later]), metadata=platform.auth, timeout=10)
    identity_db = stack.state_dir / "identity.db"

    async def suppressed() -> bool:
        with sqlite3.connect(identity_db) as db:
            rows = db.execute(
                "SELECT reason FROM suppressed_messages WHERE message_id = ?", (later.message_id,)
            ).fetchall()
            pending = db.execute("SELECT count(*) FROM stream_erasures").fetchone()[0]
        return rows == [("forgotten",)] and pending == 0

    await eventually(suppressed, timeout=30)
    assert await not_found(by_email())

    assert files_holding(stack.state_dir, secrets) == {}

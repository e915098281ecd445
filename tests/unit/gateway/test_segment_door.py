"""The Segment HTTP door on fakes: what it answers (200, 400 naming the field, 401, 429 with
Retry-After), gzip bodies, and that it ingests through the gateway's one ingest handler."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.gateway import handlers, ingest_mapping
from services.gateway.api.auth import Gatekeeper, KeyDirectory
from services.gateway.config import GatewayConfig
from services.gateway.domain.commands import EnsureTenant
from services.gateway.domain.ratelimit import RateLimiter
from services.gateway.domain.tracking_plan import CompiledPlan, parse_plan
from services.gateway.ingest_commits import IngestCommits
from services.gateway.rate_limits import SharedRateLimiter
from services.gateway.segment.server import SegmentDoor, api_key
from services.kernel.clock import FixedClock
from services.kernel.principals import Actor
from tests.unit.gateway.fakes import CountingLayer, FakeIngestLog, FakePlans, FakeProfiles

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
OPERATOR = Actor.system("test")


@dataclass
class Door:
    client: TestClient  # type: ignore[type-arg]
    log: FakeIngestLog
    profiles: FakeProfiles
    key: str
    ready: list[bool]
    plans: FakePlans

    def auth(self, key: str | None = None) -> dict[str, str]:
        basic = base64.b64encode(f"{key or self.key}:".encode()).decode()
        return {"Authorization": f"Basic {basic}"}


def message(message_id: str, **extra: object) -> dict[str, object]:
    return {
        "type": "track",
        "messageId": message_id,
        "userId": "u-1",
        "event": "Order Completed",
        "timestamp": "2026-03-01T11:59:00Z",
    } | extra


@pytest.fixture
async def door() -> AsyncIterator[Door]:
    layer = CountingLayer(FixedClock(NOW))
    issued, _ = await layer.run(handlers.ensure_tenant, EnsureTenant("acme"), OPERATOR)
    config = GatewayConfig(rate_limit=10, rate_burst=10, max_batch=10, max_request_bytes=4096)
    ticks = iter(range(10**6))  # the limiter's clock: a second per call, for full buckets
    gate = Gatekeeper(
        KeyDirectory(layer),
        SharedRateLimiter(layer, config.rate_limit, config.rate_burst, clock=lambda: 0.0),
        RateLimiter(100, 100, clock=lambda: float(next(ticks))),
    )
    log, profiles, ready, plans = FakeIngestLog(), FakeProfiles(), [True], FakePlans()
    segment = SegmentDoor(
        gate,
        IngestCommits(log, layer),
        layer,
        plans,
        profiles,
        FixedClock(NOW),
        config,
        5.0,
        lambda: ready[0],
    )
    async with TestClient(TestServer(segment.app())) as client:
        yield Door(client, log, profiles, issued.text, ready, plans)


async def test_a_batch_is_ingested_in_the_keys_tenant_and_answered_200(door: Door) -> None:
    body = {"batch": [message("m-1"), message("m-2", type="identify", event=None)]}
    response = await door.client.post("/v1/batch", json=body, headers=door.auth())
    assert response.status == 200
    assert await response.json() == {
        "success": True,
        "accepted": 2,
        "duplicate": 0,
        "rejected": 0,
    }
    assert [m.event_id for m in door.log.messages] == [
        ingest_mapping.ingest_event_id("acme", "m-1"),
        ingest_mapping.ingest_event_id("acme", "m-2"),
    ]
    again = await door.client.post("/v1/track", json=message("m-1"), headers=door.auth())
    assert (again.status, (await again.json())["duplicate"]) == (200, 1)


async def test_a_gzip_body_is_read(door: Door) -> None:
    body = gzip.compress(json.dumps({"batch": [message("m-1")]}).encode())
    headers = door.auth() | {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    response = await door.client.post("/v1/batch", data=body, headers=headers)
    assert response.status == 200 and len(door.log.messages) == 1


async def test_bad_events_get_400_naming_segments_fields_and_the_good_ones_are_kept(
    door: Door,
) -> None:
    body = {
        "batch": [
            message("m-1"),
            message("m-2", userId=None),
            message("m-3", traits="nope", type="identify", event=None),
            message("m-4", context={"device": {"id": "d"}}, userId="", timestamp="1999-01-01"),
        ]
    }
    response = await door.client.post("/v1/batch", json=body, headers=door.auth())
    answer = await response.json()
    assert response.status == 400 and answer["code"] == "invalid_request"
    assert [e["field"] for e in answer["errors"]] == [
        "batch[1].userId",
        "batch[2].traits",
        "batch[3].timestamp",
    ]
    assert (answer["accepted"], answer["rejected"]) == (1, 3)
    assert len(door.log.messages) == 1


async def test_the_tenants_tracking_plan_judges_the_doors_events_too(door: Door) -> None:
    schema = {"properties": {"total": {"type": "number"}}}
    plan = {"events": {"Order Completed": {"mode": "reject", "schema": schema}}}
    door.plans.plans["acme"] = CompiledPlan(parse_plan(plan), 1)
    bad = message("m-1", properties={"total": "lots"})
    response = await door.client.post("/v1/batch", json={"batch": [bad]}, headers=door.auth())
    answer = await response.json()
    assert response.status == 400
    assert [e["field"] for e in answer["errors"]] == ["batch[0].properties.total"]


async def test_a_single_call_names_its_fields_without_the_batch(door: Door) -> None:
    response = await door.client.post(
        "/v1/identify", json={"userId": "u", "traits": {"email": "x" * 10}}, headers=door.auth()
    )
    answer = await response.json()
    assert response.status == 400
    assert [e["field"] for e in answer["errors"]] == ["messageId"]
    assert answer["message"] == "messageId: is required"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic !!!"}, {"Authorization": "Basic " + "bGNfeHh4Og=="}],
)
async def test_a_missing_or_unknown_key_is_401(door: Door, headers: dict[str, str]) -> None:
    response = await door.client.post("/v1/track", json=message("m-1"), headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert (await response.json())["success"] is False
    assert door.log.messages == []


async def test_over_the_keys_rate_is_429_with_retry_after(door: Door) -> None:
    body = {"batch": [message(f"m-{i}") for i in range(10)]}  # the whole burst
    first = await door.client.post("/v1/batch", json=body, headers=door.auth())
    assert first.status == 200
    second = await door.client.post("/v1/track", json=message("m-x"), headers=door.auth())
    assert second.status == 429
    assert int(second.headers["Retry-After"]) >= 1
    assert (await second.json())["code"] == "rate_limited"


async def test_a_body_over_the_request_bound_or_not_json_is_400(door: Door) -> None:
    huge = gzip.compress(json.dumps({"batch": [message("m", pad="x" * 10_000)]}).encode())
    headers = door.auth() | {"Content-Encoding": "gzip"}
    response = await door.client.post("/v1/batch", data=huge, headers=headers)
    answer = await response.json()
    assert response.status == 400 and answer["errors"][0]["field"] == "batch"
    assert "LAYERCAKE_GATEWAY_MAX_REQUEST_BYTES" in answer["message"]
    not_json = await door.client.post("/v1/batch", data=b"{", headers=door.auth())
    assert not_json.status == 400
    assert door.log.messages == []


async def test_profiles_are_looked_up_in_the_keys_tenant(door: Door) -> None:
    response = await door.client.get("/v1/profiles/email:ann@example.com", headers=door.auth())
    assert response.status == 200
    assert (await response.json())["profile"]["profile_id"] == "p-1"
    assert [(r.tenant_id, r.profile_ref) for r in door.profiles.requests] == [
        ("acme", "email:ann@example.com")
    ]
    assert (await door.client.get("/v1/profiles/x")).status == 401


async def test_health_and_readiness(door: Door) -> None:
    assert (await door.client.get("/healthz")).status == 200
    assert (await door.client.get("/readyz")).status == 200
    door.ready[0] = False
    assert (await door.client.get("/readyz")).status == 503
    assert (await door.client.get("/healthz")).status == 200


def test_the_key_is_the_basic_user_name_or_a_bearer_token() -> None:
    assert api_key("Basic " + base64.b64encode(b"lc_k_s:").decode()) == "lc_k_s"
    assert api_key("Basic " + base64.b64encode(b"lc_k_s:ignored").decode()) == "lc_k_s"
    assert api_key("Bearer lc_k_s") == "lc_k_s"
    assert api_key("Digest x") == api_key("Basic %%") == api_key("") == ""

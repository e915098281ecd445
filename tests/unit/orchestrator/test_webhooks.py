"""The webhook step's HTTP call: a signed JSON body, and its outcome as the run records it."""

from __future__ import annotations

import json

import httpx

from services.orchestrator.adapters.webhooks import IDEMPOTENCY_KEY, HttpWebhooks
from services.orchestrator.domain.instances.steps import RunTimer
from services.orchestrator.webhook_signing import SIGNATURE, TIMESTAMP, verify

RUN = RunTimer("welcome", "p-1", 2, "hook", io="webhook", url="https://crm.example.com/hook")
NOW = 1_790_000_000.0


async def test_the_body_is_the_runs_context_signed_with_the_secret() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    hooks = HttpWebhooks(b"s" * 32, 1.0, httpx.MockTransport(answer), clock=lambda: NOW)
    assert await hooks.call("acme", RUN, "k-1") == "202"
    await hooks.close()
    [request] = seen
    body = request.content
    assert json.loads(body) == {
        "idempotency_key": "k-1",
        "tenant_id": "acme",
        "journey_id": "welcome",
        "profile_id": "p-1",
        "run": 2,
        "step_id": "hook",
    }
    timestamp, signed = request.headers[TIMESTAMP], request.headers[SIGNATURE]
    assert timestamp == str(int(NOW))
    assert verify(b"s" * 32, body, timestamp, signed, now=NOW)
    assert not verify(b"t" * 32, body, timestamp, signed, now=NOW)
    assert not verify(b"s" * 32, body, timestamp, signed, now=NOW + 3600)  # a replay
    assert request.headers[IDEMPOTENCY_KEY] == "k-1"


async def test_a_failing_receiver_is_an_outcome_not_an_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    for transport, outcome in ((refuse, "error"), (slow, "timeout")):
        hooks = HttpWebhooks(b"s" * 32, 1.0, httpx.MockTransport(transport))
        assert await hooks.call("acme", RUN, "k-1") == outcome
        await hooks.close()

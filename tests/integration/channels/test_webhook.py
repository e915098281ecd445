"""The webhook adapter against a real local HTTP server: signed body, retry, one delivery."""

from __future__ import annotations

import time

from google.protobuf import json_format
from nats.js import JetStreamContext

from layercake.channel.v1 import channel_pb2
from services.kernel.store.database import Database
from services.orchestrator.channels.webhook import WebhookSender
from services.orchestrator.webhook_signing import SIGNATURE, TIMESTAMP, TOLERANCE, verify
from tests.conftest import random_id
from tests.http_receiver import Endpoint
from tests.integration.channels.conftest import command, feedback, send, worker

SECRET = b"a-webhook-secret-of-some-length"


async def test_a_signed_post_retried_after_a_failing_server_arrives_once(
    js: JetStreamContext, adapter_db: Database, endpoint: tuple[Endpoint, str]
) -> None:
    seen, url = endpoint
    seen.refuse = 1
    tenant = random_id("t")
    started = int(time.time())
    w = worker(js, adapter_db, WebhookSender(url, SECRET), "webhook", tenant)
    try:
        await send(js, command(tenant, "webhook"))
        await send(js, command(tenant, "webhook"))  # a repeat
        deadline = time.monotonic() + 15
        while not seen.requests:
            assert time.monotonic() < deadline
            await w.run_once(timeout=0.2)
        while await w.run_once(timeout=0.5):
            pass
    finally:
        await w.close()
    assert seen.refused == 1
    [(headers, body)] = seen.requests
    timestamp, signed = headers[TIMESTAMP], headers[SIGNATURE]
    assert started <= int(timestamp) <= time.time()  # signed when it was sent
    assert verify(SECRET, body, timestamp, signed, now=int(timestamp))
    assert not verify(b"another-secret-entirely", body, timestamp, signed, now=int(timestamp))
    assert not verify(SECRET, body, timestamp, signed, now=int(timestamp) + 2 * TOLERANCE)
    sent = json_format.Parse(body, channel_pb2.SendCommand())
    assert sent.send_id == "send:i-1:remind" and sent.content.body.startswith("Hi Ann")
    reports = await feedback(js, tenant, "webhook")
    # either copy may be the one delivered (the other was refused, then found delivered)
    assert [r.kind for r in reports] == [channel_pb2.FEEDBACK_KIND_DELIVERED]

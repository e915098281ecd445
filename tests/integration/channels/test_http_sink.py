"""`make run`'s HTTP sink, as the webhook adapter's sender reaches it: each webhook kept once
per send id, byte for byte (its signature still verifies), and every arrival counted, so a
repeated POST is seen though it leaves no second file."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import json_format

from layercake.channel.v1 import channel_pb2
from services.kernel.messaging.nats_server import free_port
from services.orchestrator.channels.http_sink import read_request, server
from services.orchestrator.channels.sender import Result
from services.orchestrator.channels.tally import read_counts
from services.orchestrator.channels.webhook import SEND_ID, WebhookSender
from services.orchestrator.webhook_signing import SIGNATURE, TIMESTAMP, verify

SECRET = b"a-webhook-secret-of-some-length"


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    port = free_port()
    http = server(tmp_path / "webhooks", port)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield tmp_path / "webhooks", f"http://127.0.0.1:{port}/hooks"
    finally:
        http.shutdown()
        http.server_close()


async def test_a_webhook_posted_twice_is_kept_once_and_counted_twice(
    sink: tuple[Path, str],
) -> None:
    directory, url = sink
    sender = WebhookSender(url, SECRET)
    sent = channel_pb2.SendCommand(send_id="send:i-1:remind", channel="webhook")
    sent.content.body = "Hi Ann"
    other = channel_pb2.SendCommand(send_id="send:i-2:remind", channel="webhook")
    try:
        attempts = [await sender.deliver(c) for c in (sent, sent, other)]
    finally:
        await sender.close()
    assert [a.result for a in attempts] == [Result.DELIVERED] * 3
    assert read_counts(directory) == {"send_i-1_remind": 2, "send_i-2_remind": 1}
    assert sorted(p.name for p in directory.glob("*.http")) == [
        "send_i-1_remind.http",
        "send_i-2_remind.http",
    ]
    headers, body = read_request(directory / "send_i-1_remind.http")
    assert headers[SEND_ID] == "send:i-1:remind"
    assert verify(SECRET, body, headers[TIMESTAMP], headers[SIGNATURE], time.time())
    assert json_format.Parse(body, channel_pb2.SendCommand()) == sent

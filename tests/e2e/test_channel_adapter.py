"""The email adapter as `make run` starts it: its own process beside an SMTP sink process,
a real nats-server; a command published twice becomes one mail file, SIGTERM stops it.

Deterministic under load: the adapter waits up to 60 s for the server's answer (its batch
kept alive meanwhile), and were it ever to send again after the sink had accepted the
mail, the repeat carries the same Message-ID, which the sink keeps once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from layercake.channel.v1 import channel_pb2
from services.kernel.ids import stable_id
from services.kernel.messaging import subjects
from services.kernel.messaging.connection import connect
from services.kernel.messaging.envelope import MSG_ID, headers_for
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.store.records import OutboxMessage
from services.local.stack import LocalStack, Ports
from tests.polling import eventually


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    stack = LocalStack(tmp_path, Ports.free(), channels=True)
    stack.log_dir.mkdir(parents=True)
    stack.nats = NatsServer(
        tmp_path / "js", port=stack.ports.nats, monitor_port=stack.ports.nats_monitor
    ).start()
    env = {k: v for k, v in stack.env().items() if k != "LAYERCAKE_SMTP_URL"}
    env["LAYERCAKE_SMTP_URL"] = f"smtp://127.0.0.1:{stack.ports.smtp}"
    try:
        for process in ("smtp-sink", "channel-email"):
            log = (stack.log_dir / f"{process}.log").open("ab")
            stack.processes[process] = subprocess.Popen(
                [sys.executable, *stack.command(process)], env=env, stdout=log, stderr=log
            )
        yield stack
    finally:
        for process in stack.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in stack.processes.values():
            process.wait(20)
        stack.nats.stop()


async def test_a_repeated_command_is_one_mail_and_the_adapter_stops_cleanly(
    stack: LocalStack,
) -> None:
    command = channel_pb2.SendCommand(
        tenant_id="demo",
        send_id="send:e2e-1:remind",
        channel="email",
        profile_id="p-1",
        address="ann@example.com",
        content=channel_pb2.Content(subject="Your cart", body="Hi Ann"),
    )
    message = OutboxMessage(
        subject=subjects.channel_send("demo", "email"),
        type=channel_pb2.SendCommand.DESCRIPTOR.full_name,
        payload=command.SerializeToString(),
        tenant_id="demo",
        event_id=stable_id("demo", command.send_id),
    )
    assert stack.nats is not None
    nc = await connect(stack.nats.url, "e2e")
    js = nc.jetstream()

    async def subscribed() -> bool:  # the adapter makes the streams and its consumer at start
        try:
            await js.consumer_info("CHANNEL", "channel-email")
        except Exception as e:
            raise AssertionError("the adapter is not subscribed yet") from e
        return True

    await eventually(subscribed, timeout=30)
    for _ in range(2):
        headers = headers_for(message, datetime.now(UTC))
        headers[MSG_ID] = os.urandom(8).hex()  # as after JetStream's duplicate window
        await js.publish(message.subject, message.payload, headers=headers)

    async def settled() -> bool:
        info = await js.consumer_info("CHANNEL", "channel-email")
        pending = info.num_pending + info.num_ack_pending
        return pending == 0 and info.delivered.stream_seq >= 2

    await eventually(settled, timeout=30)
    mail_dir = stack.mail_dir
    await nc.close()
    [mail] = list(mail_dir.glob("*.eml"))
    assert mail.name == "send.e2e-1.remind@layercake.eml"  # the Message-ID: the send id
    assert b"Subject: Your cart" in mail.read_bytes()
    adapter = stack.processes.pop("channel-email")
    adapter.send_signal(signal.SIGTERM)
    assert adapter.wait(20) == 0

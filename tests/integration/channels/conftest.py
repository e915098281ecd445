"""Real servers for the channel adapters: an aiosmtpd SMTP server and a local HTTP server
(tests/http_receiver.py), each able to refuse its first requests (so retries are tested
against real failures)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from nats.js import JetStreamContext

from layercake.channel.v1 import channel_pb2
from services.kernel.ids import stable_id
from services.kernel.messaging import subjects
from services.kernel.messaging.nats_server import free_port
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.records import OutboxMessage
from services.kernel.unsubscribe import UnsubscribeLinks
from services.orchestrator.channels.sender import Sender
from services.orchestrator.channels.worker import ChannelWorker, WorkerSettings
from tests.conftest import random_id
from tests.http_receiver import Endpoint, receiving
from tests.integration.harness import publish
from tests.signing import SECRET

LINKS = UnsubscribeLinks(SECRET.encode(), "https://mail.example.com")  # signs as the stack


@dataclass
class Mailbox:
    """aiosmtpd handler keeping accepted mails; answers 451 to the first `refuse` ones."""

    refuse: int = 0
    mails: list[Message] = field(default_factory=list)
    refused: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refused < self.refuse:
            self.refused += 1
            return "451 Try again later"
        self.mails.append(message_from_bytes(envelope.original_content or b""))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, str]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


@pytest.fixture
def endpoint() -> Iterator[tuple[Endpoint, str]]:
    with receiving() as found:
        yield found


def command(tenant: str, channel: str, n: int = 1) -> channel_pb2.SendCommand:
    return channel_pb2.SendCommand(
        tenant_id=tenant,
        send_id=f"send:i-{n}:remind",
        channel=channel,
        profile_id=f"p-{n}",
        address="ann@example.com" if channel == "email" else "",
        content=channel_pb2.Content(subject="Your cart", body="Hi Ann, water is waiting."),
        consent=channel_pb2.ConsentProof(purpose="email_marketing", granted=True),
    )


async def send(js: JetStreamContext, cmd: channel_pb2.SendCommand) -> None:
    """Publishes as the orchestrator's relay does (event id fixed by the send id), with a
    fresh Nats-Msg-Id, so a repeat reaches the adapter as after the duplicate window."""
    await publish(
        js,
        OutboxMessage(
            subject=subjects.channel_send(cmd.tenant_id, cmd.channel),
            type=channel_pb2.SendCommand.DESCRIPTOR.full_name,
            payload=cmd.SerializeToString(),
            tenant_id=cmd.tenant_id,
            event_id=stable_id(cmd.tenant_id, cmd.send_id),
        ),
    )


@pytest.fixture
async def adapter_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'channel.db'}")
    migrate(db.engine, None)
    yield db
    await db.close()


def worker(
    js: JetStreamContext, db: Database, sender: Sender, channel: str, tenant: str
) -> ChannelWorker:
    settings = WorkerSettings(
        channel, retry_delay=0.05, tenants=tenant, durable=random_id(f"{channel}-")
    )
    return ChannelWorker(settings, sender, js, db)


async def feedback(js: JetStreamContext, tenant: str, channel: str) -> list[channel_pb2.Feedback]:
    """Every feedback message published for the tenant so far."""
    sub = await js.pull_subscribe(subjects.channel_feedback(tenant, channel), stream="FEEDBACK")
    found: list[channel_pb2.Feedback] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(100, timeout=0.5)
            except TimeoutError:
                break
            for m in msgs:
                found.append(channel_pb2.Feedback.FromString(m.data))
                await m.ack()
    finally:
        await sub.unsubscribe()
    return found

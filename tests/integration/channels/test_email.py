"""The email adapter against a real aiosmtpd server and a real nats-server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from layercake.channel.v1 import channel_pb2
from services.kernel.messaging import subjects
from services.kernel.messaging.nats_server import free_port
from services.kernel.store.database import Database
from services.orchestrator.channels.email import EmailSender
from services.orchestrator.channels.sink import MailDirectory
from services.orchestrator.channels.tally import read_counts
from services.orchestrator.channels.worker import ChannelWorker
from tests.conftest import random_id
from tests.integration.channels.conftest import (
    LINKS,
    Mailbox,
    command,
    feedback,
    send,
    worker,
)


async def settle(w: ChannelWorker, done: object, timeout: float = 15.0) -> None:
    """Runs the worker until `done()` holds, or fails at the deadline."""
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not settled in time"
        await w.run_once(timeout=0.2)


async def test_a_command_delivered_twice_sends_one_mail(
    js: JetStreamContext, adapter_db: Database, mailbox: tuple[Mailbox, str]
) -> None:
    box, url = mailbox
    tenant = random_id("t")
    w = worker(js, adapter_db, EmailSender(url, "shop@example.com", LINKS), "email", tenant)
    try:
        await send(js, command(tenant, "email"))
        await settle(w, lambda: len(box.mails) == 1)
        await send(js, command(tenant, "email"))  # the same send id again
        while await w.run_once(timeout=0.5):
            pass
    finally:
        await w.close()
    [mail] = box.mails
    assert (mail["To"], mail["From"], mail["Subject"]) == (
        "ann@example.com",
        "shop@example.com",
        "Your cart",
    )
    assert mail["Message-ID"] == "<send.i-1.remind@layercake>"
    assert "water is waiting" in mail.get_payload()
    reports = await feedback(js, tenant, "email")
    assert {(r.send_id, r.kind) for r in reports} == {
        ("send:i-1:remind", channel_pb2.FEEDBACK_KIND_DELIVERED)
    }
    with pytest.raises(NotFoundError):  # both copies, with her address, erased once settled
        await js.get_last_msg("CHANNEL", subjects.channel_send(tenant, "email"))


async def test_a_server_refusing_at_first_gets_the_mail_on_a_retry(
    js: JetStreamContext, adapter_db: Database, mailbox: tuple[Mailbox, str]
) -> None:
    box, url = mailbox
    box.refuse = 2
    tenant = random_id("t")
    w = worker(js, adapter_db, EmailSender(url, "shop@example.com", LINKS), "email", tenant)
    try:
        await send(js, command(tenant, "email"))
        await settle(w, lambda: len(box.mails) == 1)
    finally:
        await w.close()
    assert box.refused == 2 and len(box.mails) == 1
    [report] = await feedback(js, tenant, "email")
    assert report.kind == channel_pb2.FEEDBACK_KIND_DELIVERED and report.attempts == 3


async def test_a_command_without_an_address_bounces(
    js: JetStreamContext, adapter_db: Database, mailbox: tuple[Mailbox, str]
) -> None:
    box, url = mailbox
    tenant = random_id("t")
    w = worker(js, adapter_db, EmailSender(url, "shop@example.com", LINKS), "email", tenant)
    cmd = command(tenant, "email")
    cmd.address = ""
    try:
        await send(js, cmd)
        reports: list[channel_pb2.Feedback] = []
        deadline = time.monotonic() + 15
        while not reports:
            assert time.monotonic() < deadline
            await w.run_once(timeout=0.2)
            reports = await feedback(js, tenant, "email")
    finally:
        await w.close()
    assert [r.kind for r in reports] == [channel_pb2.FEEDBACK_KIND_BOUNCED] and not box.mails


class AnswersLateOnce(MailDirectory):
    """The local sink, answering its first mail only after the adapter stopped waiting."""

    def __init__(self, directory: Path, late: float) -> None:
        super().__init__(directory)
        self.late = late

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        late, self.late = self.late, 0.0
        await asyncio.sleep(late)
        return answer


async def test_a_mail_accepted_after_the_adapter_gave_up_waiting_is_kept_once(
    js: JetStreamContext, adapter_db: Database, tmp_path: Path
) -> None:
    """The one repeat the adapter cannot rule out: it sends again, with the same
    Message-ID (the send id), and the sink keeps one mail for it."""
    sink = AnswersLateOnce(tmp_path / "mail", late=1.5)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    tenant = random_id("t")
    sender = EmailSender(f"smtp://127.0.0.1:{port}", "shop@example.com", LINKS, timeout=0.5)
    w = worker(js, adapter_db, sender, "email", tenant)
    try:
        await send(js, command(tenant, "email"))
        await settle(w, lambda: sink.tally.repeats == 1)
    finally:
        await w.close()
        controller.stop()
    assert [p.name for p in (tmp_path / "mail").glob("*.eml")] == ["send.i-1.remind@layercake.eml"]
    assert read_counts(tmp_path / "mail") == {"send.i-1.remind@layercake": 2}  # both seen
    [report] = await feedback(js, tenant, "email")
    assert report.kind == channel_pb2.FEEDBACK_KIND_DELIVERED and report.attempts == 2

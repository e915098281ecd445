"""Meters of figure 7: send commands through the email adapter to a real SMTP server, and a
bare aiosmtplib send loop to the same server with as many connections.

The adapter's path per command: fetch from JetStream, the inbox check, SMTP over its
reused connections, the inbox claim (a SQLite transaction), the feedback publish, the
ack. The commands of a round are published (untimed) before it starts; the round ends
when the SMTP server has accepted them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from nats.js import JetStreamContext

from layercake.channel.v1 import channel_pb2
from services.kernel.ids import stable_id
from services.kernel.messaging import subjects
from services.kernel.messaging.envelope import headers_for
from services.kernel.messaging.nats_server import free_port
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.records import OutboxMessage
from services.kernel.unsubscribe import UnsubscribeLinks
from services.orchestrator.channels.email import WIRE, EmailSender, message_of
from services.orchestrator.channels.worker import ChannelWorker, WorkerSettings
from tests.bench.measures import ROUND_DEADLINE, Measure, Tick, _chunked

CONNECTIONS = 4  # the adapter's SMTP connections, and the raw loop's
TENANT = "benchsend"
LINKS = UnsubscribeLinks(b"bench-only-internal-secret-0123456789", "http://127.0.0.1:8088")
BODY = "Hi Ann,\n\nYou left water in your cart. It is still there for you.\n" * 4


class Counter:
    """aiosmtpd handler that counts accepted mails (and keeps none)."""

    def __init__(self) -> None:
        self.accepted = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.accepted += 1
        return "250 OK"


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Counter, str, int]]:
    counter = Counter()
    port = free_port()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield counter, f"smtp://127.0.0.1:{port}", port
    finally:
        controller.stop()


def command(n: int) -> channel_pb2.SendCommand:
    return channel_pb2.SendCommand(
        tenant_id=TENANT,
        send_id=f"send:{uuid.uuid4().hex}:remind",
        channel="email",
        profile_id=f"p-{n}",
        address="ann@example.com",
        content=channel_pb2.Content(subject="Your cart is waiting", body=BODY),
    )


class AdapterSends:
    """The email adapter's worker draining the round's commands into the SMTP server."""

    def __init__(
        self, js: JetStreamContext, root: Path, url: str, counter: Counter, tick: Tick, total: int
    ) -> None:
        self.js, self.counter = js, counter
        self.db = Database(f"sqlite:///{root / 'channel-email.db'}")
        migrate(self.db.engine, None)
        settings = WorkerSettings("email", tenants=TENANT, durable="bench_email")
        sender = EmailSender(url, "shop@example.com", LINKS, CONNECTIONS)
        self.worker = ChannelWorker(settings, sender, js, self.db)
        self.tick = _chunked(tick, total)
        self.sent = 0

    async def round(self, n: int) -> Measure:
        pending = []
        for i in range(n):
            cmd = command(i)
            message = OutboxMessage(
                subject=subjects.channel_send(TENANT, "email"),
                type=channel_pb2.SendCommand.DESCRIPTOR.full_name,
                payload=cmd.SerializeToString(),
                tenant_id=TENANT,
                event_id=stable_id(TENANT, cmd.send_id),
            )
            headers = headers_for(message, datetime.now(UTC))
            future = await self.js.publish_async(message.subject, message.payload, headers=headers)
            pending.append(future)
        await asyncio.gather(*pending)
        target = self.counter.accepted + n
        started = time.perf_counter()
        while self.counter.accepted < target:
            if time.perf_counter() - started > ROUND_DEADLINE:
                raise TimeoutError(f"adapter delivered {self.counter.accepted} of {target}")
            await self.worker.run_once(timeout=0.2)
        seconds = time.perf_counter() - started
        self.tick(n)
        return Measure(n, seconds)

    async def close(self) -> None:
        await self.worker.close()
        await self.db.close()


class RawSmtp:
    """CONNECTIONS aiosmtplib sessions sending the same messages, one after another each."""

    def __init__(self, port: int, counter: Counter, tick: Tick, total: int) -> None:
        self.port, self.counter = port, counter
        self.clients: list[aiosmtplib.SMTP] = []
        self.tick = _chunked(tick, total)

    async def round(self, n: int) -> Measure:
        if not self.clients:
            for _ in range(CONNECTIONS):
                client = aiosmtplib.SMTP(hostname="127.0.0.1", port=self.port)
                await client.connect()
                self.clients.append(client)
        mails = [message_of(command(i), "shop@example.com", LINKS) for i in range(n)]
        messages = [(m["To"], m.as_bytes(policy=WIRE)) for m in mails]  # as the adapter sends
        started = time.perf_counter()

        async def loop(client: aiosmtplib.SMTP, share: list[tuple[str, bytes]]) -> None:
            for to, data in share:
                await client.sendmail("shop@example.com", [to], data)

        await asyncio.gather(
            *(loop(c, messages[i::CONNECTIONS]) for i, c in enumerate(self.clients))
        )
        seconds = time.perf_counter() - started
        self.tick(n)
        return Measure(n, seconds)

    async def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.quit()


@contextlib.asynccontextmanager
async def send_meters(
    js: JetStreamContext, root: Path, bar: Callable[[str, int], Tick], total: int
) -> AsyncIterator[tuple[AdapterSends, RawSmtp]]:
    with smtp_server() as (counter, url, port):
        adapter_bar = bar("[7] email adapter -> SMTP", total)
        adapter = AdapterSends(js, root, url, counter, adapter_bar, total)
        raw = RawSmtp(port, counter, bar("[7] raw aiosmtplib send loop", total), total)
        try:
            yield adapter, raw
        finally:
            await adapter.close()
            await raw.close()

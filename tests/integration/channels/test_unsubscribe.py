"""One-click unsubscribe end to end: a mail the real email adapter delivers into aiosmtpd
names a signed link; POSTing it to the real gateway's HTTP door reports the unsubscribe on
NATS, once however often it is clicked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from nats.js import JetStreamContext

from layercake.channel.v1 import channel_pb2
from services.gateway.bootstrap import Gateway
from services.gateway.bootstrap import build as build_gateway
from services.gateway.config import GatewayConfig
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.store.database import Database
from services.kernel.unsubscribe import Unsubscribe, UnsubscribeLinks
from services.orchestrator.channels.email import EmailSender
from tests.conftest import random_id
from tests.integration.channels.conftest import Mailbox, command, feedback, send, worker
from tests.integration.channels.test_email import settle
from tests.integration.harness import running
from tests.signing import SECRET

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
async def door(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[str]:
    """The gateway's HTTP door (`http://host:port`), the gateway running as its process does."""
    wiring = Gateway(GatewayConfig(http_addr="127.0.0.1:0"))
    async with running(
        "gateway", lambda s: build_gateway(s, gateway=wiring), nats_server.url, tmp_path
    ):
        yield f"http://{wiring.http_addr}"


async def test_the_mails_link_unsubscribes_once_through_the_gateway(
    js: JetStreamContext, adapter_db: Database, mailbox: tuple[Mailbox, str], door: str
) -> None:
    box, url = mailbox
    tenant = random_id("t")
    links = UnsubscribeLinks(SECRET.encode(), door)  # as the adapter signs under `make run`
    w = worker(js, adapter_db, EmailSender(url, "shop@example.com", links), "email", tenant)
    try:
        await send(js, command(tenant, "email"))
        await settle(w, lambda: len(box.mails) == 1)
    finally:
        await w.close()
    [mail] = box.mails
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = mail["List-Unsubscribe"]
    assert header.startswith(f"<{door}/v1/unsubscribe/") and header.endswith(">")
    link = header[1:-1]
    async with httpx.AsyncClient(timeout=10) as http:
        page = await http.get(link)  # what a link scanner does: nothing is reported
        assert page.status_code == 200 and 'method="post"' in page.text
        assert {r.kind for r in await feedback(js, tenant, "email")} == {
            channel_pb2.FEEDBACK_KIND_DELIVERED
        }
        answers = [(await http.post(link, data=ONE_CLICK)).status_code for _ in range(2)]
    assert answers == [200, 200]
    reports = await feedback(js, tenant, "email")
    [unsubscribed] = [r for r in reports if r.kind == channel_pb2.FEEDBACK_KIND_UNSUBSCRIBED]
    assert (unsubscribed.tenant_id, unsubscribed.send_id, unsubscribed.profile_id) == (
        tenant,
        "send:i-1:remind",
        "p-1",
    )


async def test_a_forged_or_altered_link_answers_404_and_reports_nothing(
    js: JetStreamContext, door: str
) -> None:
    tenant = random_id("t")
    send_id = "send:i-9:remind"
    ours = UnsubscribeLinks(SECRET.encode(), door)
    forged = UnsubscribeLinks(b"not-this-deployments-secret-0123456789", door)
    genuine = ours.url(_send(tenant, send_id))
    body, _, mac = genuine.rpartition("/")[2].partition(".")
    rival = ours.token(_send(random_id("t"), send_id)).partition(".")[0]
    bad = [
        forged.url(_send(tenant, send_id)),
        f"{door}/v1/unsubscribe/{rival}.{mac}",  # another tenant's send under this signature
        f"{door}/v1/unsubscribe/{body}.{mac[:-2]}",
        f"{door}/v1/unsubscribe/nonsense",
    ]
    async with httpx.AsyncClient(timeout=10) as http:
        for link in bad:
            for answer in (await http.post(link, data=ONE_CLICK), await http.get(link)):
                assert answer.status_code == 404, link
                assert tenant not in answer.text and "signature" not in answer.text
        assert (await http.post(genuine, data={"other": "x"})).status_code == 400
    assert await feedback(js, tenant, "email") == []


def _send(tenant: str, send_id: str) -> Unsubscribe:
    return Unsubscribe(tenant, "email", send_id, "p-9")

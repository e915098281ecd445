"""The seed's story end to end, as `make demo` tells it: every service, the channel
adapters, a local SMTP server and nats-server as processes, driven only through the
gateway (gRPC and the Segment HTTP door). Each step of `services.demo.story` is run and
what it saw is asserted here, so this test proves what the demo shows. On the same stack,
the one-click unsubscribe link a mail carries withdraws consent through identity."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message

import httpx
import pytest

from services.demo.assets import publish_journey, publish_template
from services.demo.story import SeedStory
from services.kernel.messaging.connection import connect
from services.kernel.unsubscribe import Unsubscribe, feedback_message, unsubscribed
from services.local.stack import DEMO_TENANT, LocalStack, Ports
from tests.conftest import random_id
from tests.e2e.conftest import Platform
from tests.e2e.sinks import arrived_once
from tests.e2e.test_walking_skeleton import event
from tests.integration.harness import publish
from tests.polling import eventually

pytestmark = pytest.mark.e2e

NEWSLETTER = """
template: {template_id}
channel: email
owner: growth-team
subject: "The newsletter"
body: "Hi {{{{ profile.traits.first_name | default('there') }}}}, here it is."
"""
MAILER = """
journey: {journey_id}
description: One newsletter each time a person asks for it.
owner: growth-team
entry: {{event: {event_name}}}
reentry: {{policy: always}}
steps:
  - id: mail
    send: {{channel: email, template: {template_id}}}
    next: done
  - id: done
    exit: {{}}
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    stack = LocalStack(tmp_path_factory.mktemp("stack"), Ports.free(), channels=True)
    try:
        yield Platform(stack, stack.start())
    finally:
        stack.stop()


@pytest.mark.timeout(600)
async def test_the_seed_story(platform: Platform) -> None:
    async with platform.gateway() as gateway:
        story = SeedStory(gateway, platform.stack.state_dir)
        person = story.person

        published = await story.publishes_the_assets()
        assert len(published.lines) == 8 and all(
            "published" in line or "champion" in line for line in published.lines[1:]
        )

        ad = await story.sees_an_ad()
        assert ad.facts["cookie_profile"]

        app = await story.opens_the_app()
        assert app.facts["apart"] is True  # two strangers so far

        login = await story.logs_in_on_both()
        assert login.facts["identifier_types"] == [
            "anonymous_id",
            "cookie_id",
            "device_id",
            "email",
        ]
        assert login.facts["profile_id"] in (
            ad.facts["cookie_profile"],
            app.facts["device_profile"],
        )
        assert login.facts["traits"]["store_id"] == person.store_id
        assert login.facts["consent"] == {"email_marketing": True}

        intender = await story.is_a_family_car_intender()
        assert "family-car-intenders" in intender.facts["audiences"]
        computed = intender.facts["computed"]
        assert (computed["minivan_ad_views_30d"], computed["march_madness_views_30d"]) == (1, 1)

        decided = await story.gets_a_decision()
        assert decided.facts["model"] == ("drinks", "1", False)  # the real ONNX model
        assert sorted(decided.facts["actions"]) == ["diet_soda", "water"]
        for reasons in decided.facts["reasons"].values():
            assert any(r.startswith("model drinks 1") for r in reasons), reasons

        checkout = await story.reaches_the_checkout()
        counts = checkout.facts["counts"]
        assert counts[("promote", "suppressed:out_of_stock")] == 1
        assert counts[("other", "sent")] == 1
        assert "sold out at your store" in checkout.facts["subject"]

        restocked = await story.sees_stock_return()
        assert restocked.facts["released"] == 1
        assert restocked.facts["counts"][("promote", "sent")] == 1
        assert "is waiting at your store" in restocked.facts["subject"]

        again = await story.sends_the_same_batches_again()
        assert again.facts["mails"] == 2 and again.facts["unchanged"] is True
        assert again.facts["grpc_statuses"] == ["STATUS_DUPLICATE", "STATUS_DUPLICATE"]
        assert (
            again.facts["segment_answer"]["accepted"],
            again.facts["segment_answer"]["duplicate"],
        ) == (0, 3)
        assert again.facts["version_after"] == again.facts["version_before"]
        # nothing was delivered twice, not even a repeat the sinks kept once
        assert len(arrived_once(platform.stack.mail_dir)) >= again.facts["mails"]
        arrived_once(platform.stack.webhook_dir)

        forgotten = await story.is_forgotten()
        assert forgotten.facts["forgotten"] == login.facts["profile_id"]
        assert forgotten.facts["held"] == {}


def mails_to(stack: LocalStack, address: str) -> list[Message]:
    """The mails the local SMTP server holds for `address`."""
    found = [message_from_bytes(p.read_bytes()) for p in stack.mail_dir.glob("*.eml")]
    return [m for m in found if (m["To"] or "").lower() == address]


@pytest.mark.timeout(300)
async def test_an_unsubscribe_withdraws_consent_through_identity_and_stops_the_next_mail(
    platform: Platform,
) -> None:
    names = {k: random_id(f"{k}-") for k in ("journey_id", "template_id", "event_name")}
    cookie = random_id("unsub-")
    email = f"{cookie}@example.com"  # the event helper's address, lower-cased
    async with platform.gateway() as g:
        await g.hire_crew(random_id("u"))
        await publish_template(g, NEWSLETTER.format(**names))
        await publish_journey(g, MAILER.format(**names))
        traits = {"first_name": "Ann", "email": email}  # the address mails go to
        await g.ingest([event(cookie, event=names["event_name"], traits=traits)])

        async def mailed() -> Message:
            found = mails_to(platform.stack, email)
            assert len(found) == 1, found
            return found[0]

        mail = await eventually(mailed, timeout=120)
        # The Message-ID is the send id, its colons made dots: `<send.<run>.mail@layercake>`.
        send_id = mail["Message-ID"].strip("<>").removesuffix("@layercake").replace(".", ":")
        profile = await g.profile(f"email:{email}")
        assert profile is not None and profile.consent["email_marketing"].granted

        # She clicks the mail's one-click unsubscribe (RFC 8058) twice: the gateway's HTTP door
        door = f"http://127.0.0.1:{platform.stack.ports.http}/v1/unsubscribe/"
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = mail["List-Unsubscribe"].strip("<>")
        assert link.startswith(door), link
        async with httpx.AsyncClient(timeout=30) as http:
            for _ in range(2):
                answer = await http.post(link, data={"List-Unsubscribe": "One-Click"})
                assert answer.status_code == 200, answer.text

        async def withdrawn() -> bool:
            found = await g.profile(profile.profile_id)
            assert found is not None
            decision = found.consent["email_marketing"]
            assert (decision.granted, decision.source) == (False, "email:unsubscribed"), decision
            return True

        await eventually(withdrawn, timeout=60)
        # the clicks alone withdrew it; then the report is redelivered (same event, new NATS id)
        assert platform.stack.nats is not None
        nc = await connect(platform.stack.nats.url, "e2e-unsubscribe")
        try:
            send = Unsubscribe(DEMO_TENANT, "email", send_id, profile.profile_id)
            report = feedback_message(unsubscribed(send, datetime.now(UTC)), "e2e")
            await publish(nc.jetstream(), report)
        finally:
            await nc.close()

        await g.ingest([event(cookie, event=names["event_name"], consent={})])

        async def suppressed() -> dict[tuple[str, str], int]:
            counts = await g.journey_counts(names["journey_id"])
            assert counts.get(("mail", "suppressed:no_consent")) == 1, counts
            return counts

        counts = await eventually(suppressed, timeout=120)
    assert counts[("", "entered")] == 2
    assert counts[("mail", "sent")] == 1
    assert counts[("mail", "unsubscribed")] == 1  # clicked twice, redelivered: counted once
    assert len(mails_to(platform.stack, email)) == 1
    arrived_once(platform.stack.mail_dir)  # nor was the one mail delivered twice

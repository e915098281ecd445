"""A journey using every step type, run as `make run` wires the platform and driven only
through the gateway, as a partner's team would: nats-server, the four services, the
decision service with the drinks example's real ONNX model, the email adapter into the
local SMTP sink (aiosmtpd), the webhook adapter into the local HTTP sink, which the
webhook step calls too.

Four people sign up: one is filtered out at the entry (CEL), one is held out by the split,
one takes the branch to an event wait, which her event ends, then to a wait until a time
of day in her zone (hours away: its due time is read from the run's state, not waited
for), and leaves converted by the goal; Ann walks the rest: a timed wait, the split, the
decision (the path of the drink it picks writes that drink to her profile), an event wait
that times out, the mail (once, even when her sign-up comes again), a send on the webhook
channel (one signed POST per send id), the signed webhook call."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import ingest_pb2
from services.demo.assets import publish_journey, publish_template
from services.demo.gateway import Gateway
from services.demo.person import CHECKOUT_CONTEXT
from services.local.stack import LocalStack, Ports
from services.orchestrator.channels.webhook import SEND_ID
from services.orchestrator.domain.instances.buckets import BUCKETS, bucket_of
from services.orchestrator.webhook_signing import SIGNATURE, TIMESTAMP, TOLERANCE, verify
from tests.conftest import random_id
from tests.e2e.conftest import Platform
from tests.e2e.sinks import arrived_once, webhooks
from tests.e2e.test_walking_skeleton import event
from tests.polling import eventually

pytestmark = pytest.mark.e2e

NIGHT_ZONE = "Asia/Kathmandu"  # UTC+05:45: a zone that is no whole hours from UTC
HOLDOUT = 0.5
TEMPLATE = """
template: drink-welcome
channel: email
owner: growth-team
subject: "{{ profile.traits.first_name | default('Hello') }}, a {{ decision.product }} for you"
body: "Hi {{ profile.traits.first_name | default('there') }}, thanks for signing up."
"""
HOOK_TEMPLATE = """
template: drink-pick
channel: webhook
owner: growth-team
subject: "drink picked"
body: "{{ profile.traits.first_name | default('someone') }} gets a {{ decision.product }}"
"""
JOURNEY = """
journey: {journey_id}
description: Every step type, with one-second waits, for the end-to-end test.
owner: growth-team
entry: {{event: signed_up, when: 'event.properties.plan != "test"'}}
reentry: {{policy: never}}
goal: {{event: account_deleted}}
steps:
  - id: route
    branch:
      - when: event.properties.plan == "night" && profile.traits.store_id == "s-12"
        next: opened
    otherwise: settle
  - id: opened
    wait_for_event: {{event: app_opened, timeout: 1d}}
    on_event: night
    on_timeout: done
  - id: night
    wait: {{until_local_time: "{night_time}"}}
    next: done
  - id: settle
    wait: {{duration: 1s}}
    next: ab
  - id: ab
    split: {{holdout: {holdout}, paths: [{{weight: 100, next: pick}}]}}
  - id: pick
    decide: {{placement: drinks, timeout: 10s}}
    paths: {{water: note-water, diet_soda: note-soda}}
    fallback: done
  - id: note-water
    update_profile: {{traits: {{drink: water}}}}
    next: hesitate
  - id: note-soda
    update_profile: {{traits: {{drink: diet_soda}}}}
    next: hesitate
  - id: hesitate
    wait_for_event: {{event: app_opened, timeout: 1s}}
    on_event: done
    on_timeout: mail
  - id: mail
    send: {{channel: email, template: drink-welcome}}
    next: notify
  - id: notify
    send: {{channel: webhook, template: drink-pick}}
    next: hook
  - id: hook
    webhook: {{url: "{hook_url}"}}
    next: done
  - id: done
    exit: {{}}
"""
NOTES = {"water": "note-water", "diet_soda": "note-soda"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The stack as `make run` starts it: channel adapters, the SMTP and HTTP sinks, the
    drinks example."""
    stack = LocalStack(tmp_path_factory.mktemp("stack"), Ports.free(), channels=True, example=True)
    try:
        yield Platform(stack, stack.start())
    finally:
        stack.stop()


def journey_splitting(kept: str, held: str) -> str:
    """A fresh journey id whose split keeps `kept` and holds `held` out (the assignment is a
    stable hash of journey, step and profile: choosing the id makes the test exact)."""
    cut = round(HOLDOUT * BUCKETS)
    while True:
        journey_id = random_id("every-step-")
        if bucket_of(journey_id, "ab", kept) >= cut > bucket_of(journey_id, "ab", held):
            return journey_id


def signed_up(cookie: str, plan: str, **extra: object) -> ingest_pb2.IngestEvent:
    """A sign-up from the shop's checkout screen (what the drinks decision reads), with the
    address the email channel sends to and consent to both channels' purposes."""
    traits = {"first_name": "Ann", "store_id": "s-12", "email": f"{cookie}@example.com"}
    context = {"channel": "mobile_app", "timezone": "America/Chicago", **CHECKOUT_CONTEXT}
    consent = {"email_marketing": True, "personalization": True}
    found = {"traits": traits, "context": context, "consent": consent} | extra
    return event(cookie, event="signed_up", properties={"plan": plan}, **found)


def due_time(stack: LocalStack, journey_id: str, profile_id: str) -> datetime:
    """When the person's run in the journey stops waiting: the run's state as the
    orchestrator keeps it (its database under the state directory, read only)."""
    where = f"file:{stack.state_dir / 'orchestrator.db'}?mode=ro"
    with closing(sqlite3.connect(where, uri=True)) as db:
        [(due,)] = db.execute(
            "SELECT due_time FROM journey_instances WHERE journey_id = ? AND profile_id = ?",
            (journey_id, profile_id),
        ).fetchall()
    return datetime.fromisoformat(due).replace(tzinfo=UTC)


async def profile_id(g: Gateway, cookie: str) -> str:
    async def found() -> str:
        profile = await g.profile(f"cookie_id:{cookie}")
        return profile.profile_id if profile else ""

    return await eventually(found, timeout=30)


async def test_a_journey_using_every_step_type_runs_end_to_end(platform: Platform) -> None:
    stack = platform.stack
    started = int(time.time())
    ann, hal, nia, tess = (random_id(f"{name}-") for name in ("ann", "hal", "nia", "tess"))
    night = {"context": {"timezone": NIGHT_ZONE}}
    async with platform.gateway() as g:
        await g.hire_crew(random_id("c"))
        await publish_template(g, TEMPLATE)
        await publish_template(g, HOOK_TEMPLATE)
        await g.ingest([event(cookie) for cookie in (ann, hal, nia)])  # known before they sign up
        ann_id, hal_id, nia_id = [await profile_id(g, cookie) for cookie in (ann, hal, nia)]
        journey_id = journey_splitting(ann_id, hal_id)
        # far from now in her zone, so her wait is certain to be on when the goal comes
        night_time = (datetime.now(ZoneInfo(NIGHT_ZONE)) + timedelta(hours=12)).strftime("%H:%M")
        text = JOURNEY.format(
            journey_id=journey_id,
            night_time=night_time,
            holdout=HOLDOUT,
            hook_url=f"{stack.webhook_sink_url}/step",
        )
        assert await publish_journey(g, text) == 1
        first = signed_up(ann, "pro")
        others = signed_up(tess, "test"), signed_up(hal, "pro"), signed_up(nia, "night", **night)
        await g.ingest([others[0], first, *others[1:]])

        async def counts_once(*wanted: tuple[str, str]) -> dict[tuple[str, str], int]:
            counts = await g.journey_counts(journey_id)
            assert all(counts.get(key) == 1 for key in wanted), counts
            return counts

        await eventually(
            lambda: counts_once(
                ("", "exited:completed"), ("", "exited:holdout"), ("opened", "waiting")
            ),
            timeout=60,
        )

        async def delivered() -> list[Path]:
            return sorted(stack.mail_dir.glob("*.eml"))

        [mail] = await eventually(delivered, timeout=60)
        # the same message again (a duplicate), a new sign-up (re-entry is never), and then
        # the event Nia's wait is for: once she waits for the night, Ann's are handled
        results = await g.ingest(
            [first, signed_up(ann, "pro"), event(nia, event="app_opened", **night)]
        )
        assert [r.status for r in results] == [
            gpb.IngestResult.STATUS_DUPLICATE,
            gpb.IngestResult.STATUS_ACCEPTED,
            gpb.IngestResult.STATUS_ACCEPTED,
        ]
        await eventually(lambda: counts_once(("night", "waiting")), timeout=30)
        due = due_time(stack, journey_id, nia_id)  # the time of day, in her zone
        assert due.astimezone(ZoneInfo(NIGHT_ZONE)).strftime("%H:%M") == night_time
        assert timedelta(0) < due - datetime.now(UTC) < timedelta(days=1)
        [result] = await g.ingest([event(nia, event="account_deleted")])
        assert result.status == gpb.IngestResult.STATUS_ACCEPTED
        counts = await eventually(lambda: counts_once(("", "exited:converted")), timeout=30)
        # one mail, to Ann, naming the drink the decision picked
        assert sorted(stack.mail_dir.glob("*.eml")) == [mail]
        message = message_from_bytes(mail.read_bytes())
        assert message["To"] == f"{ann}@example.com"
        assert "thanks for signing up" in message.get_payload()
        subjects = {f"Ann, a {drink} for you": drink for drink in NOTES}
        assert message["Subject"] in subjects, message["Subject"]
        drink = subjects[message["Subject"]]

        async def noted() -> bool:  # the trait that drink's update_profile step wrote
            profile = await g.profile(f"cookie_id:{ann}")
            assert profile is not None and profile.profile_id == ann_id
            return "drink" in profile.traits and profile.traits["drink"].value.string_value == drink

        await eventually(noted, timeout=30)

        async def posted() -> dict[str, tuple[dict[str, str], bytes]]:
            found = webhooks(stack.webhook_dir)  # the channel's send and the step's call
            assert len(found) == 2, sorted(found)
            return found

        received = await eventually(posted, timeout=60)

    # the path the run took, the decision's among it
    taken = {step for (step, metric), n in counts.items() if metric == "entered" and n}
    assert taken == {
        "",
        "route",
        "opened",
        "night",
        "settle",
        "ab",
        "pick",
        NOTES[drink],
        "hesitate",
        "mail",
        "notify",
        "hook",
        "done",
    }
    assert (counts[("", "entered")], counts[("", "entered:event")]) == (3, 3)  # not Tess
    assert (counts[("route", "entered")], counts[("settle", "entered")]) == (3, 2)
    assert (counts[("pick", "entered")], counts[("mail", "sent")]) == (1, 1)
    assert counts[("notify", "sent")] == 1
    assert counts[("", "converted")] == 1 and ("night", "waiting") not in counts
    arrived_once(stack.mail_dir)  # no mail went twice, not even one the sink kept once
    assert len(arrived_once(stack.webhook_dir)) == 2  # nor a POST
    secret = stack.webhook_secret().encode()
    # the webhook channel's send: one POST under its send id, signed with the stack's key
    [(sent_headers, sent_body)] = [r for r in received.values() if SEND_ID in r[0]]
    command = json.loads(sent_body)
    assert sent_headers[SEND_ID] == command["sendId"] != ""
    assert (command["channel"], command["stepId"], command["profileId"]) == (
        "webhook",
        "notify",
        ann_id,
    )
    assert command["content"]["body"] == f"Ann gets a {drink}"
    assert verify(secret, sent_body, sent_headers[TIMESTAMP], sent_headers[SIGNATURE], time.time())
    # one webhook call, signed with the stack's key, under one idempotency key
    [(headers, body)] = [r for r in received.values() if SEND_ID not in r[0]]
    # as the README's receiver checks it: signed at the time of the call, refused as a replay
    timestamp, signed = headers[TIMESTAMP], headers[SIGNATURE]
    assert started <= int(timestamp) <= time.time()
    assert verify(secret, body, timestamp, signed, now=int(timestamp))
    assert not verify(secret, body, timestamp, signed, now=int(timestamp) + 2 * TOLERANCE)
    called = json.loads(body)
    assert headers["Idempotency-Key"] == called["idempotency_key"] != ""
    assert (called["journey_id"], called["profile_id"], called["step_id"]) == (
        journey_id,
        ann_id,
        "hook",
    )

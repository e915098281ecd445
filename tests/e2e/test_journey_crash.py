"""kill -9 of an orchestrator process while journey waits are due, then a restart: each
person's wait fires once, none is lost, each person's mail reaches the SMTP sink once.

Two cases, each a real platform of processes (nats-server, the four services, the email
adapter, the SMTP sink) entering people through the gateway: one orchestrator on its
SQLite file, killed and restarted (its waits fall due while it is dead); and two
orchestrator processes sharing one PostgreSQL database (a fresh schema), one killed and
restarted while the other goes on (a killed process's claimed timers are taken over when
their lease ends). Timers fire 4 to a transaction: a kill finds some claimed, some due."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Table, func, select

from layercake.orchestrator.v1.instance_events_pb2 import StepTaken
from services.demo.assets import publish_journey, publish_template
from services.kernel.config import load_settings
from services.kernel.store.database import Database
from services.kernel.store.schema import events
from services.kernel.timers.schema import dead_timers, timers
from services.local.stack import DEMO_TENANT, LocalStack, Ports
from tests.conftest import random_id, sql_database
from tests.e2e.conftest import Platform
from tests.e2e.sinks import arrived_once
from tests.e2e.test_walking_skeleton import event
from tests.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

PEOPLE = 48
GROUP = 4  # people ingested together; each group's entries are awaited before the next
TEMPLATE = """
template: crash-hello
channel: email
owner: qa
subject: "{{ profile.traits.first_name | default('Hello') }}, hello"
body: "Hi {{ profile.traits.first_name | default('there') }}, this mail survived a crash."
"""
JOURNEY = """
journey: {id}
description: A wait, then a send, to be crashed in the middle of.
owner: qa
entry: {{event: signed_up}}
reentry: {{policy: never}}
steps:
  - id: pause
    wait: {{duration: 3s}}
    next: mail
  - id: mail
    send: {{channel: email, template: crash-hello}}
    next: done
  - id: done
    exit: {{}}
"""


@pytest.fixture(
    params=[
        pytest.param(1, id="one-process-sqlite"),
        pytest.param(2, id="two-processes-postgresql", marks=pytest.mark.postgres),
    ]
)
def crashing(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    """A fresh platform per case; with two orchestrators, on a fresh PostgreSQL schema that
    is dropped afterwards (skipped without LAYERCAKE_TEST_POSTGRES_URL)."""
    processes: int = request.param
    env = {"LAYERCAKE_TIMER_BATCH": "4", "LAYERCAKE_TIMER_LEASE": "4"}
    with contextlib.ExitStack() as cleanup:
        if processes > 1:
            db = cleanup.enter_context(sql_database("postgres", tmp_path, None, target=""))
            env["LAYERCAKE_ORCHESTRATOR_DATABASE_URL"] = db.url
        stack = LocalStack(
            tmp_path / "stack",
            Ports.free(),
            extra_env=env,
            channels=True,
            replicas={"orchestrator": processes},
        )
        cleanup.callback(stack.stop)
        yield Platform(stack, stack.start())


@pytest.fixture
def orchestrator_db(crashing: Platform) -> Iterator[Database]:
    """The orchestrators' database, read as the ledger of what happened."""
    url = load_settings("orchestrator", crashing.stack.env()).database_url
    db = Database(url, workers=1)
    yield db
    db.dispose()


def waits_ended(db: Database, journey: str) -> Counter[str]:
    """Per run's stream, how often its `pause` wait ended: the instance events' ledger."""
    with db.read_sessions() as session, session.begin():
        rows = session.execute(
            select(events.c.stream_id, events.c.payload).where(
                events.c.type == StepTaken.DESCRIPTOR.full_name,
                events.c.stream_id.like(f"%{DEMO_TENANT}/{journey}/%"),
            )
        )
        return Counter(s for s, payload in rows if StepTaken.FromString(payload).step_id == "pause")


def journey_timers(db: Database, journey: str, table: Table = timers) -> tuple[int, datetime]:
    """How many of the journey's timers are left in `table`, and the latest due time."""
    with db.read_sessions() as session, session.begin():
        count, latest = session.execute(
            select(func.count(), func.max(table.c.due_time)).where(
                table.c.tenant_id == DEMO_TENANT, table.c.timer_id.like(f"j/{journey}/%")
            )
        ).one()
    return int(count), latest or datetime.min.replace(tzinfo=UTC)


async def test_kill_9_mid_run_each_wait_fires_once_and_each_mail_arrives_once(
    crashing: Platform, orchestrator_db: Database
) -> None:
    stack, db = crashing.stack, orchestrator_db
    journey = random_id("crash-")
    cookies = [random_id("jc-") for _ in range(PEOPLE)]
    groups = [cookies[i : i + GROUP] for i in range(0, PEOPLE, GROUP)]
    async with crashing.gateway() as g:  # reaches the first orchestrator process
        await g.hire_crew(random_id("c"))
        await publish_template(g, TEMPLATE)
        await publish_journey(g, JOURNEY.format(id=journey))

        async def ingest(group: list[str]) -> None:  # new people: identity resolves them
            traits = {c: {"first_name": c, "email": f"{c}@example.com"} for c in group}
            await g.ingest([event(c, event="signed_up", traits=traits[c]) for c in group])

        async def counts_when(entered: int, sent: int = 0) -> dict[tuple[str, str], int]:
            counts = await g.journey_counts(journey)
            assert counts.get(("", "entered"), 0) >= entered, counts
            assert counts.get(("mail", "sent"), 0) >= sent, counts
            return counts

        # groups go in one by one until a first wait has fired, then one more: its waits are
        # still to fall due when the orchestrator is killed
        ingested, first_sent = 0, False
        while ingested < PEOPLE:
            await ingest(groups[ingested // GROUP])
            ingested += GROUP
            counts = await eventually(partial(counts_when, ingested), timeout=60)
            if first_sent:
                break
            first_sent = counts.get(("mail", "sent"), 0) > 0
        counts = await eventually(partial(counts_when, ingested, 1), timeout=60)  # last look
        await asyncio.to_thread(stack.kill, "orchestrator")
        assert counts.get(("pause", "waiting"), 0) > 0, f"no wait left to fire: {counts}"
        for group in groups[ingested // GROUP :]:  # entered while it is dead
            await ingest(group)
        # the waits it left fall due while it is dead (the other process, if any, fires them)
        _, latest = journey_timers(db, journey)

        async def all_due() -> bool:
            return datetime.now(UTC) > latest

        await eventually(all_due, timeout=30)
        await asyncio.to_thread(stack.start_service, "orchestrator")

        async def finished() -> dict[tuple[str, str], int]:
            counts = await g.journey_counts(journey)
            assert counts.get(("", "exited:completed")) == PEOPLE, counts
            assert counts.get(("mail", "delivered")) == PEOPLE, counts  # the adapter's reports
            return counts

        done = await eventually(finished, timeout=180)

    assert done[("", "entered")] == done[("mail", "sent")] == PEOPLE
    assert ("pause", "waiting") not in done
    assert not any(metric.startswith("suppressed") for _, metric in done)
    ended = waits_ended(db, journey)
    assert len(ended) == PEOPLE and set(ended.values()) == {1}, ended  # once per person
    assert journey_timers(db, journey)[0] == 0  # no wait left behind...
    assert journey_timers(db, journey, dead_timers)[0] == 0  # ...nor parked
    arrived_once(stack.mail_dir)  # no mail went twice, not even one the sink kept once
    parser = BytesHeaderParser()  # one file per Message-ID (the send id) in the sink
    to = Counter(parser.parsebytes(p.read_bytes())["To"] for p in stack.mail_dir.glob("*.eml"))
    assert to == Counter({f"{c}@example.com": 1 for c in cookies})

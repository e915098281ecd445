"""Group commit: concurrent requests share one message and one store round trip each way,
and a message id is accepted once however many requests carry it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from services.gateway.ingest_commits import Fresh, IngestCommits, Published
from services.kernel.errors import Unavailable
from services.kernel.store.records import OutboxMessage
from tests.unit.gateway.fakes import CountingLayer, FakeIngestLog

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
WEEK = NOW + timedelta(days=7)


def fresh(tenant: str, *message_ids: str) -> list[Fresh]:
    return [
        Fresh(
            m,
            OutboxMessage(
                subject=f"layercake.{tenant}.ingest",
                type="layercake.events.v1.EventIngested",
                payload=m.encode(),
                tenant_id=tenant,
                event_id=f"{tenant}/{m}",
            ),
        )
        for m in message_ids
    ]


class GatedLog(FakeIngestLog):
    """Holds the first append until `open` is set, so requests queue behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.open = asyncio.Event()

    async def append(self, messages: Sequence[OutboxMessage]) -> int:
        await self.open.wait()
        return await super().append(messages)


async def test_requests_arriving_during_a_write_go_out_together_in_one_message() -> None:
    log, layer = GatedLog(), CountingLayer()
    commits = IngestCommits(log, layer)
    first = asyncio.create_task(commits.commit("acme", fresh("acme", "m-0"), NOW, WEEK))
    await asyncio.sleep(0)  # the first is being written
    waiting = [
        asyncio.create_task(commits.commit("acme", fresh("acme", f"m-{i}"), NOW, WEEK))
        for i in range(1, 6)
    ]
    await asyncio.sleep(0)
    log.open.set()
    assert await first == [Published(1, False)]
    assert [await w for w in waiting] == [[Published(2, False)]] * 5
    assert [len(b) for b in log.batches] == [1, 5]
    assert layer.reads == 2  # one lookup per write, not per request


async def test_an_id_two_waiting_requests_carry_is_accepted_once() -> None:
    log, layer = GatedLog(), CountingLayer()
    commits = IngestCommits(log, layer)
    blocker = asyncio.create_task(commits.commit("acme", fresh("acme", "m-0"), NOW, WEEK))
    await asyncio.sleep(0)
    a = asyncio.create_task(commits.commit("acme", fresh("acme", "m-1", "m-2"), NOW, WEEK))
    b = asyncio.create_task(commits.commit("acme", fresh("acme", "m-2"), NOW, WEEK))
    await asyncio.sleep(0)
    log.open.set()
    await blocker
    assert await a == [Published(2, False), Published(2, False)]
    assert await b == [Published(2, True)]
    assert [m.event_id for m in log.batches[1]] == ["acme/m-1", "acme/m-2"]


async def test_an_id_accepted_before_is_a_duplicate_and_is_not_written() -> None:
    log, layer = FakeIngestLog(), CountingLayer()
    commits = IngestCommits(log, layer)
    await commits.commit("acme", fresh("acme", "m-1"), NOW, WEEK)
    again = await commits.commit("acme", fresh("acme", "m-1", "m-2"), NOW, WEEK)
    assert again == [Published(1, True), Published(2, False)]
    assert [len(b) for b in log.batches] == [1, 1]


async def test_an_id_answered_and_not_yet_remembered_is_a_duplicate_at_once() -> None:
    log, layer = FakeIngestLog(), CountingLayer()
    layer.run_gate = asyncio.Event()  # the store's write waits
    commits = IngestCommits(log, layer)
    assert await commits.commit("acme", fresh("acme", "m-1"), NOW, WEEK) == [Published(1, False)]
    again = await commits.commit("acme", fresh("acme", "m-1", "m-2"), NOW, WEEK)
    assert again == [Published(1, True), Published(2, False)]
    assert [len(b) for b in log.batches] == [1, 1]
    layer.run_gate.set()
    await commits.remembered()
    later = IngestCommits(FakeIngestLog(), layer)  # another replica: the store only
    assert await later.commit("acme", fresh("acme", "m-1", "m-2"), NOW, WEEK) == [
        Published(1, True),
        Published(2, True),
    ]


async def test_ids_are_remembered_behind_the_answers_all_since_the_last_write_at_once() -> None:
    log, layer = FakeIngestLog(), CountingLayer()
    layer.run_gate = asyncio.Event()
    commits = IngestCommits(log, layer, remember_every=0)
    for i in range(4):  # answered while the first write of ids waits
        await commits.commit("acme", fresh("acme", f"m-{i}"), NOW, WEEK)
    assert layer.runs == 1
    layer.run_gate.set()
    await commits.remembered()
    assert layer.runs == 2  # the first id, then the three written meanwhile together
    later = IngestCommits(FakeIngestLog(), layer)
    repeats = await later.commit("acme", fresh("acme", "m-0", "m-1", "m-2", "m-3"), NOW, WEEK)
    assert repeats == [Published(i + 1, True) for i in range(4)]


async def test_the_ids_of_the_groups_answered_within_remember_every_are_written_together() -> None:
    log, layer = FakeIngestLog(), CountingLayer()
    commits = IngestCommits(log, layer, remember_every=3600)
    for i in range(4):  # each its own group, each answered at once
        assert await commits.commit("acme", fresh("acme", f"m-{i}"), NOW, WEEK) == [
            Published(i + 1, False)
        ]
    assert layer.runs == 0  # none written yet: this replica tells repeats from memory
    again = await commits.commit("acme", fresh("acme", "m-2"), NOW, WEEK)
    assert again == [Published(3, True)]
    await commits.remembered()  # at stop: written at once, not an hour later
    assert layer.runs == 1
    later = IngestCommits(FakeIngestLog(), layer)
    repeats = await later.commit("acme", fresh("acme", "m-0", "m-3"), NOW, WEEK)
    assert repeats == [Published(1, True), Published(4, True)]


async def test_two_replicas_taking_one_id_at_once_both_write_it_and_the_first_is_kept() -> None:
    """Their lookups raced: both answer accepted (consumers' inboxes drop the second copy);
    the store keeps the position remembered first, which a later repeat is told."""
    log, layer = FakeIngestLog(), CountingLayer()
    other = CountingLayer()
    other.db = layer.db  # another replica on the same store (and the same stream)
    commits, theirs = IngestCommits(log, layer), IngestCommits(log, other)
    gate = asyncio.Event()
    layer.gate = gate  # our lookup answers "not seen" but waits
    mine = asyncio.create_task(commits.commit("acme", fresh("acme", "m-1"), NOW, WEEK))
    await asyncio.sleep(0)
    assert await theirs.commit("acme", fresh("acme", "m-1"), NOW, WEEK) == [Published(1, False)]
    await theirs.remembered()
    gate.set()
    assert await mine == [Published(2, False)]
    await commits.remembered()
    layer.gate = None
    again = await IngestCommits(log, layer).commit("acme", fresh("acme", "m-1"), NOW, WEEK)
    assert again == [Published(1, True)]


async def test_tenants_are_written_apart_and_a_failed_write_fails_only_its_tenants() -> None:
    class FailingForGlobex(GatedLog):
        async def append(self, messages: Sequence[OutboxMessage]) -> int:
            if messages[0].tenant_id == "globex":
                await self.open.wait()
                raise Unavailable("the event log is away")
            return await super().append(messages)

    log, layer = FailingForGlobex(), CountingLayer()
    commits = IngestCommits(log, layer)
    blocker = asyncio.create_task(commits.commit("acme", fresh("acme", "m-0"), NOW, WEEK))
    await asyncio.sleep(0)
    acme = asyncio.create_task(commits.commit("acme", fresh("acme", "m-1"), NOW, WEEK))
    globex = asyncio.create_task(commits.commit("globex", fresh("globex", "m-1"), NOW, WEEK))
    await asyncio.sleep(0)
    log.open.set()
    await blocker
    assert await acme == [Published(2, False)]
    with pytest.raises(Unavailable):
        await globex
    again = await IngestCommits(FakeIngestLog(), layer).commit(
        "globex", fresh("globex", "m-1"), NOW, WEEK
    )
    assert again == [Published(1, False)]  # not remembered: a retry is accepted


async def test_a_caller_that_gives_up_leaves_the_others_answered() -> None:
    log, layer = GatedLog(), CountingLayer()
    commits = IngestCommits(log, layer)
    blocker = asyncio.create_task(commits.commit("acme", fresh("acme", "m-0"), NOW, WEEK))
    await asyncio.sleep(0)
    gone = asyncio.create_task(commits.commit("acme", fresh("acme", "m-1"), NOW, WEEK))
    kept = asyncio.create_task(commits.commit("acme", fresh("acme", "m-2"), NOW, WEEK))
    await asyncio.sleep(0)
    gone.cancel()
    log.open.set()
    await blocker
    assert await kept == [Published(2, False)]
    assert [m.event_id for m in log.batches[1]] == ["acme/m-2"]

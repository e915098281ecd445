"""Two identity processes on one PostgreSQL database, consuming the same INGEST durable,
build the same identity graph as one in-process consumer fed the same events in order.

The graph is compared by clear identifiers (profile ids and keyed hashes differ between
databases): which identifiers share a profile, each profile's traits, and that every
merged-away profile answers a live survivor. How many merges it took may differ: two
replicas apply a person's events in another order than the stream's.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import select

from services.identity import handlers
from services.identity.bootstrap import MIGRATIONS
from services.identity.consumers.ingest import DURABLE
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.tables import profiles
from services.kernel.messaging.connection import connect
from services.kernel.messaging.nats_server import NatsServer, free_port
from services.kernel.messaging.streams import ensure_streams
from services.kernel.store.database import Database
from tests.conftest import POSTGRES_URL, _postgres_database, random_id, sql_database
from tests.integration.harness import consume
from tests.integration.identity.conftest import identity_units
from tests.integration.identity.test_ingest_to_profile import runner, send
from tests.polling import eventually

ROOT = Path(__file__).resolve().parents[3]
PEOPLE = 40
# A replica's start (imports, migrations) took 40 s on a loaded 2-core machine; each wait
# below has its own deadline, and this bounds them all.
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]


def workload(tenant: str) -> list[dict[str, object]]:
    """Per person: three anonymous visits, a login, then two events that merge the visits'
    profiles into the login's (the second a chain through the first) and two plain visits:
    8 events, 2 of them merging (25%), people interleaved."""
    events: list[dict[str, object]] = []
    for step in range(8):
        for p in range(PEOPLE):
            ids = [
                {"anonymous_id": f"a{p}"},
                {"device_id": f"d{p}"},
                {"cookie_id": f"c{p}"},
                {"anonymous_id": f"a{p}", "user_id": f"u{p}", "email": f"p{p}@example.com"},
                {"device_id": f"d{p}", "email": f" P{p}@Example.com "},
                {"cookie_id": f"c{p}", "device_id": f"d{p}"},
                {"anonymous_id": f"a{p}"},
                {"cookie_id": f"c{p}"},
            ][step]
            events.append(
                {
                    "message_id": f"{tenant}-{p}-{step}",
                    "type": "track",
                    "timestamp": f"2026-03-01T12:{step:02}:{p:02}Z",
                    "identifiers": ids,
                    "traits": {"step": step, f"seen_{step}": p},
                }
            )
    return events


REFS = (
    "anonymous_id:a{p}",
    "device_id:d{p}",
    "cookie_id:c{p}",
    "user_id:u{p}",
    "email:p{p}@example.com",
)


def graph(db: Database, keys: SqlProfileKeys, tenant: str) -> set[tuple[frozenset[str], str]]:
    """Each live profile as (its clear identifiers, its traits), after checking that every
    merged-away profile answers a live one."""
    uow = identity_units(db, keys)
    found: dict[str, tuple[set[str], str]] = {}
    with uow() as u:
        for p in range(PEOPLE):
            for ref in (r.format(p=p) for r in REFS):
                profile = handlers.get_profile(u, tenant, ref)
                traits = repr(sorted((k, v.json_value) for k, v in profile.traits.items()))
                found.setdefault(profile.profile_id, (set(), traits))[0].add(ref)
        rows = u.session.execute(
            select(profiles.c.profile_id, profiles.c.merged_into).where(
                profiles.c.tenant_id == tenant
            )
        ).all()
        for profile_id, merged_into in rows:
            survivor = handlers.get_profile(u, tenant, profile_id)
            assert survivor.merged_into is None and survivor.profile_id in found, profile_id
            assert (merged_into is None) == (profile_id == survivor.profile_id)
    assert sum(1 for _, m in rows if m is not None) > 0, "the workload merged nothing"
    return {(frozenset(refs), traits) for refs, traits in found.values()}


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server of this test's own: the replicas' durable takes every tenant."""
    server = NatsServer(tmp_path / "js", port=free_port(), monitor_port=free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def replicas_db() -> Iterator[Database]:
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need LAYERCAKE_TEST_POSTGRES_URL (CI sets it)")
    yield from _postgres_database(MIGRATIONS)


@pytest.fixture
def shared_keys() -> Iterator[tuple[str, SqlProfileKeys]]:
    """One key store both replicas use: a key one of them makes, the other must read."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need LAYERCAKE_TEST_POSTGRES_URL (CI sets it)")
    for db in _postgres_database(None, target=""):
        keys = SqlProfileKeys.open(db.url)
        try:
            yield db.url, keys
        finally:
            keys.close()


@dataclass
class Replica:
    """One `python -m services.identity` process and where its metrics and log are."""

    proc: asyncio.subprocess.Process
    metrics_port: int
    log: Path

    async def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        return await asyncio.to_thread(lambda: urlopen(url, timeout=5).read().decode())

    async def ready(self) -> bool:
        """Whether it serves (its consumers subscribed first); its log if it died."""
        if self.proc.returncode is not None:  # not an assertion: they are retried
            raise RuntimeError(self.log.read_text()[-3000:])
        try:
            await self.metrics()
        except OSError:
            return False
        return True

    async def applied(self) -> float:
        """How many ingested events this process applied (its consumer's counter)."""
        text = await self.metrics()
        match = re.search(
            rf'layercake_consumer_applied_total\{{consumer="{DURABLE}"\}} (\S+)', text
        )
        return float(match.group(1)) if match else 0.0


@pytest.fixture
async def replicas() -> AsyncIterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    for replica in started:
        if replica.proc.returncode is None:
            replica.proc.kill()
            await replica.proc.wait()


async def start_identity(
    name: str, db: Database, keys_url: str, nats: NatsServer, tmp: Path
) -> Replica:
    state = tmp / name
    metrics_port = free_port()
    state.mkdir()
    env = dict(os.environ) | {
        "LAYERCAKE_IDENTITY_DATABASE_URL": db.url,
        "LAYERCAKE_IDENTITY_KEYS_URL": keys_url,
        "LAYERCAKE_NATS_URL": nats.url,
        "LAYERCAKE_STATE_DIR": str(state),
        "LAYERCAKE_INTERNAL_SECRET": "replicas-test-secret-" + "x" * 32,
        "LAYERCAKE_IDENTITY_ADDR": f"127.0.0.1:{free_port()}",
        "LAYERCAKE_IDENTITY_METRICS_PORT": str(metrics_port),
        "LAYERCAKE_CONSUMER_BATCH": "8",  # small fetches, so the two take turns
    }
    with (tmp / f"{name}.log").open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.identity", cwd=ROOT, env=env, stderr=log, stdout=log
        )
    return Replica(proc, metrics_port, tmp / f"{name}.log")


async def test_two_replicas_build_the_graph_one_consumer_builds(
    nats: NatsServer,
    replicas_db: Database,
    shared_keys: tuple[str, SqlProfileKeys],
    replicas: list[Replica],
    tmp_path: Path,
) -> None:
    tenant = random_id("t")
    keys_url, keys = shared_keys
    nc = await connect(nats.url, "replicas-test")
    try:
        js: JetStreamContext = nc.jetstream()
        await ensure_streams(js)
        for name in ("a", "b"):
            replicas.append(await start_identity(name, replicas_db, keys_url, nats, tmp_path))

        async def serving() -> bool:  # both, before any event: each takes a share
            return all([await r.ready() for r in replicas])

        await eventually(serving, timeout=300, interval=0.2)
        events = workload(tenant)
        for event in events:
            await send(js, tenant, event)

        async def consumed() -> bool:
            for replica in replicas:
                if replica.proc.returncode is not None:  # not an assertion: they are retried
                    raise RuntimeError(replica.log.read_text()[-3000:])
            try:
                info = await js.consumer_info("INGEST", DURABLE)
            except NotFoundError:
                return False
            return info.num_pending == 0 and info.num_ack_pending == 0

        await eventually(consumed, timeout=120, interval=0.1)
        applied = [await r.applied() for r in replicas]
        assert all(applied) and sum(applied) >= len(events), applied  # both took a share
        for replica in replicas:
            replica.proc.terminate()
            assert await asyncio.wait_for(replica.proc.wait(), 30) == 0, replica.log.read_text()
        assert (await js.stream_info("DEADLETTER")).state.messages == 0  # nothing dead-lettered

        with sql_database("sqlite", tmp_path, MIGRATIONS) as one_db:
            one_keys = SqlProfileKeys.open(f"sqlite:///{tmp_path / 'one-keys.db'}")
            try:
                one = runner(js, one_db, identity_units(one_db, one_keys), tenant)
                await consume(one, len(events), timeout=120)
                await one.close()
                expected = graph(one_db, one_keys, tenant)
            finally:
                one_keys.close()
    finally:
        await nc.close()
    assert len(expected) == PEOPLE
    assert graph(replicas_db, keys, tenant) == expected

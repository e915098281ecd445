"""Runs every measurement against its own nats-server and throwaway databases.

Everything is started here and torn down afterwards (a temp dir for SQLite and
JetStream, a fresh PostgreSQL schema), so the figures and the raw limits they
are divided by come from the same machine, the same files and, since each
figure is interleaved with its limits in rounds, the same moments.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext
from rich.progress import Progress, TaskID
from sqlalchemy import text
from sqlalchemy.engine import make_url

from services.kernel import collector
from services.kernel.clock import SystemClock
from services.kernel.messaging.connection import connect
from services.kernel.messaging.nats_server import NatsServer, free_port
from services.kernel.messaging.streams import ensure_streams
from services.kernel.store.database import Database, normalise_url
from services.kernel.store.migrate import migrate
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.bench import journeys
from tests.bench.consumers import TwoPhaseConsumer
from tests.bench.decisions import CONCURRENCY as DECIDE_CONCURRENCY
from tests.bench.decisions import RawDrinks, decide_meters
from tests.bench.identity import resolution_meters
from tests.bench.ingest import figure_10 as ingest_figure
from tests.bench.measures import (
    KernelAppend,
    KernelRelay,
    Measure,
    Meter,
    RawConsumer,
    RawPostgres,
    RawPublish,
    RawSqlite,
    Series,
    Tick,
    preload_stream,
)
from tests.bench.models import RawOnnx, percentile, scoring_meters
from tests.bench.profile_lookup import figure_11
from tests.bench.rules import KernelRule, RawCel
from tests.bench.sends import CONNECTIONS, send_meters
from tests.bench.timers import (
    KernelTimerDrain,
    RawPostgresTimers,
    RawSqliteTimers,
    measure_lag,
)

PAYLOAD = os.urandom(256)  # about the size of a profile event


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does; the defaults take about a minute here."""

    rounds: int = 10
    raw_tx: int = 3000
    raw_batch_tx: int = 150
    append_tx: int = 1500
    append_batch_tx: int = 30
    batch: int = 100
    relay_events: int = 9000
    publish_events: int = 9000
    publish_awaited_events: int = 2400
    consume_events: int = 9000
    rule_evals: int = 200_000
    score_calls: int = 3000
    decide_calls: int = 2000
    timers: int = 100_000
    timer_window: int = 60
    timer_drain: int = 20_000
    timer_batch: int = 256
    sends: int = 3000
    identity_events: int = 5000
    identity_small: int = 10_000
    identity_big: int = 1_000_000
    ingest_events: int = 20_000
    ingest_singles: int = 3000
    journey_events: int = 3000
    journey_drain: int = 3000
    journey_waits: int = 100_000
    lookup_calls: int = 2000

    def __post_init__(self) -> None:
        bad = [f.name for f in dataclasses.fields(self) if getattr(self, f.name) < 1]
        if bad:
            raise ValueError(f"bench sizes must be at least 1: {', '.join(bad)}")

    def env_overrides(self, env: Mapping[str, str]) -> Sizes:
        """`LAYERCAKE_BENCH_<FIELD>` (e.g. LAYERCAKE_BENCH_RELAY_EVENTS=50000) replaces a size."""
        changes = {
            f.name: int(env[key])
            for f in dataclasses.fields(self)
            if (key := f"LAYERCAKE_BENCH_{f.name.upper()}") in env
        }
        return dataclasses.replace(self, **changes)


SIZE_HELP = {
    "rounds": "rounds each figure is interleaved with its raw limits in",
    "raw_tx": "raw transactions of one event+outbox pair",
    "raw_batch_tx": "raw transactions of BATCH event+outbox pairs",
    "append_tx": "kernel transactions of one event (+1 outbox row)",
    "append_batch_tx": "kernel transactions of BATCH events (+BATCH outbox rows)",
    "batch": "events (rows) per batched transaction",
    "relay_events": "outbox rows the relay drains",
    "publish_events": "raw pipelined publish_async messages",
    "publish_awaited_events": "raw awaited publishes, one at a time",
    "consume_events": "messages each consumer (kernel, raw) reads",
    "rule_evals": "CEL audience rule evaluations (kernel, raw)",
    "score_calls": "ScoreProfile calls and echo calls at each concurrency; raw onnxruntime runs",
    "decide_calls": "Decide calls and echo calls at each concurrency; raw onnxruntime runs",
    "timers": "timers due within TIMER_WINDOW seconds, for the fire-lag run",
    "timer_window": "seconds over which the lag run's timers fall due",
    "timer_drain": "due timers the scheduler (and the raw select+delete) drains",
    "timer_batch": "timers per scheduler batch (and raw rows per transaction)",
    "sends": "send commands through the email adapter, and raw aiosmtplib sends",
    "identity_events": "ingested events identity resolves (and the raw consumer reads)",
    "identity_small": "identifiers the tenant already holds, small graph",
    "identity_big": "identifiers the tenant already holds, big graph (bulk-seeded)",
    "ingest_events": "events ingested in batches of 100 (gRPC, HTTP door) and raw publishes",
    "ingest_singles": "single-event Ingest calls at 16 in flight, and echo calls",
    "journey_events": "ingested events entering people into a journey (and the raw consumer)",
    "journey_drain": "due journey waits the scheduler drains (and kernel no-op timers)",
    "journey_waits": "journey waits due within TIMER_WINDOW seconds, for their fire-lag run",
    "lookup_calls": "GetProfile calls and echo calls at each concurrency",
}

QUICK = Sizes(
    rounds=2,
    raw_tx=60,
    raw_batch_tx=4,
    append_tx=40,
    append_batch_tx=2,
    batch=100,
    relay_events=600,
    publish_events=600,
    publish_awaited_events=60,
    consume_events=600,
    rule_evals=2000,
    score_calls=60,
    decide_calls=64,
    timers=2000,
    timer_window=2,
    timer_drain=1000,
    timer_batch=256,
    sends=60,
    identity_events=250,
    identity_small=100,
    identity_big=2000,
    ingest_events=400,
    ingest_singles=64,
    journey_events=250,
    journey_drain=200,
    journey_waits=300,
    lookup_calls=40,
)


@dataclass(frozen=True)
class Comparison:
    """One kernel figure beside one raw limit measured in the same run."""

    figure: int
    name: str
    backend: str
    kernel: Series
    raw_name: str
    raw: Series

    @property
    def ratio(self) -> float:
        return self.kernel.rate / self.raw.rate if self.raw.rate > 0 else 0.0

    @property
    def round_ratios(self) -> list[float]:
        """The ratio within each round: their spread shows how noisy the machine was."""
        pairs = zip(self.kernel.rounds, self.raw.rounds, strict=True)
        return [k.rate / r.rate for k, r in pairs if k.rate > 0 and r.rate > 0]

    def as_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "name": self.name,
            "backend": self.backend,
            "kernel_rate": self.kernel.rate,
            "kernel_count": self.kernel.total.count,
            "kernel_seconds": self.kernel.total.seconds,
            "raw_name": self.raw_name,
            "raw_rate": self.raw.rate,
            "raw_count": self.raw.total.count,
            "raw_seconds": self.raw.total.seconds,
            "ratio": self.ratio,
            "round_ratios": self.round_ratios,
        }


@dataclass
class Report:
    comparisons: list[Comparison] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"comparisons": [c.as_dict() for c in self.comparisons], "context": self.context}

    def add(self, comparisons: Sequence[Comparison], context: Mapping[str, str]) -> None:
        self.comparisons += comparisons
        self.context |= context


RawFactory = Callable[[int, bytes, Tick], RawSqlite | RawPostgres]
RawTimersFactory = Callable[[int, Tick], RawSqliteTimers | RawPostgresTimers]


@dataclass
class Backend:
    """A migrated kernel database, and the raw transaction meter for the same engine."""

    name: str
    db: Database
    raw: RawFactory
    raw_timers: RawTimersFactory
    version: str = ""

    @property
    def uow(self) -> UnitOfWorkFactory:
        return UnitOfWorkFactory(self.db.sessions, SystemClock())


class Steps:
    """One progress bar per meter; each figure's bars fill together as rounds alternate."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.open: list[tuple[TaskID, int]] = []

    def bar(self, description: str, total: int) -> Tick:
        task = self.progress.add_task(description, total=total)
        self.open.append((task, total))
        return lambda n: self.progress.advance(task, n)

    def close(self) -> None:
        for task, total in self.open:
            self.progress.update(task, completed=total)
        self.open.clear()


async def interleave(rounds: int, plan: Sequence[tuple[Meter, int]]) -> list[Series]:
    """Runs each meter's share of work round after round, in turn; one series per meter."""
    measured: list[list[Measure]] = [[] for _ in plan]
    for r in range(rounds):
        for i, (meter, total) in enumerate(plan):
            share = total // rounds + (total % rounds if r == rounds - 1 else 0)
            measured[i].append(await meter.round(share) if share else Measure(0, 0.0))
    return [Series(tuple(m)) for m in measured]


@contextlib.contextmanager
def sqlite_backend(root: Path) -> Iterator[Backend]:
    db = Database(f"sqlite:///{root / 'kernel.db'}")
    migrate(db.engine)
    raw_path = root / "raw.db"
    try:
        yield Backend(
            "sqlite",
            db,
            lambda k, p, t: RawSqlite(raw_path, k, p, t),
            lambda k, t: RawSqliteTimers(raw_path, k, t),
        )
    finally:
        db.dispose()


@contextlib.contextmanager
def postgres_backend(url: str) -> Iterator[Backend]:
    """A fresh schema on the given server, dropped afterwards whatever happens."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = Database(url, workers=1)
    raw_schema = f"{schema}_raw"  # the raw limit's own events and outbox tables
    with admin.engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
        conn.execute(text(f"CREATE SCHEMA {raw_schema}"))
        version = str(conn.execute(text("SHOW server_version")).scalar_one())
    scoped = url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    raw_scoped = url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{raw_schema}"
    conninfo = make_url(normalise_url(raw_scoped)).set(drivername="postgresql")
    raw_conninfo = conninfo.render_as_string(hide_password=False)
    db: Database | None = None
    try:
        db = Database(scoped)
        migrate(db.engine)
        yield Backend(
            "postgres",
            db,
            lambda k, p, t: RawPostgres(raw_conninfo, k, p, t),
            lambda k, t: RawPostgresTimers(raw_conninfo, k, t),
            version=f"{version} (schema {schema}, dropped afterwards)",
        )
    finally:
        if db is not None:
            db.dispose()
        with admin.engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            conn.execute(text(f"DROP SCHEMA {raw_schema} CASCADE"))
        admin.dispose()


async def figure_1(
    backend: Backend, js: JetStreamContext, sizes: Sizes, steps: Steps
) -> list[Comparison]:
    """Append+outbox transactions beside raw JetStream publishes (the issue's baseline)
    and raw insert transactions on the same engine."""
    b, k = backend.name, sizes.batch
    js_awaited = RawPublish(
        js, False, PAYLOAD, steps.bar(f"[1] {b}: raw publish awaited", sizes.publish_awaited_events)
    )
    js_pipelined = RawPublish(
        js, True, PAYLOAD, steps.bar(f"[1] {b}: raw publish_async", sizes.publish_events)
    )
    raw_one = backend.raw(1, PAYLOAD, steps.bar(f"[1] {b}: raw 1 event+outbox tx", sizes.raw_tx))
    raw_many = backend.raw(
        k, PAYLOAD, steps.bar(f"[1] {b}: raw {k} event+outbox tx", sizes.raw_batch_tx * k)
    )
    tick = steps.bar(f"[1] {b}: kernel append+outbox, 1/tx", sizes.append_tx)
    one = KernelAppend(backend.db, backend.uow, 1, PAYLOAD, tick)
    tick = steps.bar(f"[1] {b}: kernel append+outbox, {k}/tx", sizes.append_batch_tx * k)
    many = KernelAppend(backend.db, backend.uow, k, PAYLOAD, tick)
    try:
        m_awaited, m_pipelined, m_raw_one, m_raw_many, m_one, m_many = await interleave(
            sizes.rounds,
            [
                (js_awaited, sizes.publish_awaited_events),
                (js_pipelined, sizes.publish_events),
                (raw_one, sizes.raw_tx),
                (raw_many, sizes.raw_batch_tx),
                (one, sizes.append_tx),
                (many, sizes.append_batch_tx),
            ],
        )
    finally:
        raw_one.close()
        raw_many.close()
        steps.close()
    one_row = f"{b} 1 event+outbox tx"
    return [
        Comparison(1, "append+outbox, 1 ev/tx", b, m_one, "JetStream publish awaited", m_awaited),
        Comparison(
            1, f"append+outbox, {k} ev/tx", b, m_many, "JetStream publish_async", m_pipelined
        ),
        Comparison(1, "append+outbox, 1 ev/tx", b, m_one, one_row, m_raw_one),
        Comparison(1, f"append+outbox, {k} ev/tx", b, m_many, one_row, m_raw_one),
        Comparison(
            1, f"append+outbox, {k} ev/tx", b, m_many, f"{b} {k} event+outbox tx", m_raw_many
        ),
    ]


async def figure_2(
    backends: Sequence[Backend], js: JetStreamContext, sizes: Sizes, steps: Steps
) -> list[Comparison]:
    """The relay draining the outbox beside bare JetStream publishes on the same server."""
    pipelined = RawPublish(
        js, True, PAYLOAD, steps.bar("[2] raw publish_async pipelined", sizes.publish_events)
    )
    awaited = RawPublish(
        js, False, PAYLOAD, steps.bar("[2] raw publish awaited", sizes.publish_awaited_events)
    )
    relays = [
        KernelRelay(b.db, js, PAYLOAD, steps.bar(f"[2] {b.name}: OutboxRelay", sizes.relay_events))
        for b in backends
    ]
    measured = await interleave(
        sizes.rounds,
        [(pipelined, sizes.publish_events), (awaited, sizes.publish_awaited_events)]
        + [(relay, sizes.relay_events) for relay in relays],
    )
    steps.close()
    m_pipelined, m_awaited, *m_relays = measured
    comparisons = []
    for backend, relay in zip(backends, m_relays, strict=True):
        name, b = "OutboxRelay -> JetStream", backend.name
        comparisons += [
            Comparison(2, name, b, relay, "publish_async pipelined", m_pipelined),
            Comparison(2, name, b, relay, "publish awaited 1 at a time", m_awaited),
        ]
    return comparisons


async def figure_3(
    backends: Sequence[Backend], js: JetStreamContext, sizes: Sizes, steps: Steps
) -> list[Comparison]:
    """A two-phase ConsumerRunner beside a bare pull consumer, both reading the same messages."""
    tenant = "benchconsume"
    await preload_stream(js, sizes.consume_events, tenant, PAYLOAD)
    raw = RawConsumer(
        js, tenant, "bench_raw", steps.bar("[3] raw pull fetch(256)+ack", sizes.consume_events)
    )
    kernels = [
        TwoPhaseConsumer(
            js,
            b.db,
            b.uow,
            tenant,
            f"bench_kernel_{b.name}",
            steps.bar(f"[3] {b.name}: two-phase consumer + inbox", sizes.consume_events),
        )
        for b in backends
    ]
    m_raw, *m_kernels = await interleave(
        sizes.rounds,
        [(raw, sizes.consume_events)] + [(k, sizes.consume_events) for k in kernels],
    )
    steps.close()
    return [
        Comparison(3, "two-phase consumer + inbox", b.name, m, "pull fetch(256)+ack", m_raw)
        for b, m in zip(backends, m_kernels, strict=True)
    ]


async def figure_4(backend: Backend, sizes: Sizes, steps: Steps) -> tuple[Comparison, str]:
    """The scheduler draining due timers beside raw select-due + delete transactions of the
    same batch size; then the fire lag of timers falling due over a window."""
    b, k, n = backend.name, sizes.timer_batch, sizes.timer_drain
    raw = backend.raw_timers(k, steps.bar(f"[4] {b}: raw select-due+delete, {k}/tx", n))
    kernel = KernelTimerDrain(backend.db, k, steps.bar(f"[4] {b}: TimerScheduler, due backlog", n))
    try:
        m_raw, m_kernel = await interleave(sizes.rounds, [(raw, n), (kernel, n)])
    finally:
        raw.close()
    window = f"[4] {b}: {sizes.timers:,} timers due within {sizes.timer_window}s"
    lag = await measure_lag(
        backend.db, sizes.timers, sizes.timer_window, k, steps.bar(window, sizes.timers)
    )
    steps.close()
    raw_name = f"{b} select-due+delete {k}/tx"
    return Comparison(4, f"timers fired, {k}/tx", b, m_kernel, raw_name, m_raw), lag.describe()


async def figure_5(sizes: Sizes, steps: Steps) -> list[Comparison]:
    """A compiled CEL audience rule beside the bare CEL program on the same profiles."""
    n = sizes.rule_evals
    kernel = KernelRule(steps.bar("[5] rules: compiled audience rule", n), n)
    raw = RawCel(steps.bar("[5] raw cel Program.execute", n), n)
    m_kernel, m_raw = await interleave(sizes.rounds, [(kernel, n), (raw, n)])
    steps.close()
    return [Comparison(5, "rules: CEL audience rule", "-", m_kernel, "cel Program.execute", m_raw)]


def latency_note(latencies: list[float], echo: list[float]) -> str:
    """p50 and p99 of a path beside the echo's at the same concurrency."""
    return ", ".join(
        f"p{int(q * 100)} {percentile(latencies, q) * 1e3:.2f} ms"
        f" (echo {percentile(echo, q) * 1e3:.2f} ms,"
        f" {percentile(latencies, q) / max(percentile(echo, q), 1e-9):.1f}x)"
        for q in (0.5, 0.99)
    )


async def figure_6(
    root: Path, nc: Any, sizes: Sizes, steps: Steps
) -> tuple[list[Comparison], dict[str, str]]:
    """ScoreProfile over gRPC at concurrency 1 and 16 beside a bare grpc.aio echo at the same
    concurrency and bare onnxruntime runs; latency percentiles beside the echo's."""
    n = sizes.score_calls
    async with scoring_meters(root, nc, lambda name: steps.bar(name, n)) as meters:
        raw = RawOnnx(steps.bar("[6] raw onnxruntime InferenceSession.run", n), n)
        names = list(meters)
        series = await interleave(sizes.rounds, [*((meters[k], n) for k in names), (raw, n)])
    steps.close()
    by_name = dict(zip(names, series, strict=False))
    comparisons, context = [], {}
    for c in (1, 16):
        score, echo = f"ScoreProfile c={c}", f"grpc.aio echo c={c}"
        comparisons.append(
            Comparison(6, f"models: {score}", "sqlite", by_name[score], echo, by_name[echo])
        )
        context[f"score latency c={c}"] = latency_note(
            meters[score].latencies, meters[echo].latencies
        )
    comparisons.append(
        Comparison(
            6,
            "models: ScoreProfile c=16",
            "sqlite",
            by_name["ScoreProfile c=16"],
            "onnxruntime run, 1 row",
            series[-1],
        )
    )
    return comparisons, context


async def figure_7(js: JetStreamContext, root: Path, sizes: Sizes, steps: Steps) -> Comparison:
    """Send commands through the email adapter into a real SMTP server beside a bare
    aiosmtplib send loop into the same server, with as many connections."""
    n = sizes.sends
    async with send_meters(js, root, steps.bar, n) as (adapter, raw):
        m_adapter, m_raw = await interleave(sizes.rounds, [(adapter, n), (raw, n)])
    steps.close()
    name = f"email adapter -> SMTP ({CONNECTIONS} conns)"
    return Comparison(7, name, "sqlite", m_adapter, f"aiosmtplib loop ({CONNECTIONS} conns)", m_raw)


async def figure_8(
    root: Path, nc: Any, sizes: Sizes, steps: Steps
) -> tuple[list[Comparison], dict[str, str]]:
    """Decide over gRPC at concurrency 1, 16 and 64 beside a bare grpc.aio echo at the same
    concurrency and the drinks model's bare session; latency percentiles beside the echo's."""
    n = sizes.decide_calls
    async with decide_meters(root, nc, lambda name: steps.bar(name, n)) as meters:
        raw = RawDrinks(steps.bar("[8] raw onnxruntime run, 2 rows", n), n)
        names = list(meters)
        series = await interleave(sizes.rounds, [*((meters[k], n) for k in names), (raw, n)])
    steps.close()
    by_name = dict(zip(names, series, strict=False))
    comparisons, context = [], {}
    for c in DECIDE_CONCURRENCY:
        decide, echo = f"Decide c={c}", f"grpc.aio echo c={c}"
        comparisons.append(
            Comparison(8, f"decisions: {decide}", "sqlite", by_name[decide], echo, by_name[echo])
        )
        context[f"decide latency c={c}"] = latency_note(
            meters[decide].latencies, meters[echo].latencies
        )
    comparisons.append(
        Comparison(
            8,
            "decisions: Decide c=16",
            "sqlite",
            by_name["Decide c=16"],
            "onnxruntime run, 2 rows",
            series[-1],
        )
    )
    return comparisons, context


async def figure_9(
    root: Path, js: JetStreamContext, backends: Sequence[Backend], sizes: Sizes, steps: Steps
) -> list[Comparison]:
    """Identity resolution from the stream beside a bare pull consumer, on a small and a big
    graph of the same tenant; and the big graph's rate beside the small one's. On SQLite
    (a file per graph) and on PostgreSQL (the run's schema) when benched."""
    n, raw_name = sizes.identity_events, "pull fetch(256)+ack"
    comparisons: list[Comparison] = []
    for backend in backends:
        shared = backend.db if backend.name != "sqlite" else None
        measured: dict[int, list[Series]] = {}
        for stored in (sizes.identity_small, sizes.identity_big):
            what = f"{stored:,}, {backend.name}"
            bars = (
                steps.bar(f"[9] identity resolution, {what} ids stored", n),
                steps.bar(f"[9] raw pull fetch(256)+ack ({what})", n),
            )
            async with resolution_meters(root, js, stored, n, bars, shared) as (kernel, raw):
                measured[stored] = await interleave(sizes.rounds, [(kernel, n), (raw, n)])
        steps.close()
        comparisons += [
            Comparison(9, f"identity resolution, {s:,} ids stored", backend.name, k, raw_name, r)
            for s, (k, r) in measured.items()
        ]
        big = measured[sizes.identity_big][0]
        name = f"identity resolution, {sizes.identity_big:,} ids"
        at_small = f"the same at {sizes.identity_small:,} ids"
        comparisons.append(
            Comparison(9, name, backend.name, big, at_small, measured[sizes.identity_small][0])
        )
    return comparisons


async def run_bench(
    sizes: Sizes,
    progress: Progress,
    postgres_url: str = "",
    root_dir: Path | None = None,
    only: frozenset[int] | None = None,
) -> Report:
    """Starts nats-server and the databases, measures every figure (or those in `only`),
    tears it all down."""

    def want(figure: int) -> bool:
        return only is None or figure in only

    steps = Steps(progress)
    report = Report()
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        tmp = tempfile.TemporaryDirectory(prefix="lc-bench-", dir=root_dir)
        root = Path(stack.enter_context(tmp))
        server = NatsServer(
            root / "js",
            port=free_port(),
            monitor_port=free_port(),
            sync_always=True,
            log_file=root / "nats-server.log",
        ).start()
        stack.callback(server.stop)
        backends = [stack.enter_context(sqlite_backend(root))]
        if postgres_url:
            backends.append(stack.enter_context(postgres_backend(postgres_url)))

        nc = await connect(server.url, "bench")
        try:
            js = nc.jetstream()
            await ensure_streams(js)
            version = str(nc.connected_server_version).strip("<>")
            report.context = {
                "nats-server": f"{version}, sync_interval: always",
                "sqlite": f"{sqlite3.sqlite_version} (WAL, synchronous=FULL)",
            }
            report.context |= {b.name: b.version for b in backends if b.version}
            collector.settle()  # as a service does once started (kernel/runtime.py)
            report.context |= {
                "data dir": f"{root} (deleted afterwards)",
                "cpus": str(os.cpu_count()),
                "python": platform.python_version(),
                "rounds": str(sizes.rounds),
            }
            if want(1):
                for backend in backends:
                    report.comparisons += await figure_1(backend, js, sizes, steps)
            if want(2):
                report.comparisons += await figure_2(backends, js, sizes, steps)
            if want(3):
                report.comparisons += await figure_3(backends, js, sizes, steps)
            if want(4):
                for backend in backends:
                    timers, lag = await figure_4(backend, sizes, steps)
                    report.comparisons.append(timers)
                    report.context[f"timer lag ({backend.name})"] = lag
            if want(5):
                report.comparisons += await figure_5(sizes, steps)
            if want(6):
                models, latency = await figure_6(root, nc, sizes, steps)
                report.comparisons += models
                report.context |= latency
            if want(7):
                report.comparisons.append(await figure_7(js, root, sizes, steps))
            if want(8):
                decisions, decide_latency = await figure_8(root, nc, sizes, steps)
                report.comparisons += decisions
                report.context |= decide_latency
            if want(9):
                report.comparisons += await figure_9(root, js, backends, sizes, steps)
            if want(10):
                report.add(*await ingest_figure(root, nc, sizes, steps))
            if want(11):
                report.add(*await figure_11(root, sizes, steps))
            if want(12):
                await journeys.figure_12(report, root, js, sizes, steps)
            if want(13):
                await journeys.figure_13(report, root, sizes, steps)
        finally:
            await nc.close()
    report.context["elapsed"] = f"{time.perf_counter() - started:.1f}s"
    return report

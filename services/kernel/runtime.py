"""Runs one service process: database, NATS, relay, consumers, timers, pruning, gRPC, metrics.

A service describes itself with an `App`; `serve()` wires the real adapters, and
shutdown on SIGTERM stops accepting calls, drains in-flight ones, finishes the
consumers' and the timer scheduler's current batches, flushes the outbox and closes NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from prometheus_client import start_http_server

from services.kernel import collector, telemetry
from services.kernel.clock import Clock, SystemClock
from services.kernel.config import ServiceSettings
from services.kernel.messaging.broadcast import Broadcast, BroadcastSpec
from services.kernel.messaging.connection import connect
from services.kernel.messaging.consumer import ConsumerRunner, ConsumerSpec
from services.kernel.messaging.relay import OutboxRelay, RelayHook
from services.kernel.messaging.streams import ensure_streams
from services.kernel.rpc import idempotency
from services.kernel.rpc.server import Server, Servicer, create_server
from services.kernel.store.database import Database
from services.kernel.store.limits import StoreLimits
from services.kernel.store.migrate import migrate
from services.kernel.store.projections import Projection
from services.kernel.store.retention import Pruner
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from services.kernel.timers import AnyTimerHandler, TimerScheduler

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What a service's wiring gets: settings and the live adapters."""

    settings: ServiceSettings
    db: Database
    uow: UnitOfWorkFactory[Any]  # makes the service's own unit of work (App.unit_of_work)
    clock: Clock
    nc: Client
    js: JetStreamContext


@dataclass
class App:
    """A service as the runtime sees it."""

    name: str
    migrations: Path | None = None
    projections: Sequence[Projection] = ()
    unit_of_work: type[UnitOfWork] = UnitOfWork  # the service's adapter of its port
    consumers: Callable[[Context], Sequence[ConsumerSpec[Any]]] = lambda _ctx: ()
    servicers: Callable[[Context], Sequence[Servicer]] = lambda _ctx: ()
    # every replica follows these (caches); built after servicers, loaded before serving
    broadcasts: Callable[[Context], Sequence[BroadcastSpec]] = lambda _ctx: ()
    timers: Callable[[Context], Mapping[str, AnyTimerHandler]] = lambda _ctx: {}  # by kind
    on_start: Callable[[Context], Awaitable[None]] | None = None  # after servicers are built
    on_stop: Callable[[Context], Awaitable[None]] | None = None
    public: bool = False  # authenticates its own callers (the gateway), not the gateway's signature
    # derived state the projections cannot replay (identity's computed-trait windows, the
    # orchestrator's trait names): `replay` rebuilds it after them, through the service's
    # units of work
    rebuild: Callable[[UnitOfWorkFactory[Any]], int] | None = None
    # records where the relay stored each acked row (identity: to erase a forgotten person's)
    on_relayed: RelayHook | None = None


@dataclass
class Runtime:
    app: App
    settings: ServiceSettings
    clock: Clock = field(default_factory=SystemClock)
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    server: Server | None = None
    relay: OutboxRelay | None = None
    context: Context | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _workers_stop: asyncio.Event = field(default_factory=asyncio.Event)

    def _notify_outbox(self) -> None:
        if self.relay is not None:
            self.relay.notify()

    async def _nats_lost(self) -> None:
        """Without the event log a service cannot do its job: load balancers look elsewhere."""
        if self.server is not None and not self.stop_event.is_set():
            await self.server.serving(False)

    async def _nats_back(self) -> None:
        if self.server is not None and not self.stop_event.is_set():
            await self.server.serving(True)

    async def start(self) -> None:
        s = self.settings
        if s.metrics_port:  # first: a port held elsewhere fails the start, never after SERVING
            start_http_server(s.metrics_port, addr=s.metrics_host)
        telemetry.setup_tracing(s.service)
        db = Database(s.database_url, workers=s.db_workers)
        await db.run(migrate, db.engine, self.app.migrations)
        limits = StoreLimits(s.max_event_bytes, s.snapshot_every)
        uow = UnitOfWorkFactory(
            db.sessions,
            self.clock,
            self.app.projections,
            self._notify_outbox,
            limits,
            kind=self.app.unit_of_work,
        )
        nc = await connect(s.nats_url, f"layercake-{s.service}", self._nats_lost, self._nats_back)
        js = nc.jetstream()
        await ensure_streams(js, replicas=s.stream_replicas)
        self.context = ctx = Context(s, db, uow, self.clock, nc, js)
        self.relay = OutboxRelay(
            db,
            js,
            batch=s.relay_batch,
            clock=self.clock,
            max_payload=nc.max_payload,
            on_relayed=self.app.on_relayed,
        )
        self.tasks.append(asyncio.create_task(self.relay.run(self._workers_stop)))
        keep = timedelta(seconds=s.request_retention)
        answers = Pruner("idempotent requests", db, self.clock, idempotency.purge, keep)
        self.tasks.append(asyncio.create_task(answers.run(self._workers_stop)))
        for spec in self.app.consumers(ctx):
            runner = ConsumerRunner(
                spec, js, db, uow, batch=s.consumer_batch, max_deliver=s.max_deliver
            )
            await runner.subscribe()
            self.tasks.append(asyncio.create_task(runner.run(self._workers_stop)))
        if timer_handlers := self.app.timers(ctx):
            scheduler = TimerScheduler(
                db,
                uow,
                timer_handlers,
                self.clock,
                batch=s.timer_batch,
                lease=s.timer_lease,
                poll_interval=s.timer_poll_interval,
            )
            self.tasks.append(asyncio.create_task(scheduler.run(self._workers_stop)))
        self.server = create_server(
            s.grpc_addr,
            self.app.servicers(ctx),
            s.rpc_server_timeout,
            internal=None if self.app.public else s.internal_calls(),
        )
        for broadcast_spec in self.app.broadcasts(ctx):
            broadcast = Broadcast(broadcast_spec, nc, js)
            await broadcast.start()
            self.tasks.append(asyncio.create_task(broadcast.run(self._workers_stop)))
        if self.app.on_start is not None:
            await self.app.on_start(ctx)
        await self.server.server.start()
        await self.server.serving(True)
        log.info(
            "serving",
            extra={
                "grpc": s.grpc_addr,
                "port": self.server.port,
                "metrics": s.metrics_port,
                "database": db.engine.url.render_as_string(hide_password=True),
            },
        )

    async def stop(self) -> None:
        """Graceful: refuse new calls, drain, stop workers, flush the outbox, close NATS."""
        log.info("stopping")
        if self.server is not None:
            await self.server.serving(False)
            await self.server.server.stop(self.settings.shutdown_grace)
        self._workers_stop.set()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=self.settings.shutdown_grace)
        ctx = self.context
        if ctx is not None:
            if self.app.on_stop is not None:
                await self.app.on_stop(ctx)
            if self.relay is not None:
                try:
                    await self.relay.flush()
                except Exception as e:  # the rows stay in the outbox for the next start
                    log.warning("outbox flush at shutdown failed", extra={"error": repr(e)})
            try:
                await ctx.nc.drain()
            except Exception as e:
                log.warning("NATS drain at shutdown failed", extra={"error": repr(e)})
            await ctx.db.close()
        log.info("stopped")

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        # SIGTERM must work while start-up still waits for NATS or the database
        starting = asyncio.create_task(self.start())
        stopped = asyncio.create_task(self.stop_event.wait())
        await asyncio.wait([starting, stopped], return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            log.info("stopped before start-up completed")
            return
        starting.result()
        collector.settle()  # what start-up built stays; collections get rarer
        await stopped
        await self.stop()

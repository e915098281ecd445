"""`layercake up` (what `make run` runs): the whole platform on this machine, supervised,
until Ctrl-C. It starts processes here rather than calling the gateway, so it needs no key."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def up() -> None:
    """Run the whole platform here, supervised, until Ctrl-C (what `make run` does).

    Starts nats-server, the four services and the channel adapters under .layercake/, and
    prints where each listens and the demo tenant's admin key."""
    from services.local.stack import DEMO_TENANT, SERVICES, LocalStack  # only here: heavy
    from services.local.supervisor import Supervisor

    console = Console()
    stack = LocalStack(Path(".layercake").resolve(), channels=True, example=True)
    stopping = threading.Event()

    def stop(*_: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    try:
        with console.status("starting nats-server and the services…"):
            key = stack.start()
    except (Exception, KeyboardInterrupt) as e:
        console.print(f"[red]start failed:[/red] {escape(str(e) or type(e).__name__)}")
        stack.stop()
        sys.exit(1)
    signal.signal(signal.SIGINT, stop)  # from here on Ctrl-C stops everything, in order
    table = Table(title="layercake is running")
    table.add_column("process")
    table.add_column("gRPC")
    table.add_column("metrics")
    table.add_row(
        "nats-server",
        f"nats://127.0.0.1:{stack.ports.nats}",
        f"http://127.0.0.1:{stack.ports.nats_monitor}",
    )
    for s in SERVICES:
        table.add_row(s, stack.addr(s), f"http://127.0.0.1:{stack.ports.metrics[s]}/metrics")
    sinks = {"smtp-sink": f"smtp://127.0.0.1:{stack.ports.smtp}"}
    sinks["webhook-sink"] = stack.webhook_sink_url
    for extra in stack.extras():
        table.add_row(extra, sinks.get(extra, "(NATS)"), "")
    console.print(table)
    if "smtp-sink" in stack.extras():
        console.print(f"mails the journeys send land in {stack.mail_dir}/")
    if "webhook-sink" in stack.extras():
        console.print(f"webhooks (channel `webhook`, webhook steps) land in {stack.webhook_dir}/")
    console.print(f"gateway HTTP (Segment's Tracking API): http://127.0.0.1:{stack.ports.http}")
    console.print(f"demo tenant [bold]{DEMO_TENANT}[/bold], admin API key: [bold]{key}[/bold]")
    console.print(
        "  decides with the drinks example: placement `drinks`, model `drinks` 1 champion"
    )
    console.print(f"  (also in {stack.demo_env_file}; `source` it, then try the `layercake` CLI)")
    console.print(
        f"logs in {stack.log_dir}/  —  a crashed service is restarted  —  Ctrl-C stops all"
    )
    journal = stack.log_dir / "supervisor.log"

    def say(message: str) -> None:
        console.print(f"[yellow]{escape(message)}[/yellow]")
        with journal.open("a") as f:
            f.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {message}\n")

    try:
        Supervisor(stack, say, services=(*SERVICES, *stack.extras())).run(stopping)
    finally:
        with console.status("stopping…"):
            stack.stop()
    console.print("stopped")

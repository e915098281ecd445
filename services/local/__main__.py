"""`make run`: the whole platform on this machine, until Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from rich.console import Console
from rich.table import Table

from services.local.stack import DEMO_TENANT, SERVICES, LocalStack


def main() -> None:
    console = Console()
    stack = LocalStack(Path(".layercake").resolve())
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        with console.status("starting nats-server and the services…"):
            key = stack.start()
    except Exception as e:
        console.print(f"[red]start failed:[/red] {e}")
        stack.stop()
        sys.exit(1)
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
    console.print(table)
    console.print(f"demo tenant [bold]{DEMO_TENANT}[/bold], admin API key: [bold]{key}[/bold]")
    console.print(f"  (also in {stack.demo_env_file}; `source` it, then try the `layercake` CLI)")
    console.print(f"logs in {stack.log_dir}/  —  Ctrl-C stops everything")
    try:
        while not stopping.wait(0.5):
            for name, process in list(stack.processes.items()):
                if process.poll() is not None:
                    console.print(f"[red]{name} exited ({process.returncode}); stopping[/red]")
                    stopping.set()
    except KeyboardInterrupt:
        pass
    with console.status("stopping…"):
        stack.stop()
    console.print("stopped")


if __name__ == "__main__":
    main()

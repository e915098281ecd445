"""`make bench`: the kernel's throughput beside the raw limits measured in the same run.

A figure alone says little on shared, noisy hardware; the ratio to what the
bare driver or client does on the same disk a moment earlier is what tells
whether the kernel wastes the machine. See tests/bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
)
from rich.table import Table

from tests.bench.harness import QUICK, SIZE_HELP, Report, Sizes, run_bench


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description="Kernel throughput beside raw SQLite/PostgreSQL/JetStream limits, as ratios.",
        epilog="Every size can also be set as LAYERCAKE_BENCH_<SIZE>, e.g. "
        "LAYERCAKE_BENCH_RELAY_EVENTS=50000; flags win over the environment.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: a few seconds, for smoke tests"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--dir", type=Path, help="where the temp data dir goes (default: system temp)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LAYERCAKE_TEST_POSTGRES_URL", ""),
        help="also bench PostgreSQL (default: $LAYERCAKE_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--only",
        type=_figures,
        metavar="N[,M...]",
        help="measure only these figures (numbers as in the table), e.g. --only 8,9",
    )
    for f in dataclasses.fields(Sizes):
        parser.add_argument(
            f"--{f.name.replace('_', '-')}", type=int, metavar="N", help=SIZE_HELP[f.name]
        )
    return parser.parse_args(argv)


def _figures(text: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in text.split(",") if part.strip())
    except ValueError as e:
        message = f"figure numbers separated by commas, not {text!r}"
        raise argparse.ArgumentTypeError(message) from e


def sizes_from(args: argparse.Namespace) -> Sizes:
    """Defaults (or --quick), then the environment, then flags."""
    sizes = (QUICK if args.quick else Sizes()).env_overrides(os.environ)
    flags = {
        f.name: v for f in dataclasses.fields(Sizes) if (v := getattr(args, f.name)) is not None
    }
    return dataclasses.replace(sizes, **flags)


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _spread(ratios: list[float]) -> str:
    return f"{min(ratios):.2f}..{max(ratios):.2f}" if len(ratios) > 1 else ""


def table(report: Report) -> Table:
    """One row per comparison; a kernel figure compared twice is shown once."""
    t = Table(title="layercake kernel vs raw limits (same run)", title_justify="left")
    t.add_column("#", justify="right")
    t.add_column("kernel path")
    t.add_column("db")
    t.add_column("kernel ev/s", justify="right")
    t.add_column("raw limit, same run")
    t.add_column("raw /s", justify="right")
    t.add_column("ratio", justify="right")
    t.add_column("per round", justify="right", style="dim")
    previous = None
    for c in report.comparisons:
        same = previous is not None and previous.kernel is c.kernel
        if previous is not None and previous.figure != c.figure:
            t.add_section()
        t.add_row(
            "" if same else str(c.figure),
            "" if same else c.name,
            "" if same else c.backend,
            "" if same else _rate(c.kernel.rate),
            c.raw_name,
            _rate(c.raw.rate),
            f"{c.ratio:.2f}x",
            _spread(c.round_ratios),
        )
        previous = c
    return t


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        sizes = sizes_from(args)
    except ValueError as e:  # a size below 1, or a non-integer in the environment
        print(f"python -m tests.bench: {e}", file=sys.stderr)
        return 2
    # The kernel warns when NATS disconnects; here that is just the bench closing it.
    logging.getLogger("services.kernel.messaging.connection").setLevel(logging.ERROR)
    postgres_url = "" if args.no_postgres else args.postgres_url
    # Piped output (CI logs, files) gets a table wide enough not to wrap.
    console = Console(width=None if sys.stdout.isatty() else 120)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
    )
    with progress:
        report = asyncio.run(run_bench(sizes, progress, postgres_url, args.dir, args.only))
    console.print(table(report))
    for key, value in report.context.items():
        console.print(f"[dim]{key}: {value}[/dim]")
    console.print(
        "[dim]ratio = kernel rate / raw rate over all rounds; per round = lowest..highest "
        "ratio within one round. Raw limits use the same durability (fsync per commit). "
        "See tests/bench/README.md.[/dim]"
    )
    if args.json:
        payload = report.as_dict() | {"sizes": dataclasses.asdict(sizes)}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

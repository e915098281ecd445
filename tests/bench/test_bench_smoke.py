"""`python -m tests.bench --quick` runs end to end and every figure comes with its ratio.

Run explicitly (`pytest tests/bench`): `make test` does not collect the bench.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_reports_every_figure_with_a_ratio(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.bench",
            "--quick",
            "--json",
            str(out),
            "--dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    report = json.loads(out.read_text())
    comparisons = report["comparisons"]
    assert {c["figure"] for c in comparisons} == {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
    for c in comparisons:
        assert c["kernel_rate"] > 0, c
        assert c["raw_rate"] > 0, c
        assert c["ratio"] > 0, c
        assert c["ratio"] == pytest.approx(c["kernel_rate"] / c["raw_rate"]), c
        assert f"{c['ratio']:.2f}x" in proc.stdout, "the table shows each ratio"
    assert "sync_interval: always" in report["context"]["nats-server"]
    assert "p99" in report["context"]["timer lag (sqlite)"], "the timer lag run reports"
    assert "p99" in report["context"]["journey wait lag (sqlite)"], "journey waits' lag too"
    assert "p99" in report["context"]["score latency c=16"], "Score's latency beside the echo's"
    assert "p99" in report["context"]["decide latency c=64"], "Decide's latency beside the echo's"
    assert "p99" in report["context"]["ingest latency Ingest single c=16"], "ingest's latency"
    assert not any(tmp_path.glob("lc-bench-*")), "the temp data dir is removed"


def test_only_measures_the_named_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "tests.bench", "--quick", "--no-postgres", "--only", "5"),
            *("--json", str(out), "--dir", str(tmp_path)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {c["figure"] for c in json.loads(out.read_text())["comparisons"]} == {5}


def test_only_refuses_what_is_not_a_figure_number(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--only", "five"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 2
    assert "figure numbers" in proc.stderr

"""The local supervisor restarts a crashed service after a back-off that grows while the
service keeps dying at start, and says so; the other services are left alone."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

from services.local.supervisor import Backoff, Supervisor


class FakeProcess:
    next_pid = 100

    def __init__(self) -> None:
        FakeProcess.next_pid += 1
        self.pid = FakeProcess.next_pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


class FakeStack:
    def __init__(self, services: tuple[str, ...]) -> None:
        self.log_dir = Path("/tmp/logs")
        self.processes: dict[str, Any] = {s: FakeProcess() for s in services}
        self.spawned: list[str] = []
        self.serving: set[str] = set(services)

    def spawn(self, service: str) -> Any:
        self.spawned.append(service)
        self.processes[service] = FakeProcess()
        return self.processes[service]

    def is_serving(self, service: str) -> bool:
        return service in self.serving


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def supervised() -> tuple[FakeStack, Supervisor, Clock, list[str]]:
    stack, clock, said = FakeStack(("identity", "gateway")), Clock(), []
    supervisor = Supervisor(
        stack,  # type: ignore[arg-type]
        said.append,
        Backoff(initial=1, maximum=8, stable_after=30),
        clock,
        services=("identity", "gateway"),
    )
    supervisor.check()
    return stack, supervisor, clock, said


def test_a_killed_service_is_restarted_after_the_back_off_and_the_others_stay() -> None:
    stack, supervisor, clock, said = supervised()
    gateway = stack.processes["gateway"]
    clock.now += 120  # has been up two minutes
    stack.processes["identity"].returncode = -signal.SIGKILL
    supervisor.check()
    assert said == [
        "identity exited (killed by SIGKILL) after 120s; restarting in 1s; "
        "see /tmp/logs/identity.log"
    ]
    clock.now += 0.5
    supervisor.check()
    assert stack.spawned == []  # not before the back-off ran out
    clock.now += 0.5
    stack.serving.discard("identity")
    supervisor.check()
    assert stack.spawned == ["identity"]
    assert said[-1] == f"identity restarted (pid {stack.processes['identity'].pid})"
    stack.serving.add("identity")
    supervisor.check()
    assert said[-1] == "identity is serving again"
    assert stack.processes["gateway"] is gateway  # never touched


def test_a_service_that_keeps_crashing_at_start_waits_longer_each_time() -> None:
    stack, supervisor, clock, said = supervised()
    delays = []
    for _ in range(6):
        stack.processes["identity"].returncode = 2
        supervisor.check()
        before = len(stack.spawned)
        while len(stack.spawned) == before:  # the restart comes after the back-off
            clock.now += 0.25
            supervisor.check()
        delays.append(re.findall(r"(?:in|try in) (\d+)s;", said[-2])[0])
    assert delays == ["1", "2", "4", "8", "8", "8"]  # doubling, capped
    exits = [m for m in said if "restarted" not in m]
    assert [m.startswith("identity exited (exit code 2)") for m in exits[:3]] == [True, True, False]
    assert exits[2].startswith("identity keeps crashing at start (3 times in a row, exit code 2)")


def test_a_service_that_ran_long_enough_starts_its_back_off_afresh() -> None:
    stack, supervisor, clock, said = supervised()
    for _ in range(3):
        stack.processes["identity"].returncode = 1
        supervisor.check()
        clock.now += 10
        supervisor.check()
    clock.now += 60  # then stable for a minute
    supervisor.check()
    stack.processes["identity"].returncode = 1
    supervisor.check()
    assert "restarting in 1s" in said[-1]


def test_a_running_service_that_answers_no_health_check_is_never_restarted() -> None:
    """Under heavy load a health check can time out: only an exit restarts a service."""
    stack, supervisor, clock, said = supervised()
    gateway = stack.processes["gateway"]
    stack.serving.discard("gateway")  # alive, but its health check fails or times out
    for _ in range(600):  # five minutes of checks
        clock.now += 0.5
        supervisor.check()
    assert stack.spawned == [] and said == []
    assert stack.processes["gateway"] is gateway


def test_a_restarted_service_slow_to_serve_is_left_to_start() -> None:
    stack, supervisor, clock, said = supervised()
    stack.processes["identity"].returncode = -signal.SIGKILL
    supervisor.check()
    clock.now += 1
    stack.serving.discard("identity")
    supervisor.check()
    restarted = stack.processes["identity"]
    for _ in range(240):  # two minutes without answering its health check
        clock.now += 0.5
        supervisor.check()
    assert stack.spawned == ["identity"] and stack.processes["identity"] is restarted
    assert not any("serving again" in m for m in said)
    stack.serving.add("identity")
    supervisor.check()
    assert said[-1] == "identity is serving again"

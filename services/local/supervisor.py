"""`make run` as a supervisor: a crashed service is restarted with back-off, the others stay up.

A service that dies after running a while is restarted after `initial` seconds;
one that keeps dying right after it starts waits twice as long each time (up to
`maximum`), so a broken setting or a port in use never becomes a tight loop.
Every exit, restart and recovery is said on the console and in the log. Only an exit
restarts a service: a health check that fails or times out (a busy machine) never does,
it only tells when a restarted service serves again.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from services.local.stack import SERVICES

KEEPS_CRASHING = 3  # consecutive early exits before the message says so


class Supervised(Protocol):
    """What the supervisor needs of the stack (LocalStack, or a fake in unit tests)."""

    @property
    def processes(self) -> Mapping[str, subprocess.Popen[bytes]]: ...

    @property
    def log_dir(self) -> Path: ...

    def spawn(self, service: str) -> subprocess.Popen[bytes]: ...

    def is_serving(self, service: str) -> bool: ...


@dataclass(frozen=True)
class Backoff:
    initial: float = 1.0  # seconds before restarting a service that ran a while
    maximum: float = 60.0
    stable_after: float = 30.0  # a service up this long is no longer "crashing at start"

    def delay(self, crashes: int) -> float:
        return float(min(self.initial * 2 ** max(crashes - 1, 0), self.maximum))


@dataclass
class _Watch:
    started: float
    crashes: int = 0  # consecutive exits within `stable_after` of their start
    restart_at: float | None = None
    serving: bool = True


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Supervisor:
    stack: Supervised
    say: Callable[[str], None]
    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.monotonic
    services: tuple[str, ...] = SERVICES
    _watches: dict[str, _Watch] = field(default_factory=dict)

    def check(self) -> None:
        """One pass: notices exits, restarts what is due, reports recoveries."""
        now = self.clock()
        for service in self.services:
            watch = self._watches.setdefault(service, _Watch(started=now))
            if watch.restart_at is not None:
                if now >= watch.restart_at:
                    self._restart(service, watch, now)
                continue
            process = self.stack.processes.get(service)
            if process is None:
                continue
            code = process.poll()
            if code is None:
                if not watch.serving and self.stack.is_serving(service):
                    watch.serving = True
                    self.say(f"{service} is serving again")
                continue
            self._exited(service, watch, code, now)

    def _exited(self, service: str, watch: _Watch, code: int, now: float) -> None:
        uptime = now - watch.started
        watch.crashes = 1 if uptime >= self.backoff.stable_after else watch.crashes + 1
        delay = self.backoff.delay(watch.crashes)
        watch.restart_at = now + delay
        log = self.stack.log_dir / f"{service}.log"
        if watch.crashes >= KEEPS_CRASHING:
            self.say(
                f"{service} keeps crashing at start ({watch.crashes} times in a row, "
                f"{describe_exit(code)}); next try in {delay:g}s; see {log}"
            )
        else:
            self.say(
                f"{service} exited ({describe_exit(code)}) after {uptime:.0f}s; "
                f"restarting in {delay:g}s; see {log}"
            )

    def _restart(self, service: str, watch: _Watch, now: float) -> None:
        watch.restart_at = None
        watch.started = now
        watch.serving = False
        try:
            process = self.stack.spawn(service)
        except OSError as e:  # counts as one more crash at start
            self.say(f"{service} could not be started: {e}")
            self._exited(service, watch, 1, now)
            return
        self.say(f"{service} restarted (pid {process.pid})")

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Checks every `interval` seconds until `stop` is set."""
        while not stop.wait(interval):
            self.check()

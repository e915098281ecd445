"""The one registry of custom CEL functions; every rule of every service sees these.

A function is registered once, with its signature, a line of documentation and
an example that the tests evaluate. Functions that need the outside world get
it through `Env`, which the caller builds per evaluation: the clock, and the
tenant's business facts behind the `Facts` port (synchronous: the caller looks
facts up in its async step, or keeps them in memory, before it evaluates).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.kernel.clock import Clock, SystemClock


class Facts(Protocol):
    """A tenant's business facts, as rules see them."""

    def stock(self, product: str, store: str) -> int:
        """Units of `product` at `store`; 0 when unknown."""
        ...


@dataclass(frozen=True)
class Env:
    """What custom functions may consult during one evaluation."""

    clock: Clock = field(default_factory=SystemClock)
    facts: Facts | None = None

    def require_facts(self) -> Facts:
        if self.facts is None:
            raise LookupError("no business facts were given to this evaluation")
        return self.facts


@dataclass(frozen=True)
class Function:
    name: str  # as written in CEL, e.g. facts.stock
    signature: str
    doc: str
    example: str  # a CEL expression using it; tests evaluate every example
    bind: Callable[[Env], Callable[..., Any]]


REGISTRY: dict[str, Function] = {}


def register(function: Function) -> Function:
    if function.name in REGISTRY:
        raise ValueError(f"CEL function {function.name} is registered twice")
    REGISTRY[function.name] = function
    return function


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {name[:64]!r}") from e


def _local(ts: datetime, zone_name: str) -> datetime:
    if not isinstance(ts, datetime):
        raise TypeError(f"expected a timestamp, got {type(ts).__name__}")
    return ts.astimezone(zone(zone_name))


def _stock(env: Env) -> Callable[[str, str], int]:
    def stock(product: str, store: str) -> int:
        return int(env.require_facts().stock(str(product), str(store)))

    return stock


register(
    Function(
        "facts.stock",
        "facts.stock(product: string, store: string) -> int",
        "Units of a product in stock at a store, from the tenant's business facts.",
        'facts.stock("water", "s-12") > 0',
        _stock,
    )
)
register(
    Function(
        "time.now",
        "time.now() -> timestamp",
        "The evaluating service's clock (the injected one in tests).",
        'time.now() - timestamp("2026-03-01T00:00:00Z") < duration("24h")',
        lambda env: env.clock.now,
    )
)
register(
    Function(
        "time.localHour",
        "time.localHour(t: timestamp, zone: string) -> int",
        "The hour (0-23) of a timestamp in an IANA time zone.",
        'time.localHour(timestamp("2026-03-01T12:00:00Z"), "America/Chicago") == 6',
        lambda _env: lambda ts, z: _local(ts, z).hour,
    )
)
register(
    Function(
        "time.localTime",
        "time.localTime(t: timestamp, zone: string) -> string",
        'The wall-clock time "HH:MM" in a zone; compare it with strings for quiet hours.',
        'time.localTime(timestamp("2026-03-01T03:30:00Z"), "Europe/Paris") == "04:30"',
        lambda _env: lambda ts, z: _local(ts, z).strftime("%H:%M"),
    )
)
register(
    Function(
        "time.localDayOfWeek",
        "time.localDayOfWeek(t: timestamp, zone: string) -> int",
        "The day of the week in a zone, 0 = Sunday (as CEL's getDayOfWeek).",
        'time.localDayOfWeek(timestamp("2026-03-01T03:00:00Z"), "America/Chicago") == 6',
        lambda _env: lambda ts, z: (_local(ts, z).weekday() + 1) % 7,
    )
)
register(
    Function(
        "time.localDate",
        "time.localDate(t: timestamp, zone: string) -> string",
        'The calendar date "YYYY-MM-DD" in a zone.',
        'time.localDate(timestamp("2026-03-01T03:00:00Z"), "America/Chicago") == "2026-02-28"',
        lambda _env: lambda ts, z: _local(ts, z).date().isoformat(),
    )
)

BUILTIN_FUNCTIONS = frozenset(
    {"size", "has", "int", "uint", "double", "string", "bytes", "timestamp", "duration"}
    | {"dyn", "type"}
)
"""Global functions and macros the CEL runtime itself provides."""

BUILTIN_METHODS = frozenset(
    {"all", "exists", "exists_one", "map", "filter", "size"}
    | {"contains", "startsWith", "endsWith", "matches"}
    | {"getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek"}
    | {"getHours", "getMinutes", "getSeconds", "getMilliseconds"}
)
"""Receiver-style functions the CEL runtime provides (`s.startsWith("a")`)."""

COMPREHENSIONS = frozenset({"all", "exists", "exists_one", "map", "filter"})
"""Macros that loop over a list or map: the only way a CEL expression repeats work."""

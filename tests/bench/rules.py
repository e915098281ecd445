"""Meters of figure 5: a compiled CEL audience rule through `services.kernel.rules`, and
the bare `common-expression-language` program evaluating the same profiles."""

from __future__ import annotations

import time
from typing import Any

import cel

from services.kernel import rules
from tests.bench.measures import WARM_UP, Measure, Tick, _chunked

TYPICAL = (
    'profile.traits.country == "US" && profile.computed.purchases_30d >= 3'
    " && profile.consent.email_marketing"
)


def profiles(n: int = 64) -> list[dict[str, Any]]:
    """Varied profiles of a realistic shape, so neither side benefits from one hot input."""
    return [
        {
            "profile": {
                "id": f"p-{i}",
                "traits": {
                    "country": ("US", "FR", "DE")[i % 3],
                    "first_name": "Ann",
                    "store_id": f"s-{i % 7}",
                    "tier": "gold" if i % 5 == 0 else "none",
                },
                "computed": {"purchases_30d": i % 6, "revenue_90d": 10.5 * i},
                "consent": {"email_marketing": i % 4 != 0, "sms_marketing": False},
                "audiences": [f"a-{i % 3}", "all"],
                "timezone": "America/Chicago",
            }
        }
        for i in range(n)
    ]


class _Loop:
    def __init__(self, tick: Tick, total: int) -> None:
        self.inputs = profiles()
        self.tick = _chunked(tick, total)

    def warm_up(self) -> None:
        for i in range(WARM_UP):
            self.once(self.inputs[i % len(self.inputs)])

    def once(self, activation: dict[str, Any]) -> None:
        raise NotImplementedError

    async def round(self, n: int) -> Measure:
        inputs, once, size = self.inputs, self.once, len(self.inputs)
        started = time.perf_counter()
        for i in range(n):
            once(inputs[i % size])
        seconds = time.perf_counter() - started
        self.tick(n)
        return Measure(n, seconds)


class KernelRule(_Loop):
    def __init__(self, tick: Tick, total: int) -> None:
        super().__init__(tick, total)
        rule = rules.compile_rule(TYPICAL, rules.AUDIENCE, asset="bench audience", field="rule")
        self.evaluate = rule.evaluate
        assert any(rule.evaluate(p).holds for p in self.inputs)
        self.warm_up()

    def once(self, activation: dict[str, Any]) -> None:
        self.evaluate(activation)


class RawCel(_Loop):
    def __init__(self, tick: Tick, total: int) -> None:
        super().__init__(tick, total)
        self.execute = cel.compile(TYPICAL).execute
        self.warm_up()

    def once(self, activation: dict[str, Any]) -> None:
        self.execute(activation)

"""What one evaluation came to: a value, or an error with a reason, never an exception.

A consumer that evaluates a tenant's rule records the outcome (an audience not
entered because `MISSING_FIELD`, a branch taken as `otherwise` because of
`COST_LIMIT`) and goes on: a bad rule never dead-letters the event it met.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from prometheus_client import Counter


class Reason(StrEnum):
    MISSING_FIELD = "MISSING_FIELD"  # a map key the data does not have: guard with has()
    MISSING_VARIABLE = "MISSING_VARIABLE"  # a declared variable the caller did not bind
    TYPE_ERROR = "TYPE_ERROR"  # no overload for these operand types ("US" > 3)
    ARITHMETIC = "ARITHMETIC"  # division by zero, integer overflow
    FUNCTION_ERROR = "FUNCTION_ERROR"  # a function failed (bad zone, facts unavailable)
    RESULT_TYPE = "RESULT_TYPE"  # e.g. a condition that did not give a bool
    COST_LIMIT = "COST_LIMIT"  # would loop over too much data: stopped before running
    EVALUATION_ERROR = "EVALUATION_ERROR"  # anything else the runtime refused


FAILURES = Counter(
    "layercake_rule_evaluation_failures_total", "CEL evaluations that ended in error", ["reason"]
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """`value` when `reason` is None; otherwise why there is none, in `message`."""

    value: Any = None
    reason: Reason | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def holds(self) -> bool:
        """A condition's verdict: true only for a successful `true`; an error never holds."""
        return self.reason is None and self.value is True

    @classmethod
    def failed(cls, reason: Reason, message: str) -> Outcome:
        FAILURES.labels(reason.value).inc()
        return cls(None, reason, message[:500])


TRUE = Outcome(True)
FALSE = Outcome(False)

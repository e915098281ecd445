"""A compiled rule and its evaluation: bounded in cost, and never raising.

The Rust evaluator cannot be interrupted once it runs, so its cost is bounded
before it starts: an expression without comprehensions costs at most its size
(it was size-limited when compiled); one with comprehensions nested `d` deep is
estimated at `size * n^d`, where `n` is the largest list or map it could loop
over (in the bound data, or a literal list), and refused as `COST_LIMIT` when that
exceeds the limit — the same kind of static bound cel-go's cost estimator uses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cel

from services.kernel.rules.declarations import Declarations
from services.kernel.rules.functions import REGISTRY, Env
from services.kernel.rules.outcome import FALSE, TRUE, Outcome, Reason

# The binding logs every failing Python function at WARNING; the outcome already says it.
logging.getLogger("cel").setLevel(logging.ERROR)

_DEFAULT_ENV = Env()


@dataclass(frozen=True)
class Limits:
    """Bounds on what a tenant's expression may cost; the defaults suit rules people write."""

    max_length: int = 4096  # characters
    max_nodes: int = 1000  # tokens: operands, operators, brackets
    max_nesting: int = 32  # brackets inside brackets
    max_comprehension_depth: int = 3  # loops inside loops
    max_cost: int = 1_000_000  # estimated steps per evaluation


def largest_collection(value: Any, budget: int) -> int:
    """The size of the largest list or map inside `value`; stops looking past `budget`."""
    largest, stack, seen = 0, [value], 0
    while stack and largest <= budget and seen <= budget:
        item = stack.pop()
        if isinstance(item, Mapping):
            largest = max(largest, len(item))
            seen += len(item)
            stack.extend(v for v in item.values() if isinstance(v, Mapping | list | tuple))
        elif isinstance(item, list | tuple):
            largest = max(largest, len(item))
            seen += len(item)
            stack.extend(v for v in item if isinstance(v, Mapping | list | tuple))
    return largest


class Activation:
    """Values that several rules are evaluated against: converted for CEL once, on first
    use, rather than once per rule (the conversion costs more than most rules). Use it on
    one thread; the values must not change while it is used."""

    __slots__ = ("_context", "values")

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self._context: cel.Context | None = None

    def context(self) -> cel.Context:
        if self._context is None:
            self._context = cel.Context(dict(self.values))
        return self._context


def narrowed(values: Mapping[str, Any], rules: Iterable[Rule]) -> dict[str, Any]:
    """The parts of `values` that any of `rules` reads: each variable whole, or only the
    members the rules select. Converting values for CEL costs by their size, so an
    `Activation` shared by several rules is best built on this."""
    wanted: dict[str, frozenset[str] | None] = {}
    for rule in rules:
        for name, members in rule.reads.items():
            held = wanted.get(name, frozenset())
            wanted[name] = None if held is None or members is None else held | members
    out: dict[str, Any] = {}
    for name, members in wanted.items():
        if name not in values:
            continue
        value = values[name]
        if members is None or not isinstance(value, Mapping):
            out[name] = value
        else:
            out[name] = {k: value[k] for k in members if k in value}
    return out


class Rule:
    """One compiled expression; `evaluate` is safe to call from any thread, many times."""

    __slots__ = (
        "_depth",
        "_functions",
        "_literal",
        "_program",
        "declarations",
        "limits",
        "nodes",
        "reads",
        "text",
    )

    def __init__(
        self,
        text: str,
        program: cel.Program,
        declarations: Declarations,
        limits: Limits,
        nodes: int,
        comprehension_depth: int,
        largest_literal: int,
        functions: tuple[str, ...],
        reads: Mapping[str, frozenset[str] | None] | None = None,
    ) -> None:
        self.text = text
        # what it reads of each variable: the members it selects, or None for all of it
        self.reads: Mapping[str, frozenset[str] | None] = reads or {}
        self.declarations = declarations
        self.limits = limits
        self.nodes = nodes
        self._program = program
        self._depth = comprehension_depth
        self._literal = largest_literal
        self._functions = functions

    def __repr__(self) -> str:
        return f"Rule({self.text[:80]!r})"

    def estimated_cost(self, activation: Mapping[str, Any]) -> int:
        if not self._depth:
            return self.nodes
        budget = self.limits.max_cost
        n = max(largest_collection(list(activation.values()), budget), self._literal, 1)
        return int(min(self.nodes * n**self._depth, budget * 10))

    def evaluate(
        self, activation: Mapping[str, Any] | Activation, env: Env | None = None
    ) -> Outcome:
        """Evaluates against plain values (dicts, lists, str, int, float, bool, datetime),
        or an `Activation` of them shared by several rules."""
        prepared, values = (
            (activation, activation.values)
            if isinstance(activation, Activation)
            else (None, activation)
        )
        if self._depth:
            cost = self.estimated_cost(values)
            if cost > self.limits.max_cost:
                return Outcome.failed(
                    Reason.COST_LIMIT,
                    f"estimated cost {cost:,} exceeds the limit of {self.limits.max_cost:,} "
                    f"(loops nested {self._depth} deep over this data)",
                )
        run: Mapping[str, Any] | cel.Context = values
        if self._functions:
            e = env or _DEFAULT_ENV
            run = {**values} | {f: REGISTRY[f].bind(e) for f in self._functions}
        elif prepared is not None:
            run = prepared.context()
        try:
            value = self._program.execute(run)  # type: ignore[arg-type]
        except KeyError as error:
            return Outcome.failed(Reason.MISSING_FIELD, f"no such key: {error}")
        except TypeError as error:
            return Outcome.failed(Reason.TYPE_ERROR, str(error))
        except ArithmeticError as error:
            return Outcome.failed(Reason.ARITHMETIC, str(error))
        except RuntimeError as error:
            text = str(error)
            if text.startswith("Undefined variable"):
                return Outcome.failed(Reason.MISSING_VARIABLE, text)
            if text.startswith("Function "):
                return Outcome.failed(Reason.FUNCTION_ERROR, text)
            return Outcome.failed(Reason.EVALUATION_ERROR, text)
        except Exception as error:
            return Outcome.failed(Reason.EVALUATION_ERROR, f"{type(error).__name__}: {error}")
        expected = self.declarations.result
        if expected is not None and not isinstance(value, expected):
            return Outcome.failed(
                Reason.RESULT_TYPE, f"expected {expected.__name__}, got {type(value).__name__}"
            )
        if value is True:
            return TRUE
        return FALSE if value is False else Outcome(value)

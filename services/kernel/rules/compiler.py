"""Compiling an expression once, when its asset is saved: limits, syntax, references.

Every problem is reported as a validation error naming the asset, the field and
the line:column in the expression. Programs are cached by text, declarations
and limits, so every asset and replica that holds the same rule compiles it once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

import cel

from services.kernel.errors import FieldViolation, InvalidArgument
from services.kernel.rules.declarations import Declarations
from services.kernel.rules.functions import (
    BUILTIN_FUNCTIONS,
    BUILTIN_METHODS,
    COMPREHENSIONS,
    REGISTRY,
)
from services.kernel.rules.lexer import (
    Kind,
    LexError,
    Token,
    largest_literal,
    nesting,
    tokenize,
)
from services.kernel.rules.program import Limits, Rule

KEYWORDS = frozenset({"true", "false", "null", "in"})
_PARSER_ERROR = re.compile(r"<input>:(\d+):(\d+): (?:Syntax error: )?([^\n]*)")
_MESSAGE_LIMIT = 200  # a description echoes at most this much of the tenant's text
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Problem:
    """Why an expression does not compile, and where."""

    line: int
    column: int
    message: str


class RuleError(InvalidArgument):
    """An expression that does not compile: one field violation naming asset, field, position."""

    def __init__(self, asset: str, field: str, problem: Problem) -> None:
        self.asset, self.field_path, self.problem = asset, field, problem
        where = f"{asset} at {problem.line}:{problem.column}"
        super().__init__([FieldViolation(field, f"{where}: {problem.message}")])


def _at(token: Token, message: str) -> Problem:
    return Problem(token.line, token.column, message[:_MESSAGE_LIMIT])


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _parse(text: str) -> cel.Program | Problem:
    try:
        return cel.compile(text)
    except Exception as e:  # ValueError for syntax; anything else is the parser's own limit
        found = _PARSER_ERROR.search(str(e))
        if found is None:
            return Problem(1, 1, "invalid CEL expression")
        line, column, message = found.groups()
        return Problem(int(line), int(column), f"syntax error: {message}"[:_MESSAGE_LIMIT])


def _is(tokens: list[Token], i: int, text: str) -> bool:
    return 0 <= i < len(tokens) and tokens[i].kind is Kind.PUNCT and tokens[i].text == text


def comprehension_depth(tokens: list[Token]) -> tuple[int, Token | None]:
    """How deep loop macros (`.all(`, `.map(`...) nest, and the deepest one's token."""
    depth, deepest, where, open_at = 0, 0, None, []  # open_at: bracket depth of each macro
    for i, t in enumerate(tokens):
        if t.kind is Kind.PUNCT and t.text in "([{":
            depth += 1
            if t.text == "(" and _is(tokens, i - 2, ".") and tokens[i - 1].text in COMPREHENSIONS:
                open_at.append(depth)
                if len(open_at) > deepest:
                    deepest, where = len(open_at), tokens[i - 1]
        elif t.kind is Kind.PUNCT and t.text in ")]}":
            if open_at and open_at[-1] == depth:
                open_at.pop()
            depth -= 1
    return deepest, where


def check_references(
    tokens: list[Token], declarations: Declarations
) -> tuple[tuple[str, ...], Problem | None]:
    """The registry functions used, or the first undeclared name, unknown function or
    field a declared struct does not have."""
    bound = {
        tokens[i + 3].text
        for i in range(len(tokens) - 4)
        if _is(tokens, i, ".")
        and tokens[i + 1].text in COMPREHENSIONS
        and _is(tokens, i + 2, "(")
        and tokens[i + 3].kind is Kind.IDENT
    }
    used: list[str] = []
    skip: set[int] = set()
    for i, t in enumerate(tokens):
        if t.kind is not Kind.IDENT or i in skip or t.text in KEYWORDS:
            continue
        if _is(tokens, i - 1, "."):
            if _is(tokens, i + 1, "(") and t.text not in BUILTIN_METHODS:
                return (), _at(t, f"unknown function '{t.text}'")
            continue
        chain = [t.text]  # a root name and the selections after it: a.b.c
        while _is(tokens, i + 2 * len(chain) - 1, ".") and (
            i + 2 * len(chain) < len(tokens) and tokens[i + 2 * len(chain)].kind is Kind.IDENT
        ):
            chain.append(tokens[i + 2 * len(chain)].text)
        qualified = next(
            (
                k
                for k in range(len(chain), 0, -1)
                if ".".join(chain[:k]) in REGISTRY and _is(tokens, i + 2 * k - 1, "(")
            ),
            0,
        )
        if qualified:
            used.append(".".join(chain[:qualified]))
            skip.update(range(i, i + 2 * qualified - 1))
            continue
        if _is(tokens, i + 1, "("):
            if t.text not in BUILTIN_FUNCTIONS:
                return (), _at(t, f"unknown function '{t.text}'")
            continue
        declared = declarations.variable(t.text)
        if declared is None:
            if t.text in bound:
                continue
            names = ", ".join(declarations.names) or "none"
            return (), _at(t, f"undeclared reference to '{t.text}' (declared: {names})")
        path, current = t.text, declared
        for k, name in enumerate(chain[1:], start=1):
            if _is(tokens, i + 2 * k + 1, "(") or not current.is_struct:
                break  # a method call, or a map: keys are checked when evaluated
            selected = current.field(name)
            if selected is None:
                fields = ", ".join(n for n, _ in current.fields)
                return (), _at(tokens[i + 2 * k], f"{path} has no field '{name}' ({fields})")
            path, current = f"{path}.{name}", selected
    return tuple(dict.fromkeys(used)), None


def reads(tokens: list[Token]) -> dict[str, frozenset[str] | None]:
    """What the expression reads of each name it starts a path with: the members it selects
    (`context.stock.water` reads `stock` of `context`), or None when it uses the value
    whole (indexed, passed on, looped over, compared, a method called on it)."""
    found: dict[str, frozenset[str] | None] = {}
    for i, t in enumerate(tokens):
        if t.kind is not Kind.IDENT or t.text in KEYWORDS or _is(tokens, i - 1, "."):
            continue
        if _is(tokens, i + 1, "("):
            continue  # a function, not a value
        member = tokens[i + 2] if _is(tokens, i + 1, ".") and i + 2 < len(tokens) else None
        if member is None or member.kind is not Kind.IDENT or _is(tokens, i + 3, "("):
            found[t.text] = None
        elif t.text not in found or found[t.text] is not None:
            found[t.text] = (found.get(t.text) or frozenset()) | {member.text}
    return found


@functools.lru_cache(maxsize=4096)
def _compile(text: str, declarations: Declarations, limits: Limits) -> Rule | Problem:
    if len(text) > limits.max_length:
        line, column = _position(text, limits.max_length)
        return Problem(
            line, column, f"expression is {len(text)} characters; at most {limits.max_length}"
        )
    try:
        tokens = tokenize(text)
    except LexError as e:
        parsed = _parse(text)  # the parser's own message is the better one
        return parsed if isinstance(parsed, Problem) else Problem(e.line, e.column, str(e))
    if not tokens:
        return Problem(1, 1, "expression is empty")
    if len(tokens) > limits.max_nodes:
        return _at(
            tokens[limits.max_nodes],
            f"expression has {len(tokens)} terms; at most {limits.max_nodes}",
        )
    deepest, where = nesting(tokens)
    if deepest > limits.max_nesting and where is not None:
        return _at(where, f"brackets nest {deepest} deep; at most {limits.max_nesting}")
    loops, where = comprehension_depth(tokens)
    if loops > limits.max_comprehension_depth and where is not None:
        return _at(where, f"loops nest {loops} deep; at most {limits.max_comprehension_depth}")
    program = _parse(text)
    if isinstance(program, Problem):
        return program
    functions, problem = check_references(tokens, declarations)
    if problem is not None:
        return problem
    return Rule(
        text,
        program,
        declarations,
        limits,
        len(tokens),
        loops,
        largest_literal(tokens),
        functions,
        reads(tokens),
    )


def compile_rule(
    text: str,
    declarations: Declarations,
    *,
    asset: str,
    field: str,
    limits: Limits = DEFAULT_LIMITS,
) -> Rule:
    """Compiles (or takes from the cache); raises RuleError naming asset, field, position."""
    compiled = _compile(text, declarations, limits)
    if isinstance(compiled, Problem):
        raise RuleError(asset, field, compiled)
    return compiled


def compile_rules(
    expressions: Mapping[str, str],
    declarations: Declarations,
    *,
    asset: str,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Rule]:
    """Compiles every expression of an asset (by field path); reports all bad ones at once."""
    rules: dict[str, Rule] = {}
    violations: list[FieldViolation] = []
    for field, text in expressions.items():
        try:
            rules[field] = compile_rule(text, declarations, asset=asset, field=field, limits=limits)
        except RuleError as e:
            violations += e.violations
    if violations:
        raise InvalidArgument(violations)
    return rules

"""Rules: every condition a tenant writes, in Google CEL, compiled once and evaluated safely.

Audience rules, journey entry filters and branches, offer eligibility: one dialect
(https://github.com/google/cel-spec), run by the Rust-backed
`common-expression-language`. A service compiles an expression when the asset
that holds it is saved, and evaluates the compiled rule many times:

    from services.kernel import rules

    rule = rules.compile_rule(
        'profile.traits.country == "US" && profile.computed.purchases_30d >= 3'
        " && profile.consent.email_marketing",
        rules.AUDIENCE,
        asset="audience us-buyers",
        field="rule",
    )
    outcome = rule.evaluate({"profile": profile_as_dict})
    if outcome.holds: ...                     # true, and no error
    elif not outcome.ok: record(outcome.reason, outcome.message)

Compiling: a syntax error, an undeclared name (`profle`), a field a typed
variable does not have (`profile.trait`), an unknown function, or an expression
over the size limits raises `RuleError`, an `InvalidArgument` whose field
violation names the field (`steps[2].branch[0].when`) and whose description
names the asset and the line:column, e.g.
`journey abandoned-cart: syntax error: mismatched input '<EOF>' ... at 1:4`.
`compile_rules(asset=..., {field: text})` reports every bad field of an asset
at once. Compiled rules are cached by text, declarations and limits.

Variables (`declarations.py`): `profile` (id, traits, computed, consent,
audiences, identifiers, timezone), `event` (id, type, name, time,
received_time, properties, traits, context), `context` (now, tenant, channel,
timezone, journey, step) and `decision` (action, product, placement, score,
reasons, attributes). `AUDIENCE` declares `profile` only; `CONDITION` all
four; `Declarations.of(...)` any subset, with the Python type the result must
have (bool by default). Struct fields are checked when compiling; map keys
(`profile.traits.country`) when evaluating: guard optional ones with
`has(profile.traits.country)`.

Functions: CEL's own (`size`, `has`, `int`, `string`, `timestamp`,
`duration("4h")`, `.contains()`, `.startsWith()`, `.matches()`, `.exists()`,
`.all()`, `.map()`, `.filter()`, `getHours()` in UTC, ...) and the one
registry of custom functions (`functions.py`, each with an example the tests run):

    facts.stock(decision.product, profile.traits.store_id) > 0
    time.now() - event.time < duration("24h")
    time.localHour(time.now(), profile.timezone) >= 9
    time.localTime(event.time, "America/Chicago") < "21:00"
    time.localDayOfWeek(event.time, profile.timezone) != 0      // 0 = Sunday
    time.localDate(event.time, "Europe/Paris") == "2026-03-01"

`facts.*` read the tenant's business facts through the `Facts` port and `time.now()`
the injected clock, both passed per evaluation as `Env(clock=..., facts=...)`.

Safety: a tenant's expression cannot hang or crash a consumer. Compiling
refuses more than 4,096 characters, 1,000 terms, brackets nested 32 deep or
loops (comprehensions) nested 3 deep (`Limits`); evaluating refuses, before it
starts, a loop whose estimated cost over the data at hand exceeds 1,000,000
steps. `evaluate` never raises: it returns an `Outcome`, a value or a `Reason`
(`MISSING_FIELD`, `TYPE_ERROR`, `COST_LIMIT`, ...) with a message, and counts
failures in `layercake_rule_evaluation_failures_total{reason}`.
"""

from services.kernel.rules.compiler import Problem, RuleError, compile_rule, compile_rules
from services.kernel.rules.declarations import (
    AUDIENCE,
    CONDITION,
    STANDARD,
    Declarations,
    Type,
    struct,
)
from services.kernel.rules.functions import REGISTRY, Env, Facts, Function
from services.kernel.rules.outcome import Outcome, Reason
from services.kernel.rules.program import Activation, Limits, Rule, narrowed

__all__ = [
    "AUDIENCE",
    "CONDITION",
    "REGISTRY",
    "STANDARD",
    "Activation",
    "Declarations",
    "Env",
    "Facts",
    "Function",
    "Limits",
    "Outcome",
    "Problem",
    "Reason",
    "Rule",
    "RuleError",
    "Type",
    "compile_rule",
    "compile_rules",
    "narrowed",
    "struct",
]

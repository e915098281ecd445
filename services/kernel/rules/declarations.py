"""What an expression may refer to: typed variables, and what its result must be.

The Rust CEL runtime has no type checker, so the declared shape of `profile`,
`event`, `context` and `decision` is checked here at compile time: selecting a
field a struct does not have (`profile.trait.country`) is an error with its
position, while maps (`profile.traits`) accept any key and are checked when
evaluated (a missing key is a `MISSING_FIELD` outcome).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Type:
    """A CEL type by name; a struct when it lists `fields`, whose selections are checked."""

    name: str
    fields: tuple[tuple[str, Type], ...] = ()

    def field(self, name: str) -> Type | None:
        return next((t for n, t in self.fields if n == name), None)

    @property
    def is_struct(self) -> bool:
        return bool(self.fields)


def struct(type_name: str, /, **fields: Type) -> Type:
    return Type(type_name, tuple(fields.items()))


DYN = Type("dyn")
BOOL = Type("bool")
INT = Type("int")
DOUBLE = Type("double")
STRING = Type("string")
TIMESTAMP = Type("google.protobuf.Timestamp")
MAP = Type("map(string, dyn)")
STRINGS = Type("list(string)")

PROFILE = struct(
    "profile",
    id=STRING,
    traits=MAP,  # by name; values as the partner sent them
    computed=MAP,  # computed traits by name, e.g. purchases_30d
    consent=Type("map(string, bool)"),  # by purpose, e.g. email_marketing
    audiences=STRINGS,  # ids of the audiences the profile is in
    identifiers=Type("map(string, list(string))"),
    timezone=STRING,  # IANA name, e.g. America/Chicago
)
EVENT = struct(
    "event",
    id=STRING,
    type=STRING,  # track or identify
    name=STRING,  # the track event's name, e.g. cart_updated
    time=TIMESTAMP,  # when it happened
    received_time=TIMESTAMP,
    properties=MAP,
    traits=MAP,
    context=MAP,  # channel, ip, timezone... as the partner sent them
)
CONTEXT = struct(
    "context",
    now=TIMESTAMP,  # the evaluating clock's time
    tenant=STRING,
    channel=STRING,
    timezone=STRING,
    journey=STRING,
    step=STRING,
)
DECISION = struct(
    "decision",
    action=STRING,  # the chosen action's id, e.g. water
    product=STRING,
    placement=STRING,
    score=DOUBLE,
    reasons=STRINGS,
    attributes=MAP,
)

STANDARD: dict[str, Type] = {
    "profile": PROFILE,
    "event": EVENT,
    "context": CONTEXT,
    "decision": DECISION,
}


@dataclass(frozen=True)
class Declarations:
    """The variables an expression sees and the Python type its result must have
    (None: any). Hashable: compiled programs are cached per text and declarations."""

    variables: tuple[tuple[str, Type], ...]
    result: type | None = bool

    @classmethod
    def of(cls, *names: str, result: type | None = bool) -> Declarations:
        """Standard variables by name, e.g. `Declarations.of("profile", "event")`."""
        unknown = [n for n in names if n not in STANDARD]
        if unknown:
            raise ValueError(f"no standard variable {', '.join(unknown)}")
        return cls(tuple((n, STANDARD[n]) for n in names), result)

    def variable(self, name: str) -> Type | None:
        return next((t for n, t in self.variables if n == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.variables)


AUDIENCE = Declarations.of("profile")
"""Audience rules: over the profile only, so membership never depends on one event."""
CONDITION = Declarations.of("profile", "event", "context", "decision")
"""Journey entry filters and branches, offer eligibility: everything known at that step."""

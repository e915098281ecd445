"""At submit, a template may read unguarded only the traits some profile of the tenant can
supply: one identity has reported on a profile of the tenant (a trait its ProfileUpdated
set, personal ones included, or a computed trait its ComputedTraitChanged named:
`trait_names`, as the variables `profile.traits.<name>`, `profile.computed.<name>`), or a
trait a live journey of the tenant sets with an `update_profile` step. A misspelt or
unknown trait is refused then, naming the template's field and the variable, instead of
failing each send that renders it. A read guarded by `| default(...)` or `is defined`
may name any trait (see `domain.templates.unguarded_traits`)."""

from __future__ import annotations

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.errors import FailedPrecondition, FieldViolation
from services.orchestrator.domain.templates import SOURCES, TRAIT, unguarded_traits
from services.orchestrator.ports import OrchestratorUnitOfWork

UNKNOWN_TRAIT = "UNKNOWN_TRAIT"


def check_template_traits(
    uow: OrchestratorUnitOfWork, tenant_id: str, template: pb.Template
) -> None:
    """FailedPrecondition (reason UNKNOWN_TRAIT) naming each field and trait no profile of
    the tenant can supply."""
    needed = {field: unguarded_traits(getattr(template, field)) for field in SOURCES}
    if not any(needed.values()):
        return
    known = uow.trait_names.of_tenant(tenant_id) | journey_traits(uow, tenant_id)
    bad = [
        FieldViolation(
            field,
            f"reads {variable}, which no profile of the tenant has"
            f"{' and no live journey sets' if variable.startswith(TRAIT) else ''}: check"
            " its spelling, or guard it with `| default(...)` or `{% if ... is defined %}`",
        )
        for field, variables in needed.items()
        for variable in sorted(variables - known)
    ]
    if bad:
        message = "; ".join(f"{v.field}: {v.description}" for v in bad)
        raise FailedPrecondition(message, reason=UNKNOWN_TRAIT, violations=bad)


def journey_traits(uow: OrchestratorUnitOfWork, tenant_id: str) -> frozenset[str]:
    """The trait variables the tenant's live journeys set in their `update_profile` steps."""
    return frozenset(
        TRAIT + name
        for _, journey in uow.journeys.live_versions(tenant_id)
        for step in journey.definition.steps
        if step.WhichOneof("action") == "update_profile"
        for name in step.update_profile.traits.fields
    )

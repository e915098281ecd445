"""A tenant's business facts from `layercake.<tenant>.facts.*` into the facts read model.

The tenant is the subject's (the envelope refuses a mismatching `ce-tenantid`), so a
tenant's credentials, scoped to its subjects, can only ever publish its own facts.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from layercake.orchestrator.v1 import facts_pb2
from services.kernel.errors import InvalidArgument, Unprocessable
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.routing import route
from services.orchestrator import facts, mapping
from services.orchestrator.ports import OrchestratorUnitOfWork

DURABLE = "orchestrator-facts"
FACTS_PUBLISHED = facts_pb2.FactsPublished.DESCRIPTOR.full_name


def apply_facts(uow: OrchestratorUnitOfWork, envelope: Envelope) -> None:
    """Unprocessable (dead-lettered at once) when the body or a level is malformed."""
    try:
        message = facts_pb2.FactsPublished.FromString(envelope.payload)
        levels = mapping.stock_facts(
            envelope.tenant_id, message.stock_levels, envelope.time, "stock_levels"
        )
    except (DecodeError, InvalidArgument) as e:
        raise Unprocessable(f"bad facts {envelope.event_id}: {e}") from e
    facts.record_stock_levels(uow, levels)


def facts_consumer() -> ConsumerSpec[OrchestratorUnitOfWork]:
    return ConsumerSpec(
        durable=DURABLE,
        stream="FACTS",
        filter_subject="layercake.*.facts.>",
        handler=route({FACTS_PUBLISHED: apply_facts}),
    )

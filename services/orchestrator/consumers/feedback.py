"""Channel feedback from `layercake.<tenant>.channel.<channel>.feedback` into the ledger
(and an unsubscribe into withdrawn consent)."""

from __future__ import annotations

from google.protobuf.message import DecodeError

from layercake.channel.v1 import channel_pb2
from services.kernel.errors import Unprocessable
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.routing import route
from services.orchestrator import feedback, mapping
from services.orchestrator.ports import OrchestratorUnitOfWork

DURABLE = "orchestrator-feedback"
FEEDBACK = channel_pb2.Feedback.DESCRIPTOR.full_name


def apply_feedback(uow: OrchestratorUnitOfWork, envelope: Envelope) -> None:
    """Unprocessable (dead-lettered at once) when the body is malformed."""
    try:
        message = channel_pb2.Feedback.FromString(envelope.payload)
        report = mapping.channel_feedback(envelope.tenant_id, message)
    except (DecodeError, ValueError) as e:
        raise Unprocessable(f"bad feedback {envelope.event_id}: {e}") from e
    feedback.record_feedback(uow, report)


def feedback_consumer() -> ConsumerSpec[OrchestratorUnitOfWork]:
    return ConsumerSpec(
        durable=DURABLE,
        stream="FEEDBACK",
        filter_subject="layercake.*.channel.*.feedback",
        handler=route({FEEDBACK: apply_feedback}),
    )

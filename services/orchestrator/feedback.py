"""Channel feedback, service layer: the send ledger learns each send's outcome, and an
unsubscribe (or a complaint) withdraws the person's consent for the channel's purpose.

The withdrawal is kept in the orchestrator's contact state at once (so no further send
goes out) and published as ConsentWithdrawn for identity, which owns consent, to record.
"""

from __future__ import annotations

from dataclasses import replace

from services.orchestrator import mapping
from services.orchestrator.domain.contact_state import consent_withdrawn
from services.orchestrator.domain.feedback import WITHDRAWING, ChannelFeedback, outranks
from services.orchestrator.domain.guards import CHANNEL_PURPOSES
from services.orchestrator.ports import OrchestratorUnitOfWork


def record_feedback(uow: OrchestratorUnitOfWork, feedback: ChannelFeedback) -> None:
    """Runs in the feedback consumer's transaction (no commit)."""
    entry = uow.send_ledger.get(feedback.tenant_id, feedback.send_id)
    if entry is not None and outranks(feedback.kind, entry.feedback):
        uow.send_ledger.record(replace(entry, feedback=feedback.kind))
    purpose = CHANNEL_PURPOSES.get(feedback.channel)
    if feedback.kind not in WITHDRAWING or purpose is None:
        return
    now = uow.now()
    uow.contact_states.merge(
        feedback.tenant_id,
        feedback.profile_id,
        lambda held: consent_withdrawn(held, feedback.tenant_id, feedback.profile_id, purpose, now),
    )
    uow.publish(mapping.consent_withdrawn_message(feedback, purpose))

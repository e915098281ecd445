"""Channel feedback, service layer: the send ledger learns each send's outcome, and an
unsubscribe (or a complaint) withdraws the person's consent for the channel's purpose.

The withdrawal is kept in the orchestrator's contact state at once (so no further send
goes out) and published as ConsentWithdrawn for identity, which owns consent, to record.
A journey's send also records the report on its instance (FeedbackReceived, once per send
and kind), which adds it to the send step's counts.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from services.orchestrator import mapping
from services.orchestrator.domain.channels import CHANNEL_PURPOSES
from services.orchestrator.domain.contact_state import consent_withdrawn
from services.orchestrator.domain.feedback import WITHDRAWING, ChannelFeedback, outranks
from services.orchestrator.domain.frequency_caps import LedgerEntry
from services.orchestrator.instances import load_instance, save_instance
from services.orchestrator.ports import OrchestratorUnitOfWork

log = logging.getLogger(__name__)


def record_feedback(uow: OrchestratorUnitOfWork, feedback: ChannelFeedback) -> None:
    """Runs in the feedback consumer's transaction (no commit)."""
    entry = uow.send_ledger.get(feedback.tenant_id, feedback.send_id)
    if entry is None:
        log.info("feedback %s for unknown send %s", feedback.kind, feedback.send_id)
    else:
        if outranks(feedback.kind, entry.feedback):
            uow.send_ledger.record(replace(entry, feedback=feedback.kind))
        if entry.journey_id:
            _on_instance(uow, entry, feedback)
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


def _on_instance(
    uow: OrchestratorUnitOfWork, entry: LedgerEntry, feedback: ChannelFeedback
) -> None:
    """The run that made the send records the report once per send and kind (so its step
    counts it once), also when a merge has since moved the person's sends to the survivor
    and the run to the survivor's (it is found by the profile it ran for)."""
    instance = load_instance(uow, entry.tenant_id, entry.journey_id, entry.run_profile)
    if not instance.receive_feedback(entry.send_id, feedback.kind, uow.now()):
        log.info("feedback on send %s, which no run of %s sent", entry.send_id, entry.journey_id)
        return
    save_instance(uow, instance, feedback.send_id)

"""SendRequested -> the channel's SendCommand: render outside the transaction, publish in it.

The engine's transaction only records that a send passed its guards. This consumer's
`prepare` step (no transaction open) reads the template's published version, asks
identity for the traits the template reads and the channel's address, and renders; its
handler then publishes the SendCommand through the outbox, claimed once in the inbox. A
template that is not published (or does not render) turns the ledger entry into a
`no_template` suppression instead, and an address identity no longer holds (the guard
saw one; it was removed since) a `no_address` one; identity being down retries the
message, and a message still not rendered after the consumer's attempts is
dead-lettered, which `render_failures` records as the send's `failed` state (with the
reason): the ledger never says "sent" for a mail that never went.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from google.protobuf import json_format

from layercake.orchestrator.v1 import journey_pb2, send_pb2
from services.kernel.errors import InvalidArgument, NotFound
from services.kernel.messaging import subjects
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.service_layer import ServiceLayer
from services.orchestrator import definitions, mapping
from services.orchestrator.adapters.identity import PersonalTraits
from services.orchestrator.domain.channels import ADDRESS_TRAITS, address_of
from services.orchestrator.domain.frequency_caps import SendState
from services.orchestrator.domain.rendering import Content, render_content, traits_to_ask
from services.orchestrator.domain.sending import SuppressionReason
from services.orchestrator.ports import OrchestratorUnitOfWork
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork

DURABLE = "orchestrator-renderer"
FAILURES = "orchestrator-render-failures"


@dataclass(frozen=True)
class Rendered:
    """What `prepare` made of a SendRequested: the content, or why there is none."""

    requested: send_pb2.SendRequested
    template_version: int = 0
    content: Content | None = None
    address: str = ""
    problem: str = ""
    reason: SuppressionReason = SuppressionReason.NO_TEMPLATE  # when there is no content


def renderer(
    layer: ServiceLayer[SqlOrchestratorUnitOfWork], identity: PersonalTraits
) -> ConsumerSpec[OrchestratorUnitOfWork]:
    async def prepare(envelope: Envelope) -> Rendered:
        requested = send_pb2.SendRequested.FromString(envelope.payload)
        live = await layer.read(
            definitions.live_template, requested.tenant_id, requested.template_id
        )
        if live is None:
            return Rendered(requested, problem=f"template {requested.template_id} not published")
        version, template = live
        assert isinstance(template, journey_pb2.Template)
        profile = json_format.MessageToDict(requested.profile)
        names = traits_to_ask(template, requested.channel)
        try:
            traits = (
                await identity.traits(
                    requested.tenant_id,
                    requested.profile_id,
                    names,
                    purpose=f"send:{requested.send_id}",
                )
                if names
                else {}
            )
        except NotFound:
            return Rendered(requested, version, problem="identity knows no such profile")
        address = address_of(requested.channel, traits)
        if requested.channel in ADDRESS_TRAITS and not address:
            why = f"identity holds no {ADDRESS_TRAITS[requested.channel]}"
            return Rendered(requested, version, problem=why, reason=SuppressionReason.NO_ADDRESS)
        context = {
            "journey": requested.journey_id,
            "step": requested.step_id,
            "channel": requested.channel,
            "unsubscribe_url": "",
        }
        decision = json_format.MessageToDict(requested.decision)
        try:
            content = render_content(template, profile, traits, decision, context)
        except InvalidArgument as e:
            return Rendered(requested, version, problem=str(e)[:150])
        return Rendered(requested, version, content, address)

    return ConsumerSpec(
        durable=DURABLE,
        stream="ORCHESTRATOR",
        filter_subject=subjects.integration("*", "orchestrator", "send_requested"),
        handler=publish_command,
        prepare=prepare,
    )


def publish_command(uow: OrchestratorUnitOfWork, envelope: Envelope, rendered: Rendered) -> None:
    requested = rendered.requested
    if rendered.content is None:
        reason = f"{rendered.reason.value}: {rendered.problem}"
        settle_unsent(uow, requested, SendState.SUPPRESSED, reason)
        return
    uow.publish(
        mapping.send_command_message(
            requested, rendered.template_version, rendered.content, rendered.address, uow.now()
        )
    )


def render_failures() -> ConsumerSpec[OrchestratorUnitOfWork]:
    """The renderer's dead letters: each send it gave up on is recorded `failed`."""

    def apply(uow: OrchestratorUnitOfWork, envelope: Envelope) -> None:
        if envelope.type != mapping.SEND_REQUESTED:
            return
        requested = send_pb2.SendRequested.FromString(envelope.payload)
        why = envelope.dead_letter_error or "gave up"
        settle_unsent(uow, requested, SendState.FAILED, f"render_failed: {why}")

    return ConsumerSpec(FAILURES, "DEADLETTER", subjects.dead_letter("*", DURABLE), apply)


def settle_unsent(
    uow: OrchestratorUnitOfWork, requested: send_pb2.SendRequested, state: SendState, reason: str
) -> None:
    """A send that passed its guards (counted `sent`) went nowhere: its ledger entry says
    why, and its step counts it as `suppressed:<reason>` or `failed` too. Only a `sent`
    entry changes, so a repeat changes nothing."""
    entry = uow.send_ledger.get(requested.tenant_id, requested.send_id)
    if entry is None or entry.state is not SendState.SENT:
        return
    uow.send_ledger.record(replace(entry, state=state, reason=reason[:200], time=uow.now()))
    kind = reason.split(":")[0]
    metric = f"suppressed:{kind}" if state is SendState.SUPPRESSED else state.value
    counts = {(requested.journey_version, requested.step_id, metric): 1}
    uow.instance_records.add_counts(requested.tenant_id, requested.journey_id, counts)

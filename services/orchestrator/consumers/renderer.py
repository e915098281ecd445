"""SendRequested -> the channel's SendCommand: render outside the transaction, publish in it.

The engine's transaction only records that a send passed its guards. This consumer's
`prepare` step (no transaction open) reads the template's published version, asks
identity for the traits the template reads and the channel's address, and renders; its
handler then publishes the SendCommand through the outbox, claimed once in the inbox. A
template that is not published (or does not render) turns the ledger entry into a
`no_template` suppression instead; identity being down retries the message.
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
from services.orchestrator.domain.frequency_caps import SendState
from services.orchestrator.domain.rendering import (
    Content,
    address_of,
    render_content,
    traits_to_ask,
)
from services.orchestrator.domain.sending import SuppressionReason
from services.orchestrator.ports import OrchestratorUnitOfWork
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork

DURABLE = "orchestrator-renderer"


@dataclass(frozen=True)
class Rendered:
    """What `prepare` made of a SendRequested: the content, or why there is none."""

    requested: send_pb2.SendRequested
    template_version: int = 0
    content: Content | None = None
    address: str = ""
    problem: str = ""


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
        return Rendered(requested, version, content, address_of(requested.channel, traits))

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
        entry = uow.send_ledger.get(requested.tenant_id, requested.send_id)
        if entry is not None:
            reason = f"{SuppressionReason.NO_TEMPLATE.value}: {rendered.problem}"[:200]
            uow.send_ledger.record(replace(entry, state=SendState.SUPPRESSED, reason=reason))
        return
    uow.publish(
        mapping.send_command_message(
            requested, rendered.template_version, rendered.content, rendered.address, uow.now()
        )
    )

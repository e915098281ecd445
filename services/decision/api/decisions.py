"""The decision RPCs of DecisionService: Decide and RecordOutcome, proto in and out."""

from __future__ import annotations

import re
import uuid

from layercake.decision.v1 import decision_service_pb2 as pb
from services.decision import handlers, mapping
from services.decision.deciding import Decider
from services.decision.domain.decisions import MAX_ACTIONS, DecideCommand, Outcome
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel import ids
from services.kernel.errors import InvalidArgument, Violations
from services.kernel.protobuf import from_timestamp, plain_object
from services.kernel.rpc import calls, idempotency
from services.kernel.service_layer import ServiceLayer

ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")
PLACEMENT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
ACTION = PLACEMENT
ANSWERS_KEPT = 10_000
DECISIONS = uuid.UUID("5b0e8f2c-4d1a-4f5e-9a47-1d3c0a7b9e61")  # namespace of decision ids


def decision_id(tenant_id: str, request_id: str) -> str:
    """A retry's decision id is its first call's: derived from tenant and request id, so
    the log keeps one decision per request whichever replica answered the retry."""
    if not request_id:
        return ids.new_id()
    return str(uuid.uuid5(DECISIONS, f"{tenant_id}/{request_id}"))


class DecisionRpcs:
    """The servicer's decision methods; `DecisionServicer` delegates to them."""

    def __init__(self, layer: ServiceLayer[SqlDecisionUnitOfWork], decider: Decider) -> None:
        self.layer = layer
        self.decider = decider
        # recent answers by request, oldest first: a retry here gets the first answer
        self.answers: dict[idempotency.RequestKey, tuple[bytes, pb.DecideResponse]] = {}

    async def decide(self, request: pb.DecideRequest) -> pb.DecideResponse:
        tenant = calls.tenant_of(request.tenant_id)
        bad = Violations()
        if not ID.match(request.profile_id):
            bad.add("profile_id", "must be a profile id (1-64 letters, digits and ._:@-)")
        if not PLACEMENT.match(request.placement):
            bad.add("placement", "must be 1-100 lower-case letters, digits and ._-")
        if not 0 <= request.max_actions <= MAX_ACTIONS:
            bad.add("max_actions", f"must be in [0, {MAX_ACTIONS}] (0: the placement's)")
        bad.raise_if_any()
        key = idempotency.request_key(request.request_id)
        command = DecideCommand(
            tenant_id=tenant,
            profile_id=request.profile_id,
            placement=request.placement,
            context=plain_object(request.context),
            max_actions=request.max_actions,
            seed=request.seed,
            request_id=request.request_id,
            context_sent=request.context.SerializeToString(),
        )
        if key is not None:
            fingerprint = request.SerializeToString(deterministic=True)
            answered = self.answers.get(key)
            if answered is not None:
                if answered[0] != fingerprint:
                    raise InvalidArgument.field("request_id", "was used for another request")
                return answered[1]
        decision = await self.decider.decide(command, decision_id(tenant, request.request_id))
        response = mapping.decide_response(decision)
        if key is not None:
            self.answers[key] = (fingerprint, response)
            while len(self.answers) > ANSWERS_KEPT:
                self.answers.pop(next(iter(self.answers)))
        return response

    async def record_outcome(self, request: pb.RecordOutcomeRequest) -> pb.RecordOutcomeResponse:
        tenant = calls.tenant_of(request.tenant_id)
        bad = Violations()
        bad.require(request.decision_id, "decision_id")
        if not ACTION.match(request.action_id):
            bad.add("action_id", "must be an action id")
        bad.raise_if_any()
        outcome = Outcome(
            tenant_id=tenant,
            decision_id=request.decision_id[:64],
            action_id=request.action_id,
            kind=mapping.outcome_kind(request.outcome),
            outcome_time=(
                from_timestamp(request.outcome_time)
                if request.HasField("outcome_time")
                else self.decider.clock.now()
            ),
        )
        return await self.layer.run(
            idempotency.once,
            idempotency.request_key(request.request_id),
            request,
            pb.RecordOutcomeResponse,
            lambda uow: pb.RecordOutcomeResponse(recorded=handlers.record_outcome(uow, outcome)),
        )

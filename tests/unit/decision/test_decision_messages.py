"""A decision as its answer (`DecideResponse`) and as its log event (`DecisionMade`): the
same actions, reasons, attributes and exclusions in both, the request's context carried."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2

from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.decision.v1 import decisions_pb2, models_pb2
from services.decision import mapping
from services.decision.domain.arbitration import Scored
from services.decision.domain.decisions import DecideCommand, Decision, ModelUsed, VersionScore
from services.decision.domain.models import Stage

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
WATER = Scored(
    "water",
    0.25,
    2.0,
    1.5,
    1.0,
    reasons=("model", "explored"),
    explored=True,
    channel="kiosk",
    attributes={"product": "water", "size": "l"},
)
SODA = Scored("soda", 0.5, 1.0, 1.0, 0.5)


def decision(context: dict[str, Any], sent: bool, model: ModelUsed) -> Decision:
    sent_bytes = b""
    if sent:
        struct = struct_pb2.Struct()
        struct.update(context)
        sent_bytes = struct.SerializeToString()
    return Decision(
        decision_id="d-1",
        command=DecideCommand("acme", "p-1", "drinks", context, seed=7, context_sent=sent_bytes),
        decide_time=NOW,
        profile_version=3,
        model=model,
        fallback=not model.name,
        actions=(WATER, SODA),
        excluded=(("tea", ("cap reached",)), ("milk", ())),
        shadow_scores={"water": (VersionScore("2", Stage.SHADOW, 0.75),)},
    )


def expected_actions() -> list[dict[str, object]]:
    return [
        {
            "actionId": "water",
            "rank": 1,
            "score": 0.75,
            "propensity": 0.25,
            "value": 2.0,
            "contextWeight": 1.5,
            "lever": 1.0,
            "explored": True,
            "reasons": ["model", "explored"],
            "channel": "kiosk",
            "attributes": {"product": "water", "size": "l"},
        },
        {
            "actionId": "soda",
            "rank": 2,
            "score": 0.25,
            "propensity": 0.5,
            "value": 1.0,
            "contextWeight": 1.0,
            "lever": 0.5,
        },
    ]


def test_the_answer_carries_the_ranked_actions_and_exclusions() -> None:
    d = decision({"channel": "kiosk"}, True, ModelUsed("drinks", "1", Stage.CHALLENGER))
    response = pb.DecideResponse.FromString(mapping.decide_response(d).SerializeToString())
    as_json = json_format.MessageToDict(response)
    assert as_json["actions"] == expected_actions()
    assert as_json["excluded"] == [
        {"actionId": "tea", "reasons": ["cap reached"]},
        {"actionId": "milk"},
    ]
    assert (response.decision_id, response.model_name, response.model_version) == (
        "d-1",
        "drinks",
        "1",
    )
    assert response.model_stage == models_pb2.MODEL_STAGE_CHALLENGER
    assert not response.fallback


@pytest.mark.parametrize("sent", [True, False])
def test_the_log_event_carries_inputs_answer_and_shadow_scores(sent: bool) -> None:
    context: dict[str, Any] = {"channel": "kiosk", "basket": [1.0, "x"]}
    d = decision(context, sent, ModelUsed("drinks", "1", Stage.CHAMPION))
    message = mapping.decision_made(d)
    made = decisions_pb2.DecisionMade.FromString(message.payload)
    assert message.subject_ref == "d-1"
    assert (made.decision_id, made.tenant_id, made.profile_id, made.placement) == (
        "d-1",
        "acme",
        "p-1",
        "drinks",
    )
    assert json_format.MessageToDict(made.context) == context
    assert (made.seed, made.profile_version, made.decide_time.ToDatetime(UTC)) == (7, 3, NOW)
    assert made.model_stage == models_pb2.MODEL_STAGE_CHAMPION
    assert json_format.MessageToDict(made)["actions"] == expected_actions()
    assert [(e.action_id, list(e.reasons)) for e in made.excluded] == [
        ("tea", ["cap reached"]),
        ("milk", []),
    ]
    (shadow,) = made.shadow_scores
    assert shadow.action_id == "water"
    assert [(s.version, s.stage, s.score) for s in shadow.scores] == [
        ("2", models_pb2.MODEL_STAGE_SHADOW, 0.75)
    ]


def test_an_empty_context_is_present_and_a_fallback_names_no_model() -> None:
    made = decisions_pb2.DecisionMade.FromString(
        mapping.decision_made(decision({}, False, ModelUsed())).payload
    )
    assert made.HasField("context") and not made.context.fields
    assert (made.model_name, made.model_stage, made.fallback) == ("", 0, True)

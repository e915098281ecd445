"""Subject names, and that each lands in exactly one stream."""

from __future__ import annotations

import pytest

from services.kernel.messaging import subjects
from services.kernel.messaging.streams import STREAMS


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def streams_of(subject: str) -> list[str]:
    return [spec.name for spec in STREAMS if any(matches(p, subject) for p in spec.subjects)]


def test_subject_helpers() -> None:
    assert subjects.ingest("acme") == "layercake.acme.ingest"
    assert (
        subjects.integration("acme", "identity", "profile_merged")
        == "layercake.acme.identity.profile_merged"
    )
    assert subjects.dead_letter("acme", "identity-ingest") == "layercake.acme.dlq.identity-ingest"


@pytest.mark.parametrize(
    ("subject", "tenant"),
    [
        ("layercake.acme.ingest", "acme"),
        ("layercake.acme.identity.profile_merged", "acme"),
        ("layercake.acme", ""),
        ("other.acme.ingest", ""),
        ("layercake", ""),
    ],
)
def test_tenant_of(subject: str, tenant: str) -> None:
    assert subjects.tenant_of(subject) == tenant


@pytest.mark.parametrize(
    ("subject", "stream"),
    [
        (subjects.ingest("acme"), "INGEST"),
        (subjects.integration("acme", "identity", "profile_merged"), "IDENTITY"),
        (subjects.integration("acme", "orchestrator", "journey_published"), "ORCHESTRATOR"),
        (subjects.integration("acme", "decision", "decision_made"), "DECISION"),
        (subjects.integration("acme", "gateway", "api_key_revoked"), "GATEWAY"),
        (subjects.integration("acme", "facts", "stock_changed"), "FACTS"),
        ("layercake.acme.channel.email.send", "CHANNEL"),
        ("layercake.acme.channel.email.feedback", "FEEDBACK"),
        (subjects.dead_letter("acme", "identity-ingest"), "DEADLETTER"),
    ],
)
def test_each_subject_is_captured_by_exactly_one_stream(subject: str, stream: str) -> None:
    assert streams_of(subject) == [stream]


def test_the_matcher_itself() -> None:
    assert matches("layercake.*.identity.>", "layercake.a.identity.x.y")
    assert not matches("layercake.*.identity.>", "layercake.a.identity")
    assert not matches("layercake.*.ingest", "layercake.a.ingest.x")

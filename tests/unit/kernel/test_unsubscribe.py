"""Unsubscribe tokens: what a mail's link names comes back as it was signed, and nothing
altered, forged or signed under another deployment's secret opens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from layercake.channel.v1 import channel_pb2
from services.kernel.unsubscribe import (
    BadToken,
    Unsubscribe,
    UnsubscribeLinks,
    _b64,
    _unb64,
    feedback_message,
    unsubscribed,
)

SECRET = b"unit-test-internal-secret-0123456789abcdef"
LINKS = UnsubscribeLinks(SECRET, "https://mail.example.com/")
ANN = Unsubscribe("shop", "email", "send:i-1:remind", "p-ann")


def test_a_token_opens_to_the_send_it_names() -> None:
    assert LINKS.open(LINKS.token(ANN)) == ANN


def test_the_url_is_the_doors_path_under_the_base_url() -> None:
    url = LINKS.url(ANN)
    assert url.startswith("https://mail.example.com/v1/unsubscribe/")
    assert LINKS.open(url.rsplit("/", 1)[1]) == ANN


def test_a_token_names_no_address_in_the_clear_and_has_no_url_specials() -> None:
    token = LINKS.token(ANN)
    assert all(c.isalnum() or c in "-_." for c in token)


def test_a_token_rewritten_to_name_another_tenant_is_refused() -> None:
    mac = LINKS.token(ANN).partition(".")[2]
    other = LINKS.token(Unsubscribe("rival", "email", "send:i-1:remind", "p-ann"))
    assert other != LINKS.token(ANN)
    with pytest.raises(BadToken):
        LINKS.open(f"{other.partition('.')[0]}.{mac}")  # rival's send, ann's signature


@pytest.mark.parametrize("position", [0, 5, -1])
def test_a_token_with_one_byte_of_its_body_changed_is_refused(position: int) -> None:
    body, _, mac = LINKS.token(ANN).partition(".")
    raw = bytearray(_unb64(body))
    raw[position] ^= 1
    with pytest.raises(BadToken):
        LINKS.open(f"{_b64(bytes(raw))}.{mac}")


def test_a_token_signed_under_another_secret_is_refused() -> None:
    forged = UnsubscribeLinks(b"another-deployments-secret-0123456789ab").token(ANN)
    with pytest.raises(BadToken):
        LINKS.open(forged)


@pytest.mark.parametrize(
    "token",
    [
        "!" + LINKS.token(ANN),
        LINKS.token(ANN) + "=",
        "",
        ".",
        "abc",
        "abc.",
        ".abc",
        "!!.!!",
        "é.é",
        "a.b.c",
    ],
)
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(BadToken):
        LINKS.open(token)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        UnsubscribeLinks(b"short")


def test_an_unsubscribe_is_published_with_an_id_fixed_by_the_send() -> None:
    now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    first = feedback_message(unsubscribed(ANN, now), "gateway")
    again = feedback_message(unsubscribed(ANN, now.replace(hour=9)), "gateway")
    assert first.event_id == again.event_id  # a second click counts once
    assert first.subject == "layercake.shop.channel.email.feedback"
    report = channel_pb2.Feedback.FromString(first.payload)
    assert (report.kind, report.send_id, report.profile_id) == (
        channel_pb2.FEEDBACK_KIND_UNSUBSCRIBED,
        "send:i-1:remind",
        "p-ann",
    )
    delivered = channel_pb2.Feedback(
        tenant_id="shop",
        send_id="send:i-1:remind",
        channel="email",
        profile_id="p-ann",
        kind=channel_pb2.FEEDBACK_KIND_DELIVERED,
    )
    assert feedback_message(delivered, "channel-email").event_id != first.event_id

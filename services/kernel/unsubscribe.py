"""One-click unsubscribe links (RFC 8058): a mail names its send, signed so nobody can
forge or alter one.

The email adapter puts `List-Unsubscribe: <base/v1/unsubscribe/TOKEN>` on each mail; the
gateway's HTTP door opens the token and reports the person's unsubscribe as the adapter
reports any feedback. The token is `base64url(JSON [tenant, channel, send id, profile
id]).base64url(HMAC-SHA-256)` under the deployment's `LAYERCAKE_INTERNAL_SECRET` (the key
that signs internal calls; the signed text starts with its own tag, so neither signature
can stand for the other). Opaque to the person, it holds no address and no content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime

from layercake.channel.v1 import channel_pb2
from services.kernel.ids import stable_id
from services.kernel.messaging import subjects
from services.kernel.protobuf import to_timestamp
from services.kernel.rpc.signing import MIN_SECRET
from services.kernel.store.records import OutboxMessage

TAG = "unsubscribe-v1"
PATH = "/v1/unsubscribe/"
FEEDBACK = channel_pb2.Feedback.DESCRIPTOR.full_name


class BadToken(ValueError):
    """Not a token this deployment signed (forged, altered or cut)."""


@dataclass(frozen=True)
class Unsubscribe:
    """The send a valid token names."""

    tenant_id: str
    channel: str
    send_id: str
    profile_id: str


@dataclass(frozen=True)
class UnsubscribeLinks:
    """Signs links (the adapter, with `base_url`) and opens tokens (the gateway)."""

    secret: bytes = field(repr=False)
    base_url: str = ""  # e.g. https://mail.example.com; only signing needs it

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET:
            raise ValueError(f"the internal secret must have at least {MIN_SECRET} bytes")

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self.secret, TAG.encode() + b"\n" + body, hashlib.sha256).digest()

    def token(self, send: Unsubscribe) -> str:
        fields = [send.tenant_id, send.channel, send.send_id, send.profile_id]
        body = json.dumps(fields, separators=(",", ":")).encode()
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def url(self, send: Unsubscribe) -> str:
        return f"{self.base_url.rstrip('/')}{PATH}{self.token(send)}"

    def open(self, token: str) -> Unsubscribe:
        """The send the token names; BadToken unless this deployment signed it as it is."""
        head, _, mac = token.partition(".")
        try:
            body, given = _unb64(head), _unb64(mac)
        except (binascii.Error, ValueError):
            raise BadToken("malformed") from None
        if f"{_b64(body)}.{_b64(given)}" != token:  # one spelling per token
            raise BadToken("malformed")
        if not hmac.compare_digest(self._mac(body), given):
            raise BadToken("bad signature")
        fields = json.loads(body)
        if not (isinstance(fields, list) and len(fields) == 4):
            raise BadToken("malformed")
        if not all(isinstance(f, str) and f for f in fields):
            raise BadToken("malformed")
        return Unsubscribe(*fields)


def feedback_message(feedback: channel_pb2.Feedback, source: str) -> OutboxMessage:
    """Feedback as published on the channel's feedback subject; its event id is fixed by
    the send and the kind, so a repeat (a second click, a re-published report) counts once."""
    kind = channel_pb2.FeedbackKind.Name(feedback.kind).removeprefix("FEEDBACK_KIND_").lower()
    return OutboxMessage(
        subject=subjects.channel_feedback(feedback.tenant_id, feedback.channel),
        type=FEEDBACK,
        payload=feedback.SerializeToString(),
        tenant_id=feedback.tenant_id,
        event_id=stable_id(feedback.tenant_id, f"{feedback.send_id}:{kind}"),
        source=source,
        subject_ref=feedback.profile_id,
    )


def unsubscribed(send: Unsubscribe, now: datetime) -> channel_pb2.Feedback:
    """The person asked, through the mail's link, to hear no more."""
    return channel_pb2.Feedback(
        tenant_id=send.tenant_id,
        send_id=send.send_id,
        channel=send.channel,
        profile_id=send.profile_id,
        kind=channel_pb2.FEEDBACK_KIND_UNSUBSCRIBED,
        detail="one-click unsubscribe",
        occur_time=to_timestamp(now),
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text:
        raise ValueError("empty")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

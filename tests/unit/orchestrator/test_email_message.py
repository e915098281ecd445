"""A mail as the email adapter puts it on the wire: 7-bit whatever the text, with its
one-click unsubscribe link on one line."""

from __future__ import annotations

from email import message_from_bytes, policy

from layercake.channel.v1 import channel_pb2
from services.kernel.unsubscribe import UnsubscribeLinks
from services.orchestrator.channels.email import WIRE, message_of

LINKS = UnsubscribeLinks(b"k" * 40, "http://127.0.0.1:8088")


def command(subject: str, body: str) -> channel_pb2.SendCommand:
    c = channel_pb2.SendCommand(
        tenant_id="acme", channel="email", send_id="send:i-1:mail", profile_id="p-1"
    )
    c.address = "zoe@example.com"
    c.content.subject, c.content.body = subject, body
    return c


def test_non_ascii_text_goes_out_7_bit_and_reads_back_the_same() -> None:
    subject, body = "Zoë, 🍋 or water?", "Hi Zoë — two drinks for you.\n"
    wire = message_of(command(subject, body), "shop@example.com", LINKS).as_bytes(policy=WIRE)
    assert wire.isascii()
    read = message_from_bytes(wire, policy=policy.default)
    assert read["Subject"] == subject
    assert read.get_content().replace("\r\n", "\n") == body  # type: ignore[attr-defined]


def test_an_ascii_body_stays_plain_and_the_unsubscribe_link_is_one_line() -> None:
    wire = message_of(command("Hello", "Hi Ann.\n"), "shop@example.com", LINKS).as_bytes(
        policy=WIRE
    )
    read = message_from_bytes(wire, policy=policy.default)
    assert read["Content-Transfer-Encoding"] == "7bit"
    (line,) = [x for x in wire.split(b"\r\n") if x.startswith(b"List-Unsubscribe:")]
    assert line.startswith(b"List-Unsubscribe: <http://127.0.0.1:8088/v1/unsubscribe/")
    assert line.endswith(b">")

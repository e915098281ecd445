"""Email over SMTP with aiosmtplib, on a few reused connections.

The SendCommand's send id becomes the Message-ID, so a receiving system can also tell a
repeat (the adapter already delivers a repeated command once). The one repeat the adapter
cannot rule out is a mail the server accepted while the adapter stopped waiting for its
answer: so it waits long (`LAYERCAKE_SMTP_TIMEOUT`, 60 s; its batch is kept alive
meanwhile), and a mail sent again then carries the same Message-ID, which the local sink
and the mail systems that dedupe by it keep once.

Every mail carries a one-click unsubscribe (RFC 8058, which Gmail and Yahoo require of
bulk senders): `List-Unsubscribe` names a signed link to the gateway's HTTP door
(`services.kernel.unsubscribe`), and `List-Unsubscribe-Post` says a POST of it suffices.
"""

from __future__ import annotations

import asyncio
import contextlib
from email.message import EmailMessage
from email.policy import SMTP
from urllib.parse import urlsplit

import aiosmtplib

from layercake.channel.v1 import channel_pb2
from services.kernel.unsubscribe import Unsubscribe, UnsubscribeLinks
from services.orchestrator.channels.sender import Attempt, Result

# RFC 5322's line limit: the unsubscribe link is one long word, which the 78-character
# default (aiosmtplib's `send_message` too) would encode (RFC 2047) past any mail system
# reading it as a URL; so mails are flattened here and sent as bytes
WIRE = SMTP.clone(max_line_length=998)


def smtp_endpoint(url: str) -> tuple[str, int, bool]:
    """`smtp://host:port` (or `smtps://`, implicit TLS) -> host, port, TLS; ValueError else."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("must be smtp://host:port or smtps://host:port")
    tls = parts.scheme == "smtps"
    return parts.hostname, parts.port or (465 if tls else 25), tls


def message_of(
    command: channel_pb2.SendCommand, sender: str, links: UnsubscribeLinks
) -> EmailMessage:
    send = Unsubscribe(command.tenant_id, command.channel, command.send_id, command.profile_id)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = command.address
    message["Subject"] = command.content.subject
    message["Message-ID"] = f"<{command.send_id.replace(':', '.')}@layercake>"
    message["List-Unsubscribe"] = f"<{links.url(send)}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    body = command.content.body
    # 7-bit on the wire whatever the text, so no server needs 8BITMIME for it
    message.set_content(body, cte=None if body.isascii() else "quoted-printable")
    return message


class EmailSender:
    """Up to `connections` SMTP sessions, each reused for the mails sent over it."""

    def __init__(
        self,
        url: str,
        sender: str,
        links: UnsubscribeLinks,
        connections: int = 4,
        timeout: float = 60.0,
    ) -> None:
        self.host, self.port, self.tls = smtp_endpoint(url)
        self.sender = sender
        self.links = links
        self.timeout = timeout
        self._idle: asyncio.Queue[aiosmtplib.SMTP | None] = asyncio.Queue()
        for _ in range(connections):
            self._idle.put_nowait(None)  # a slot: connected on first use

    async def deliver(self, command: channel_pb2.SendCommand) -> Attempt:
        if not command.address:
            return Attempt(Result.BOUNCED, "no email address")
        client = await self._idle.get()
        try:
            if client is None or not client.is_connected:
                client = aiosmtplib.SMTP(
                    hostname=self.host, port=self.port, use_tls=self.tls, timeout=self.timeout
                )
                await client.connect()
            data = message_of(command, self.sender, self.links).as_bytes(policy=WIRE)
            errors, reply = await client.sendmail(self.sender, [command.address], data)
        except aiosmtplib.SMTPRecipientsRefused as e:
            return Attempt(Result.BOUNCED, str(e)[:300])
        except aiosmtplib.SMTPResponseException as e:
            await _drop(client)
            client = None
            result = Result.BOUNCED if 500 <= e.code < 600 else Result.RETRY
            return Attempt(result, f"{e.code} {e.message}"[:300])
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
            await _drop(client)
            client = None
            return Attempt(Result.RETRY, repr(e)[:300])
        finally:
            self._idle.put_nowait(client)
        if errors:
            return Attempt(Result.BOUNCED, str(errors)[:300])
        return Attempt(Result.DELIVERED, reply[:300])

    async def close(self) -> None:
        while not self._idle.empty():
            await _drop(self._idle.get_nowait())


async def _drop(client: aiosmtplib.SMTP | None) -> None:
    if client is not None and client.is_connected:
        with contextlib.suppress(Exception):
            await client.quit()
    if client is not None:
        client.close()

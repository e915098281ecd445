"""One-click unsubscribe on the gateway's HTTP door (RFC 8058): the link each mail carries.

`POST /v1/unsubscribe/{token}` with the body `List-Unsubscribe=One-Click` (what Gmail and
Yahoo send) reports the person's unsubscribe as the email adapter reports any feedback, on
`layercake.<tenant>.channel.<channel>.feedback`, with an event id fixed by the send: a
second click counts once. The orchestrator then withdraws consent through identity. `GET`
of the link answers a page with a button that POSTs, so a link scanner unsubscribes nobody.
No API key: the signed token is the authority; a token this deployment did not sign as it
is answers 404, saying nothing more.
"""

from __future__ import annotations

import html
import logging

from aiohttp import web
from nats.js import JetStreamContext

from services.kernel.clock import Clock
from services.kernel.messaging.envelope import headers_for
from services.kernel.unsubscribe import (
    PATH,
    BadToken,
    Unsubscribe,
    UnsubscribeLinks,
    feedback_message,
    unsubscribed,
)

log = logging.getLogger(__name__)

SOURCE = "gateway-unsubscribe"
ONE_CLICK = "One-Click"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Unsubscribe</title></head>
<body><form method="post" action="{action}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<p>Stop these emails?</p><button type="submit">Unsubscribe</button></form></body></html>
"""
DONE = """<!doctype html><html><head><meta charset="utf-8"><title>Unsubscribed</title></head>
<body><p>You are unsubscribed.</p></body></html>
"""


class UnsubscribeDoor:
    """The two routes, on the deployment's signing secret and the event log."""

    def __init__(
        self, links: UnsubscribeLinks, js: JetStreamContext, clock: Clock, timeout: float
    ) -> None:
        self.links = links
        self.js = js
        self.clock = clock
        self.timeout = timeout

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PATH + "{token}", self.confirm)
        app.router.add_post(PATH + "{token}", self.unsubscribe)

    def _send(self, request: web.Request) -> Unsubscribe:
        try:
            return self.links.open(request.match_info["token"])
        except BadToken:
            raise web.HTTPNotFound(text="not found") from None

    async def confirm(self, request: web.Request) -> web.StreamResponse:
        self._send(request)
        action = html.escape(request.path, quote=True)
        return web.Response(text=PAGE.format(action=action), content_type="text/html")

    async def unsubscribe(self, request: web.Request) -> web.StreamResponse:
        send = self._send(request)
        form = await request.post()
        if form.get("List-Unsubscribe") != ONE_CLICK:
            raise web.HTTPBadRequest(text="the body must be List-Unsubscribe=One-Click")
        now = self.clock.now()
        message = feedback_message(unsubscribed(send, now), SOURCE)
        try:
            await self.js.publish(
                message.subject,
                message.payload,
                timeout=self.timeout,
                headers=headers_for(message, now),
            )
        except Exception as e:
            log.warning("unsubscribe not recorded", extra={"error": repr(e)})
            raise web.HTTPServiceUnavailable(text="try again") from e
        log.info("unsubscribed", extra={"tenant": send.tenant_id, "send_id": send.send_id})
        return web.Response(text=DONE, content_type="text/html")

"""The Segment-compatible HTTP door, in the gateway process: Segment's and RudderStack's SDKs
pointed at it work unchanged.

`POST /v1/batch|track|identify|page|screen|alias|group` with HTTP Basic auth (the API key
as user name, the SDKs' write key), JSON bodies, gzip or not. Each request goes through the
same gatekeeper (key, scope, rate) and the same ingest handler as gRPC `Ingest`, so the
rules, bounds, dedupe window and durability are one. `GET /v1/profiles/{ref}` is
`GetProfile`; `/v1/unsubscribe/{token}` is the mails' one-click unsubscribe
(`services.gateway.unsubscribe`); `/healthz` says the process runs, `/readyz` that it can
take events.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from google.protobuf import json_format

from services.gateway import handlers
from services.gateway.api import profile_views, scopes
from services.gateway.api.auth import Gatekeeper
from services.gateway.api.profiles import SERVICE as PROFILES
from services.gateway.config import GatewayConfig
from services.gateway.ingest_commits import IngestCommits
from services.gateway.ports import GatewayUnitOfWork
from services.gateway.segment import answers
from services.gateway.segment.mapping import TYPES, translate_batch, translate_one
from services.gateway.tracking_plans import TrackingPlans
from services.gateway.unsubscribe import UnsubscribeDoor
from services.kernel.clock import Clock
from services.kernel.errors import InvalidArgument, LayercakeError, Unauthenticated
from services.kernel.principals import Scope
from services.kernel.rpc import calls
from services.kernel.service_layer import Layer

GET_PROFILE = f"/{PROFILES.full_name}/GetProfile"  # what `GET /v1/profiles/{ref}` is

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def api_key(authorization: str) -> str:
    """The key of `Basic base64(key:)` (Segment's write key as user name) or `Bearer key`."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return token.strip()
    if scheme.lower() != "basic":
        return ""
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[0].strip()


class SegmentDoor:
    """The HTTP routes, on the gateway's gatekeeper, ingest log, store and identity client."""

    def __init__(
        self,
        gate: Gatekeeper,
        commits: IngestCommits,
        layer: Layer[GatewayUnitOfWork],
        plans: TrackingPlans,
        profiles: handlers.ProfileDirectory,
        clock: Clock,
        config: GatewayConfig,
        timeout: float,
        ready: Callable[[], bool] = lambda: True,
        unsubscribe: UnsubscribeDoor | None = None,
    ) -> None:
        self.gate = gate
        self.commits = commits
        self.layer = layer
        self.plans = plans
        self.profiles = profiles
        self.clock = clock
        self.config = config
        self.timeout = timeout
        self.ready = ready
        self.unsubscribe = unsubscribe
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        # over the bound (after gzip is undone) aiohttp refuses to read on: no body bomb
        app = web.Application(client_max_size=self.config.max_request_bytes)
        app.router.add_post("/v1/batch", self._route(None))
        for kind in TYPES:
            app.router.add_post(f"/v1/{kind}", self._route(kind))
        app.router.add_get("/v1/profiles/{ref}", self.get_profile)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        if self.unsubscribe is not None:
            self.unsubscribe.add_routes(app)
        return app

    async def start(self, addr: str) -> str:
        """Serves on `addr` (`host:port`, port 0 for any); returns the address bound."""
        host, _, port = addr.rpartition(":")
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host or "0.0.0.0", int(port)).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        return f"{bound_host}:{bound_port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _route(self, kind: str | None) -> Handler:
        async def route(request: web.Request) -> web.StreamResponse:
            return await self.ingest(request, kind)

        return route

    async def ingest(self, request: web.Request, kind: str | None) -> web.StreamResponse:
        single = kind is not None
        with calls.serving(self._call(request)):
            try:
                key = self._key(request)
                body = await self._body(request)
                now = self.clock.now()
                parsed = self._json(body)
                translated = (
                    translate_one(parsed, kind, now) if kind else translate_batch(parsed, now)
                )
                cost = max(1, len(translated.events))
                caller = await self.gate.admit([("x-api-key", key)], Scope.INGEST, cost)
                outcomes = await handlers.ingest(
                    self.commits,
                    self.layer,
                    self.plans,
                    caller,
                    handlers.Ingest(
                        translated.events,
                        len(body),
                        now,
                        translated.sent_at,
                        self.config.limits(),
                        self.config.dedupe_window,
                        translated.refused,
                    ),
                )
            except LayercakeError as e:
                return answers.error(e, single)
        return answers.ingested(outcomes, single)

    async def get_profile(self, request: web.Request) -> web.StreamResponse:
        with calls.serving(self._call(request)):
            try:
                caller = await self.gate.admit(
                    [("x-api-key", self._key(request))], scopes.needed(GET_PROFILE)
                )
                found = await handlers.get_profile(self.profiles, caller, request.match_info["ref"])
            except LayercakeError as e:
                return answers.error(e, single=True)
        profile = json_format.MessageToDict(
            profile_views.profile_details(found), preserving_proto_field_name=True
        )
        return web.json_response({"profile": profile})

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "serving"})

    async def readyz(self, request: web.Request) -> web.StreamResponse:
        if self.ready():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready"}, status=503)

    def _call(self, request: web.Request) -> calls.Call:
        """The request as a call, so the identity lookup is signed for the key's principal
        and bounded by a deadline, as over gRPC."""
        return calls.Call(
            f"HTTP {request.method} {request.path[:80]}", time.monotonic() + self.timeout
        )

    @staticmethod
    def _key(request: web.Request) -> str:
        key = api_key(request.headers.get("Authorization", ""))
        if not key:
            raise Unauthenticated("send the API key as the user name of HTTP Basic auth")
        return key

    async def _body(self, request: web.Request) -> bytes:
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            limit = self.config.max_request_bytes
            raise InvalidArgument.field(
                "events",
                f"the request is over {limit} bytes (LAYERCAKE_GATEWAY_MAX_REQUEST_BYTES):"
                " send smaller batches",
            ) from None

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise InvalidArgument.field("", "the body is not JSON") from None

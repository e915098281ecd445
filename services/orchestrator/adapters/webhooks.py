"""A journey's webhook step over HTTP: the run's context as a JSON body, signed as every
webhook of the orchestrator is (`webhook_signing`: timestamp and body), so the receiver can
tell it came from this deployment and is no replay; called by the timer's prepare step
(never inside a transaction)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import httpx

from services.orchestrator.domain.instances.steps import RunTimer
from services.orchestrator.webhook_signing import signed_headers

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY = "Idempotency-Key"


class HttpWebhooks:
    """One shared client; a call answers the HTTP status, or `timeout` / `error`."""

    def __init__(
        self,
        secret: bytes,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.clock = clock
        self.client = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def call(self, tenant_id: str, run: RunTimer, key: str) -> str:
        """`key` is the same each time one visit of the step is tried (a retried fire) and
        differs between visits: it is in the signed body and the `Idempotency-Key` header, so
        the receiver can act once."""
        body = json.dumps(
            {
                "idempotency_key": key,
                "tenant_id": tenant_id,
                "journey_id": run.journey_id,
                "profile_id": run.profile_id,
                "run": run.run,
                "step_id": run.step_id,
            },
            sort_keys=True,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_KEY: key,
            **signed_headers(self.secret, body, self.clock()),
        }
        try:
            response = await self.client.post(run.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return "timeout"
        except httpx.HTTPError as e:
            log.warning("webhook call failed", extra={"url": run.url, "error": repr(e)})
            return "error"
        return str(response.status_code)

    async def close(self) -> None:
        await self.client.aclose()

"""A journey's webhook step over HTTP: the run's context as a JSON body, signed with
HMAC-SHA-256 so the receiver can tell it came from this deployment, called by the timer's
prepare step (never inside a transaction)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import httpx

from services.orchestrator.domain.instances.steps import RunTimer

log = logging.getLogger(__name__)

SIGNATURE = "X-Layercake-Signature"
IDEMPOTENCY_KEY = "Idempotency-Key"


def signature(secret: bytes, body: bytes) -> str:
    """`sha256=<hex>` of the body under the secret, as GitHub's webhooks sign theirs."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class HttpWebhooks:
    """One shared client; a call answers the HTTP status, or `timeout` / `error`."""

    def __init__(
        self, secret: bytes, timeout: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.secret = secret
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
            SIGNATURE: signature(self.secret, body),
            IDEMPOTENCY_KEY: key,
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

"""What the HTTP door answers, per Segment's Tracking API: 200 `{"success": true}` once every
event is durable (or a known duplicate), 400 with a JSON error naming each bad field (the
other events of the batch are kept, as over gRPC), 401, 429 with `Retry-After`.

The python SDK reads `code` and `message` of an error body; `errors` lists every field.
Echoed input is clipped, as in gRPC errors, so no answer or log line floods.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from aiohttp import web

from services.gateway.domain.ingest import Outcome, Status
from services.gateway.segment.mapping import segment_field
from services.kernel import errors
from services.kernel.clipping import DESCRIPTION_BYTES, FIELD_BYTES, clip

log = logging.getLogger(__name__)

# (HTTP status, Segment-style code) of each error family; the first match wins
_STATUSES: tuple[tuple[type[errors.LayercakeError], int, str], ...] = (
    (errors.InvalidArgument, 400, "invalid_request"),
    (errors.Unauthenticated, 401, "unauthorized"),
    (errors.PermissionDenied, 403, "forbidden"),
    (errors.NotFound, 404, "not_found"),
    (errors.ResourceExhausted, 429, "rate_limited"),
    (errors.FailedPrecondition, 400, "failed_precondition"),
    (errors.DeadlineExceeded, 504, "deadline_exceeded"),
    (errors.Unavailable, 503, "unavailable"),
)


def _violation(field: str, description: str, single: bool) -> dict[str, str]:
    return {
        "field": clip(segment_field(field, single), FIELD_BYTES),
        "description": clip(description, DESCRIPTION_BYTES),
    }


def _body(code: str, message: str, **more: object) -> dict[str, object]:
    return {"success": False, "code": code, "message": clip(message, DESCRIPTION_BYTES)} | more


def error(e: errors.LayercakeError, single: bool) -> web.Response:
    """The answer to a refused request (Segment's names in field paths)."""
    status, code = next(((s, c) for t, s, c in _STATUSES if isinstance(e, t)), (500, "internal"))
    headers: dict[str, str] = {}
    if isinstance(e, errors.ResourceExhausted):
        if e.retry_after is None:  # no wait makes it fit: a bad request, not a busy gateway
            status, code = 400, "request_too_large"
        else:
            headers["Retry-After"] = str(max(1, math.ceil(e.retry_after)))
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="layercake", charset="UTF-8"'
    if status == 500:
        log.error("http door failed", extra={"error": clip(repr(e), DESCRIPTION_BYTES)})
    found = [_violation(v.field, v.description, single) for v in e.violations]
    message = "; ".join(f"{v['field']}: {v['description']}".lstrip(": ") for v in found)
    body = _body(code, message or str(e), errors=found) if found else _body(code, str(e))
    return web.json_response(body, status=status, headers=headers)


def ingested(outcomes: Sequence[Outcome], single: bool) -> web.Response:
    """200 when every event is accepted or a duplicate; else 400 naming each rejected
    event's fields (its good events are kept all the same)."""
    counts = {s.value: sum(o.status is s for o in outcomes) for s in Status}
    rejected = [o for o in outcomes if o.status is Status.REJECTED]
    if not rejected:
        return web.json_response({"success": True} | counts)
    found = [_violation(v.field, v.description, single) for o in rejected for v in o.violations]
    message = "; ".join(f"{v['field']}: {v['description']}" for v in found[:3])
    return web.json_response(_body("invalid_request", message, errors=found) | counts, status=400)

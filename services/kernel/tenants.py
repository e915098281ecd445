"""What a tenant id may be: it becomes a token of every NATS subject."""

from __future__ import annotations

import re

TENANT_ID = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


def is_tenant_id(value: str) -> bool:
    """Tenant ids are NATS subject tokens: lower-case letters, digits, dashes."""
    return bool(TENANT_ID.match(value))

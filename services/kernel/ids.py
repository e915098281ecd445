"""Identifier helpers shared by all services."""

from __future__ import annotations

import re
import uuid

TENANT_ID = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


def new_id() -> str:
    return str(uuid.uuid4())


def is_tenant_id(value: str) -> bool:
    """Tenant ids are NATS subject tokens: lower-case letters, digits, dashes."""
    return bool(TENANT_ID.match(value))

"""The identifier types and consent purposes the platform knows (DESIGN.md, "Identity").

One definition: the gateway refuses an event naming anything else, identity applies
what passes, so an event the edge accepted is never one identity must dead-letter.
"""

from __future__ import annotations

import re

IDENTIFIER_TYPES = frozenset(
    {"anonymous_id", "user_id", "email", "phone", "device_id", "cookie_id", "crm_id"}
)
# `partner:<name>`: a partner's own id space, one type per partner
PARTNER_TYPE = re.compile(r"^partner:[a-z0-9][a-z0-9_-]{0,62}$")
CONSENT_PURPOSES = frozenset(
    {"email_marketing", "sms_marketing", "advertising", "personalization", "analytics"}
)


def is_identifier_type(name: str) -> bool:
    return name in IDENTIFIER_TYPES or bool(PARTNER_TYPE.match(name))

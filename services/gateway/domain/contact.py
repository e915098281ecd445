"""Is this an email address or a phone number at all? A malformed one is reported to the
sender rather than stored as an identifier that could never match a person."""

from __future__ import annotations

import re

import phonenumbers

SHAPE_REGION = "US"  # any region reads a national number's shape alike; identity assigns it
MAX_EMAIL = 254  # RFC 5321's path limit
# one @, no spaces, a dot in the domain: what a mailbox needs, not all RFC 5322 allows
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")


def email_problem(value: str) -> str:
    """Why `value` is no email address; empty when it may be one."""
    if len(value) > MAX_EMAIL:
        return f"must be at most {MAX_EMAIL} characters"
    if not _EMAIL.fullmatch(value.strip()):
        return "is not an email address (name@domain.tld)"
    return ""


def phone_problem(value: str) -> str:
    """Why `value` is no phone number; empty when it may be one. A number in international
    form (`+<country code>…`) must be possible for its country; a national one is only
    read for its shape, since its country is the tenant's (identity's default region)."""
    international = value.strip().startswith("+")
    try:
        number = phonenumbers.parse(value, None if international else SHAPE_REGION)
    except phonenumbers.NumberParseException:
        return "is not a phone number (+<country code><number>, or a national number)"
    if international and not phonenumbers.is_possible_number(number):
        return "is not a possible phone number for its country code"
    return ""

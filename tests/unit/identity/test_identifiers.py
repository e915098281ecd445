import hashlib

import pytest

from services.identity.domain.errors import BadIdentifier
from services.identity.domain.identifiers import DEFAULT_TYPES, Identifier, normalise, parse_ref
from services.kernel.vocabulary import IDENTIFIER_TYPES


def test_email_is_trimmed_lowercased_and_hashed() -> None:
    ident = normalise("email", "  Ann@Example.COM ")
    assert ident == Identifier("email", hashlib.sha256(b"ann@example.com").hexdigest(), True)


def test_phone_keeps_digits_and_plus_then_hashes() -> None:
    assert normalise("phone", "+1 (312) 555-0100") == normalise("phone", "+13125550100")
    assert normalise("phone", "+13125550100").hashed


def test_cookie_is_kept_in_clear() -> None:
    assert normalise("cookie_id", " ck-81 ") == Identifier("cookie_id", "ck-81")


def test_partner_types_are_allowed_and_unknown_types_refused() -> None:
    assert normalise("partner:acme", "x1").type == "partner:acme"
    with pytest.raises(BadIdentifier):
        normalise("shoe_size", "42")
    with pytest.raises(BadIdentifier):
        normalise("cookie_id", "   ")


def test_profile_ref_by_identifier_or_profile_id() -> None:
    assert parse_ref("email:Ann@example.com") == normalise("email", "ann@example.com")
    assert parse_ref("partner:acme:p-1") == Identifier("partner:acme", "p-1")
    assert parse_ref("1b6e0c1e-profile") == "1b6e0c1e-profile"
    with pytest.raises(BadIdentifier):
        parse_ref("email:   ")


def test_identity_has_rules_for_exactly_the_platforms_identifier_types() -> None:
    assert set(DEFAULT_TYPES) == IDENTIFIER_TYPES

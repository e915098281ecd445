import hashlib
import hmac

import pytest

from layercake.identity.v1 import identifier_rules_pb2 as pb
from services.identity.domain.errors import BadIdentifier
from services.identity.domain.identifiers import Identifier, normalise, split_ref
from services.identity.domain.rule_content import rules_from_content
from services.identity.domain.rules import DEFAULT_RULES, DEFAULT_TYPES, parse_limit
from services.kernel.vocabulary import IDENTIFIER_TYPES

KEY = b"k" * 32


def keyed(value: str) -> str:
    return hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()


def norm(type_name: str, raw: str) -> Identifier | None:
    return normalise(type_name, raw, DEFAULT_RULES, keyed)


def test_emails_are_trimmed_lower_cased_and_hashed_with_the_tenant_key() -> None:
    ident = norm("email", "  Ann@Example.COM ")
    assert ident == Identifier("email", keyed("ann@example.com"), hashed=True)
    assert ident.value != hashlib.sha256(b"ann@example.com").hexdigest()  # not a plain hash


@pytest.mark.parametrize("raw", ["+1 (312) 555-0100", "312-555-0100", "(312) 555 0100"])
def test_phones_become_e164_before_hashing(raw: str) -> None:
    assert norm("phone", raw) == Identifier("phone", keyed("+13125550100"), hashed=True)


def test_other_types_are_trimmed_and_kept_in_clear() -> None:
    assert norm("cookie_id", " ck-81 ") == Identifier("cookie_id", "ck-81")
    assert norm("partner:acme", "x1") == Identifier("partner:acme", "x1")


@pytest.mark.parametrize(
    ("type_name", "raw"), [("cookie_id", "null"), ("user_id", " 0 "), ("email", "TEST@test.com ")]
)
def test_blocklisted_junk_values_never_match(type_name: str, raw: str) -> None:
    assert norm(type_name, raw) is None


def test_unknown_types_empty_values_and_non_numbers_are_bad() -> None:
    for type_name, raw in [("shoe_size", "42"), ("cookie_id", "   "), ("phone", "call me")]:
        with pytest.raises(BadIdentifier):
            norm(type_name, raw)


def test_refs_name_an_identifier_type_or_a_profile() -> None:
    assert split_ref("email:Ann@example.com") == ("email", "Ann@example.com")
    assert split_ref("partner:acme:p-1") == ("partner:acme", "p-1")
    assert split_ref("1b6e0c1e-profile") is None


def test_limits_read_as_a_count_optionally_per_window() -> None:
    assert parse_limit("5") == (5, None)
    assert parse_limit("5 per week")[1] is not None
    for bad in ("0", "five", "5 per fortnight"):
        with pytest.raises(ValueError, match="limit"):
            parse_limit(bad)


def test_identity_has_rules_for_exactly_the_platforms_identifier_types() -> None:
    assert set(DEFAULT_TYPES) == IDENTIFIER_TYPES


def test_published_rule_content_overrides_only_what_it_names() -> None:
    content = pb.IdentifierRules(
        types=[
            pb.IdentifierTypeRule(type="partner:*", priority=45, limit="3 per day"),
            pb.IdentifierTypeRule(type="partner:acme", priority=95, limit="1"),
            pb.IdentifierTypeRule(type="email", priority=10, limit="2"),
        ],
        default_region="GB",
    )
    rules = rules_from_content(content)
    assert rules.rule("partner:other").window is not None and rules.rule("partner:other").limit == 3
    assert rules.rule("partner:acme").priority == 95
    assert rules.rule("email").hashed and rules.rule("email").limit == 2
    assert rules.rule("user_id") == DEFAULT_TYPES["user_id"]
    assert rules.blocklist == DEFAULT_RULES.blocklist
    assert normalise("phone", "020 7946 0018", rules, keyed) == normalise(
        "phone", "+44 20 7946 0018", DEFAULT_RULES, keyed
    )

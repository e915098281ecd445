"""CEL rules are compiled once, when their asset is saved: every problem names asset,
field and line:column, and no expression can get past the size limits to the parser."""

from __future__ import annotations

import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2

from services.kernel import rules
from services.kernel.errors import InvalidArgument
from services.kernel.rpc.status import to_status
from services.kernel.rules.lexer import Kind, tokenize

FIELD = "steps[2].branch[0].when"
ASSET = "journey abandoned-cart"


def problem(text: str, declarations: rules.Declarations = rules.CONDITION, **limits: int) -> str:
    with pytest.raises(rules.RuleError) as caught:
        rules.compile_rule(
            text, declarations, asset=ASSET, field=FIELD, limits=rules.Limits(**limits)
        )
    [violation] = caught.value.violations
    assert violation.field == FIELD
    return violation.description


def test_a_syntax_error_names_asset_field_and_line_and_column() -> None:
    text = 'profile.traits.country == "US" &&\n  (event.properties.total > '
    description = problem(text)
    assert description.startswith(f"{ASSET} at 2:29: syntax error: ")
    assert "mismatched input '<EOF>'" in description


def test_the_validation_error_is_invalid_argument_with_a_bad_request_violation() -> None:
    with pytest.raises(InvalidArgument) as caught:
        rules.compile_rule("1 +", rules.CONDITION, asset=ASSET, field=FIELD)
    status = status_pb2.Status.FromString(
        dict(to_status(caught.value).trailing_metadata)["grpc-status-details-bin"]
    )
    assert status.code == code_pb2.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details)
    assert bad.field_violations[0].field == FIELD
    assert f"{ASSET} at 1:4" in bad.field_violations[0].description


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("profle.traits.country == 'US'", "at 1:1: undeclared reference to 'profle'"),
        ("event.name == 'x' && profile.trait.x == 1", "at 1:30: profile has no field 'trait'"),
        ("decision.prodcut == 'water'", "at 1:10: decision has no field 'prodcut'"),
        ("profile.traits.name.lowerAscii() == 'ann'", "at 1:21: unknown function 'lowerAscii'"),
        ("upper(profile.id) == 'X'", "at 1:1: unknown function 'upper'"),
        ("facts.stok('water', 's-1') > 0", "at 1:1: undeclared reference to 'facts'"),
    ],
)
def test_references_are_checked_against_the_declarations(text: str, expected: str) -> None:
    assert expected in problem(text)


def test_a_variable_the_asset_kind_does_not_declare_is_refused() -> None:
    assert "undeclared reference to 'event' (declared: profile)" in problem(
        "event.name == 'signup'", rules.AUDIENCE
    )


def test_maps_accept_any_key_strings_and_comments_are_not_references() -> None:
    rule = rules.compile_rule(
        'profile.traits.anything == "profle.trait" // profle in a comment\n'
        '&& [1, 2].exists(n, n > 1) && has(event.properties.total) && r"\\d".size() == 2',
        rules.CONDITION,
        asset=ASSET,
        field=FIELD,
    )
    assert rule.nodes > 0


@pytest.mark.parametrize(
    ("text", "limits", "expected"),
    [
        (
            "1 == 1" + " && true" * 1000,
            {},
            "at 1:4097: expression is 8006 characters; at most 4096",
        ),
        # the Rust parser overflows its stack on a chain like this (tens of thousands of terms)
        ("1" + "+1" * 600, {"max_length": 100_000}, "expression has 1201 terms; at most 1000"),
        ("(" * 40 + "1" + ")" * 40 + " == 1", {}, "brackets nest 40 deep; at most 32"),
        (
            "profile.audiences.all(a, profile.audiences.all(b, profile.audiences.all(c, "
            "profile.audiences.all(d, a + b + c + d != ''))))",
            {},
            "loops nest 4 deep; at most 3",
        ),
        ("   // nothing but a comment", {}, "at 1:1: expression is empty"),
    ],
)
def test_size_limits_are_enforced_before_the_parser_sees_the_text(
    text: str, limits: dict[str, int], expected: str
) -> None:
    assert expected in problem(text, **limits)


def test_a_long_expression_is_not_echoed_back_whole() -> None:
    assert len(problem("'" + "x" * 3000)) < 300


def test_every_bad_field_of_an_asset_is_reported_at_once() -> None:
    with pytest.raises(InvalidArgument) as caught:
        rules.compile_rules(
            {
                "entry.when": "event.properties.total > 20.0",
                "steps[1].branch[0].when": "1 +",
                "steps[3].branch[0].when": "profile.nope",
            },
            rules.CONDITION,
            asset=ASSET,
        )
    assert [v.field for v in caught.value.violations] == [
        "steps[1].branch[0].when",
        "steps[3].branch[0].when",
    ]


def test_compiled_programs_are_cached_by_text_and_declarations() -> None:
    text = "profile.computed.purchases_30d >= 3"
    first = rules.compile_rule(text, rules.AUDIENCE, asset="audience a", field="rule")
    again = rules.compile_rule(text, rules.AUDIENCE, asset="audience b", field="rule")
    other = rules.compile_rule(text, rules.CONDITION, asset="audience a", field="rule")
    assert first is again
    assert other is not first


def test_tokens_carry_one_based_line_and_column() -> None:
    tokens = tokenize("a &&\n  b'''x\ny''' == r'\\d'")
    assert [(t.kind, t.text, t.line, t.column) for t in tokens] == [
        (Kind.IDENT, "a", 1, 1),
        (Kind.PUNCT, "&&", 1, 3),
        (Kind.STRING, "b'''x\ny'''", 2, 3),  # bytes, triple-quoted, two lines
        (Kind.PUNCT, "==", 3, 6),
        (Kind.STRING, "r'\\d'", 3, 9),
    ]

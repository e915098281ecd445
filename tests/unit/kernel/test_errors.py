"""The Violations collector reports every bad field of a request at once."""

from __future__ import annotations

import pytest

from services.kernel.errors import FieldViolation, InvalidArgument, LayercakeError, Violations


def test_no_violations_raise_nothing() -> None:
    v = Violations()
    v.require("acme", "tenant_id")
    v.require(3, "limit")
    v.raise_if_any()
    assert v.items == []


@pytest.mark.parametrize("empty", ["", 0, None, [], {}])
def test_require_refuses_empty_values(empty: object) -> None:
    v = Violations()
    v.require(empty, "profile_ref")
    assert v.items == [FieldViolation("profile_ref", "is required")]


def test_every_violation_is_reported_in_order() -> None:
    v = Violations()
    v.require("", "tenant_id")
    v.add("events[1].type", "must be track or identify")
    v.require("x", "profile_ref")
    with pytest.raises(InvalidArgument) as raised:
        v.raise_if_any()
    assert raised.value.violations == (
        FieldViolation("tenant_id", "is required"),
        FieldViolation("events[1].type", "must be track or identify"),
    )
    assert str(raised.value) == (
        "tenant_id: is required; events[1].type: must be track or identify"
    )
    assert isinstance(raised.value, LayercakeError)
    assert raised.value.reason == "INVALID_ARGUMENT"


def test_single_field_shortcut() -> None:
    error = InvalidArgument.field("journey.steps[0].id", "is duplicated")
    assert error.violations == (FieldViolation("journey.steps[0].id", "is duplicated"),)

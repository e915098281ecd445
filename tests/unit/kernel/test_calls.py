"""The current call: its deadline bounds outgoing calls, its principal decides the tenant."""

from __future__ import annotations

import time

import pytest

from services.kernel.errors import DeadlineExceeded, PermissionDenied, Unauthenticated
from services.kernel.principals import Actor, Principal
from services.kernel.rpc import calls
from services.kernel.rpc.client import deadline_for

ANN = Principal("acme", Actor.system("api_key:k1"))


def test_outside_a_call_a_peer_call_keeps_its_own_timeout() -> None:
    assert calls.current_call() is None and calls.remaining_time() is None
    assert deadline_for(5.0) == 5.0


def test_inside_a_call_the_smaller_of_the_timeout_and_what_is_left_wins() -> None:
    with calls.serving(calls.Call("/m", deadline=time.monotonic() + 100)):
        assert deadline_for(5.0) == 5.0
        assert 99 < deadline_for(500.0) <= 100
    past = calls.Call("/m", deadline=time.monotonic() - 1)
    with calls.serving(past), pytest.raises(DeadlineExceeded):
        deadline_for(5.0)


def test_the_principal_is_set_once_admitted_and_decides_the_tenant() -> None:
    with calls.serving(calls.Call("/m")):
        with pytest.raises(Unauthenticated):
            calls.current_principal()
        calls.act_as(ANN)
        assert calls.current_principal() == ANN
        assert calls.tenant_of("") == calls.tenant_of("acme") == "acme"
        with pytest.raises(PermissionDenied, match="not 'globex'"):
            calls.tenant_of("globex")
    assert calls.current_call() is None


def test_act_as_outside_a_call_changes_nothing() -> None:
    calls.act_as(ANN)
    assert calls.current_call() is None
    with pytest.raises(Unauthenticated):
        calls.current_principal()

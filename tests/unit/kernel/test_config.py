"""Settings come from LAYERCAKE_* variables; a bad one names itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.kernel.config import GRPC_PORTS, load_settings
from services.kernel.errors import ConfigError
from tests.signing import ENV as SIGNING


def test_defaults_follow_the_port_table() -> None:
    s = load_settings("identity", {})
    assert s.service == "identity"
    assert s.grpc_addr == "127.0.0.1:50052"
    assert s.metrics_port == 9102
    assert s.nats_url == "nats://127.0.0.1:4322"
    assert s.state_dir == Path(".layercake")
    assert s.database_url == "sqlite:///" + str(Path(".layercake") / "identity.db")
    assert (s.identity_addr, s.orchestrator_addr, s.decision_addr) == (
        "127.0.0.1:50052",
        "127.0.0.1:50053",
        "127.0.0.1:50054",
    )
    assert s.max_deliver == 5
    assert s.log_level == "INFO"


@pytest.mark.parametrize("service", sorted(GRPC_PORTS))
def test_every_service_gets_its_own_ports_and_database(service: str) -> None:
    s = load_settings(service, {})
    assert s.grpc_addr == f"127.0.0.1:{GRPC_PORTS[service]}"
    assert s.database_url.endswith(f"{service}.db")


def test_variables_override_defaults_and_state_dir_moves_the_database(tmp_path: Path) -> None:
    s = load_settings(
        "decision",
        {
            "LAYERCAKE_STATE_DIR": str(tmp_path),
            "LAYERCAKE_DECISION_ADDR": "0.0.0.0:6000",
            "LAYERCAKE_DECISION_METRICS_PORT": "0",
            "LAYERCAKE_NATS_URL": "tls://nats.internal:4222",
            "LAYERCAKE_LOG_LEVEL": "debug",
            "LAYERCAKE_MAX_DELIVER": "9",
            "LAYERCAKE_RPC_TIMEOUT": "0.5",
            "LAYERCAKE_RPC_SERVER_TIMEOUT": "12",
            "LAYERCAKE_MAX_EVENT_BYTES": "65536",
            "LAYERCAKE_SNAPSHOT_EVERY": "0",
            "LAYERCAKE_REQUEST_RETENTION": "3600",
            # Another service's variable must not leak into this one.
            "LAYERCAKE_IDENTITY_METRICS_PORT": "not-a-port",
        },
    )
    assert s.grpc_addr == "0.0.0.0:6000"
    assert s.decision_addr == "0.0.0.0:6000"
    assert s.metrics_port == 0
    assert s.nats_url == "tls://nats.internal:4222"
    assert s.log_level == "DEBUG"
    assert s.max_deliver == 9
    assert (s.rpc_timeout, s.rpc_server_timeout) == (0.5, 12.0)
    assert (s.max_event_bytes, s.snapshot_every) == (65536, 0)
    assert s.request_retention == 3600.0
    assert load_settings("decision", {}).request_retention == 7 * 24 * 3600.0
    assert s.state_dir == tmp_path
    assert s.database_url == f"sqlite:///{tmp_path / 'decision.db'}"


def test_database_url_variable_wins_over_state_dir() -> None:
    url = "postgresql://u@db:5432/identity"
    s = load_settings(
        "identity", {"LAYERCAKE_IDENTITY_DATABASE_URL": url, "LAYERCAKE_STATE_DIR": "/x"}
    )
    assert s.database_url == url


def test_process_environment_is_read_when_no_mapping_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAYERCAKE_GATEWAY_METRICS_PORT", "9999")
    assert load_settings("gateway").metrics_port == 9999


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LAYERCAKE_IDENTITY_METRICS_PORT", "abc"),
        ("LAYERCAKE_IDENTITY_METRICS_PORT", "70000"),
        ("LAYERCAKE_IDENTITY_ADDR", "no-port"),
        ("LAYERCAKE_ORCHESTRATOR_ADDR", ":50053"),
        ("LAYERCAKE_NATS_URL", "http://127.0.0.1:4222"),
        ("LAYERCAKE_LOG_LEVEL", "chatty"),
        ("LAYERCAKE_RPC_TIMEOUT", "0"),
        ("LAYERCAKE_RPC_SERVER_TIMEOUT", "0"),
        ("LAYERCAKE_RPC_SERVER_TIMEOUT", "4"),  # less than a peer call's 5 s
        ("LAYERCAKE_IDENTITY_DB_WORKERS", "0"),
        ("LAYERCAKE_MAX_DELIVER", "-1"),
        ("LAYERCAKE_CONSUMER_BATCH", "100000"),
        ("LAYERCAKE_MAX_EVENT_BYTES", "10"),
        ("LAYERCAKE_SNAPSHOT_EVERY", "-5"),
        ("LAYERCAKE_TIMER_POLL_INTERVAL", "0"),
        ("LAYERCAKE_TIMER_BATCH", "0"),
        ("LAYERCAKE_TIMER_LEASE", "-1"),
        ("LAYERCAKE_REQUEST_RETENTION", "0"),
    ],
)
def test_a_bad_value_raises_config_error_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings("identity", {variable: value})
    message = str(raised.value)
    assert variable in message
    assert repr(value) in message


def test_the_timer_scheduler_is_tuned_by_its_variables() -> None:
    s = load_settings("orchestrator", {})
    assert (s.timer_poll_interval, s.timer_batch, s.timer_lease) == (0.5, 256, 30.0)
    s = load_settings(
        "orchestrator",
        {
            "LAYERCAKE_TIMER_POLL_INTERVAL": "0.05",
            "LAYERCAKE_TIMER_BATCH": "64",
            "LAYERCAKE_TIMER_LEASE": "120",
        },
    )
    assert (s.timer_poll_interval, s.timer_batch, s.timer_lease) == (0.05, 64, 120.0)


def test_every_bad_variable_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(
            "gateway",
            {"LAYERCAKE_GATEWAY_METRICS_PORT": "x", "LAYERCAKE_NATS_URL": "localhost:4222"},
        )
    assert "LAYERCAKE_GATEWAY_METRICS_PORT" in str(raised.value)
    assert "LAYERCAKE_NATS_URL" in str(raised.value)


def test_unknown_service_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="billing"):
        load_settings("billing", {})


def test_the_server_bound_on_a_call_is_a_setting_with_room_for_a_peer_call() -> None:
    s = load_settings("identity", {})
    assert (s.rpc_timeout, s.rpc_server_timeout) == (5.0, 30.0)
    with pytest.raises(
        ConfigError, match=r"LAYERCAKE_RPC_SERVER_TIMEOUT='2': .*LAYERCAKE_RPC_TIMEOUT"
    ):
        load_settings("identity", {"LAYERCAKE_RPC_SERVER_TIMEOUT": "2"})


def test_a_huge_bad_value_is_clipped_in_the_message() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings("identity", {"LAYERCAKE_LOG_LEVEL": "x" * 100_000})
    assert len(str(raised.value)) < 1000


def test_serving_needs_a_long_internal_secret_that_is_never_echoed() -> None:
    with pytest.raises(ConfigError, match="LAYERCAKE_INTERNAL_SECRET='<unset>': required to serve"):
        load_settings("identity", {}).internal_calls()
    with pytest.raises(ConfigError) as short:
        load_settings("identity", {"LAYERCAKE_INTERNAL_SECRET": "hunter2"})
    assert "LAYERCAKE_INTERNAL_SECRET='<secret>': " in str(short.value)
    assert "hunter2" not in str(short.value)
    s = load_settings("identity", SIGNING)
    assert s.internal_calls() is not None
    assert SIGNING["LAYERCAKE_INTERNAL_SECRET"] not in repr(s)

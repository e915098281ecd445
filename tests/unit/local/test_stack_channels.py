"""`make run` starts both channel adapters, and an SMTP sink and an HTTP sink unless a
server is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.local.stack import LocalStack


def test_a_fresh_machine_gets_sinks_and_both_adapters_pointed_at_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAYERCAKE_SMTP_URL", raising=False)
    monkeypatch.delenv("LAYERCAKE_WEBHOOK_URL", raising=False)
    stack = LocalStack(tmp_path, channels=True)
    assert stack.extras() == ("smtp-sink", "webhook-sink", "channel-email", "channel-webhook")
    assert stack.env()["LAYERCAKE_SMTP_URL"] == f"smtp://127.0.0.1:{stack.ports.smtp}"
    assert stack.env()["LAYERCAKE_WEBHOOK_URL"] == f"http://127.0.0.1:{stack.ports.webhook}/hooks"
    assert stack.command("smtp-sink")[-2:] == ["--dir", str(tmp_path / "mail")]
    assert stack.command("webhook-sink") == [
        *("-m", "services.orchestrator.channels.http_sink"),
        *("--port", str(stack.ports.webhook), "--dir", str(tmp_path / "webhooks")),
    ]
    assert stack.command("channel-webhook") == ["-m", "services.orchestrator.channels", "webhook"]
    assert stack.command("channel-email") == ["-m", "services.orchestrator.channels", "email"]
    assert stack.command("gateway") == ["-m", "services.gateway"]


def test_make_run_signs_webhooks_with_a_secret_kept_in_the_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAYERCAKE_ORCHESTRATOR_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("LAYERCAKE_WEBHOOK_SECRET", raising=False)
    env = LocalStack(tmp_path, channels=True).env()
    secret = (tmp_path / "webhook.secret").read_text()
    assert len(secret) >= 32 and (tmp_path / "webhook.secret").stat().st_mode & 0o077 == 0
    assert env["LAYERCAKE_ORCHESTRATOR_WEBHOOK_SECRET"] == env["LAYERCAKE_WEBHOOK_SECRET"]
    assert env["LAYERCAKE_WEBHOOK_SECRET"] == secret
    assert LocalStack(tmp_path, channels=True).env()["LAYERCAKE_WEBHOOK_SECRET"] == secret
    given = {"LAYERCAKE_ORCHESTRATOR_WEBHOOK_SECRET": "s" * 32}
    kept = LocalStack(tmp_path, channels=True, extra_env=given).env()
    assert kept["LAYERCAKE_ORCHESTRATOR_WEBHOOK_SECRET"] == "s" * 32
    assert "LAYERCAKE_WEBHOOK_SECRET" not in LocalStack(tmp_path / "t").env()  # tests' stacks


def test_a_given_smtp_server_and_webhook_url_change_what_starts(tmp_path: Path) -> None:
    stack = LocalStack(
        tmp_path,
        channels=True,
        extra_env={
            "LAYERCAKE_SMTP_URL": "smtp://mail.example.com:587",
            "LAYERCAKE_WEBHOOK_URL": "https://hooks.example.com/x",
        },
    )
    assert stack.extras() == ("channel-email", "channel-webhook")
    assert stack.env()["LAYERCAKE_SMTP_URL"] == "smtp://mail.example.com:587"
    assert stack.env()["LAYERCAKE_WEBHOOK_URL"] == "https://hooks.example.com/x"
    assert LocalStack(tmp_path).extras() == ()  # tests' stacks start the services only

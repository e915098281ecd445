"""Where the email adapter's unsubscribe links point, and that it refuses to start
without the key that signs them."""

from __future__ import annotations

import pytest

from services.kernel.errors import ConfigError
from services.kernel.unsubscribe import Unsubscribe, UnsubscribeLinks
from services.orchestrator.channels.config import load_channel_config

SECRET = "unit-test-internal-secret-0123456789abcdef"
ANN = Unsubscribe("shop", "email", "send:i-1:remind", "p-ann")


def test_links_default_to_the_gateways_http_door_and_open_there() -> None:
    env = {"LAYERCAKE_INTERNAL_SECRET": SECRET, "LAYERCAKE_GATEWAY_HTTP_ADDR": "0.0.0.0:8099"}
    url = load_channel_config("email", env).unsubscribe_links().url(ANN)
    assert url.startswith("http://127.0.0.1:8099/v1/unsubscribe/")
    assert UnsubscribeLinks(SECRET.encode()).open(url.rsplit("/", 1)[1]) == ANN


def test_a_public_url_is_the_links_base() -> None:
    env = {"LAYERCAKE_INTERNAL_SECRET": SECRET, "LAYERCAKE_PUBLIC_URL": "https://mail.example.com/"}
    url = load_channel_config("email", env).unsubscribe_links().url(ANN)
    assert url.startswith("https://mail.example.com/v1/unsubscribe/")


def test_without_the_internal_secret_the_email_adapter_is_refused() -> None:
    with pytest.raises(ValueError, match="LAYERCAKE_INTERNAL_SECRET"):
        load_channel_config("email", {}).unsubscribe_links()


def test_a_public_url_that_is_not_http_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="LAYERCAKE_PUBLIC_URL"):
        load_channel_config("email", {"LAYERCAKE_PUBLIC_URL": "mail.example.com"})

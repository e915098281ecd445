"""The story's person and what their devices send: unique per run (a tag in every id), so
the story can run again and again against one platform."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format

from layercake.gateway.v1 import ingest_pb2

# What the shop's app knows at login: the weather and the store's region (the decide step
# reads them as `context.weather.temperature_c` and `context.location.region`).
# What the app's checkout screen knows: the weather, the store's region and the shelf stock
# (the decide step reads them as `context.weather.temperature_c`, `context.location.region`
# and `context.stock.<product>`).
CHECKOUT_CONTEXT: dict[str, Any] = {
    "weather": {"temperature_c": 31},
    "location": {"region": "south"},
    "stock": {"water": 20, "diet_soda": 20},
}
LOGIN_CONTEXT = {
    "weather": {"temperature_c": 31},
    "location": {"region": "south"},
    "timezone": "America/Chicago",
}


@dataclass(frozen=True)
class Person:
    tag: str
    now: datetime

    @classmethod
    def new(cls) -> Person:
        return cls(uuid.uuid4().hex[:10], datetime.now(UTC).replace(microsecond=0))

    @property
    def cookie_id(self) -> str:
        return f"ck-{self.tag}"

    @property
    def device_id(self) -> str:
        return f"dv-{self.tag}"

    @property
    def app_install_id(self) -> str:
        return f"anon-{self.tag}"  # the anonymous id the app's SDK made at install

    @property
    def email(self) -> str:
        return f"ann.{self.tag}@example.com"

    @property
    def first_name(self) -> str:
        return f"Annabel{self.tag}"  # unique, so a byte scan finds exactly hers

    @property
    def store_id(self) -> str:
        return f"s-12-{self.tag}"  # the story's own store: its stock is the story's alone

    def refs(self) -> tuple[str, str, str]:
        return (f"cookie_id:{self.cookie_id}", f"device_id:{self.device_id}", f"email:{self.email}")

    def secrets(self) -> list[bytes]:
        """What must not be left anywhere once she is forgotten."""
        return [self.email.encode(), self.first_name.encode()]

    def _when(self, ago: timedelta) -> str:
        return (self.now - ago).isoformat().replace("+00:00", "Z")

    # -- the ad server and the web shop: gRPC Ingest ---------------------------------------

    def ad_view(self) -> ingest_pb2.IngestEvent:
        """The display ad server saw her cookie on a minivan ad, two days ago."""
        return _event(
            {
                "message_id": f"ad-{self.tag}",
                "type": "track",
                "event": "ad_viewed",
                "timestamp": self._when(timedelta(days=2)),
                "identifiers": {"cookie_id": self.cookie_id},
                "properties": {"category": "minivan", "creative": "family-minivan-300x250"},
                "context": {"channel": "display"},
            }
        )

    def web_login(self) -> ingest_pb2.IngestEvent:
        """She logs in on the web shop with her email: the cookie meets the email."""
        return _event(
            {
                "message_id": f"web-login-{self.tag}",
                "type": "identify",
                "timestamp": self._when(timedelta(minutes=5)),
                "identifiers": {"cookie_id": self.cookie_id, "email": self.email},
                "traits": {
                    "first_name": self.first_name,
                    "email": self.email,
                    "store_id": self.store_id,
                    "age": 34,
                    "prefers_sugar_free": 1,
                    "sodas_30d": 4,
                },
                "context": {"channel": "web", **LOGIN_CONTEXT},
                "consent": {"email_marketing": True},
            }
        )

    def web_batch(self) -> list[ingest_pb2.IngestEvent]:
        return [self.ad_view(), self.web_login()]

    # -- the mobile app: Segment's HTTP Tracking API ---------------------------------------

    def app_page(self) -> dict[str, Any]:
        """The app's Segment SDK: the "March Madness Deals" page, yesterday, by device id."""
        return {
            "type": "track",
            "messageId": f"app-page-{self.tag}",
            "event": "page_viewed",
            "anonymousId": self.app_install_id,
            "timestamp": self._when(timedelta(days=1)),
            "properties": {"page": "March Madness Deals"},
            "context": {"device": {"id": self.device_id}, "channel": "mobile_app"},
        }

    def app_login(self) -> dict[str, Any]:
        """She logs in on the app with the same email: the device meets the email."""
        return {
            "type": "identify",
            "messageId": f"app-login-{self.tag}",
            "anonymousId": self.app_install_id,
            "timestamp": self._when(timedelta(minutes=1)),
            "traits": {"email": self.email, "first_name": self.first_name},
            "context": {"device": {"id": self.device_id}, "channel": "mobile_app", **LOGIN_CONTEXT},
        }

    def app_checkout(self) -> dict[str, Any]:
        """At her store, the app's checkout screen, with the weather, region and shelf stock."""
        return {
            "type": "track",
            "messageId": f"app-checkout-{self.tag}",
            "event": "checkout_viewed",
            "anonymousId": self.app_install_id,
            "properties": {"store_id": self.store_id},
            "context": {"device": {"id": self.device_id}, **CHECKOUT_CONTEXT},
        }

    def app_batch(self) -> list[dict[str, Any]]:
        return [self.app_page(), self.app_login(), self.app_checkout()]


def _event(body: dict[str, Any]) -> ingest_pb2.IngestEvent:
    return json_format.ParseDict(body, ingest_pb2.IngestEvent())

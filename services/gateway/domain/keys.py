"""API keys: their shape, how secrets are checked, and what scopes grant.

A key reads `lc_<key_id>_<secret>`. The key id is public (it names the key in
logs and events); only the SHA-256 of the secret is kept, and a presented
secret is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from services.kernel.errors import InvalidArgument, PermissionDenied, Unauthenticated
from services.kernel.principals import Actor

PREFIX = "lc_"
KEY_ID = re.compile(r"^[a-z0-9]{8,32}$")
MAX_SECRET = 128

INGEST = "ingest"
PROFILES_READ = "profiles:read"
ADMIN = "admin"
SCOPES = frozenset({INGEST, PROFILES_READ, ADMIN})


@dataclass(frozen=True)
class PresentedKey:
    """A key as a caller presented it, split into its public id and its secret."""

    key_id: str
    secret: str


@dataclass(frozen=True)
class NewKey:
    """A freshly made key: the text handed out once, and what is kept of it."""

    key_id: str
    secret: str

    @property
    def text(self) -> str:
        return f"{PREFIX}{self.key_id}_{self.secret}"

    @property
    def secret_sha256(self) -> str:
        return hash_secret(self.secret)


@dataclass(frozen=True)
class KeyRecord:
    """What the gateway knows of an issued key (from its read model)."""

    key_id: str
    tenant_id: str
    secret_sha256: str
    scopes: frozenset[str]
    revoked: bool = False


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant comes from the key, never from the request."""

    tenant_id: str
    key_id: str
    scopes: frozenset[str]

    @property
    def actor(self) -> Actor:
        """Recorded on the events this key causes (until keys belong to principals)."""
        return Actor.system(f"api_key:{self.key_id}")


def new_key() -> NewKey:
    return NewKey(key_id=secrets.token_hex(8), secret=secrets.token_urlsafe(32))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_key(text: str) -> PresentedKey | None:
    """The key id and secret of `lc_<key_id>_<secret>`; None when it is not that shape."""
    if not text.startswith(PREFIX):
        return None
    key_id, sep, secret = text[len(PREFIX) :].partition("_")
    if not sep or not KEY_ID.match(key_id) or not secret or len(secret) > MAX_SECRET:
        return None
    return PresentedKey(key_id, secret)


def key_from_metadata(metadata: Iterable[tuple[str, str]]) -> str:
    """The key of `authorization: Bearer <key>`, else of `x-api-key`; '' when neither."""
    headers = {k.lower(): v for k, v in metadata}
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key", "").strip()


def authenticate(presented: str, record: KeyRecord | None) -> Principal:
    """The caller behind a key, or Unauthenticated for a missing, unknown or revoked one."""
    parsed = parse_key(presented)
    if parsed is None or record is None or record.key_id != parsed.key_id:
        raise Unauthenticated("missing or unknown API key")
    if not hmac.compare_digest(hash_secret(parsed.secret), record.secret_sha256):
        raise Unauthenticated("missing or unknown API key")
    if record.revoked:
        raise Unauthenticated("API key revoked")
    return Principal(record.tenant_id, record.key_id, record.scopes)


def works(presented: str, record: KeyRecord | None, scopes: Iterable[str]) -> bool:
    """Whether `presented` authenticates against `record` and grants every one of `scopes`."""
    try:
        principal = authenticate(presented, record)
    except Unauthenticated:
        return False
    return all(grants(principal.scopes, s) for s in scopes)


def grants(scopes: Iterable[str], needed: str) -> bool:
    """`admin` implies every scope."""
    held = set(scopes)
    return ADMIN in held or needed in held


def authorize(principal: Principal, needed: str) -> None:
    if not grants(principal.scopes, needed):
        raise PermissionDenied(f"API key {principal.key_id} lacks scope {needed!r}")


def check_scopes(scopes: Iterable[str], field: str = "scopes") -> tuple[str, ...]:
    """Known scopes, deduplicated and sorted; InvalidArgument names the first unknown one."""
    wanted = sorted(set(scopes))
    if not wanted:
        raise InvalidArgument.field(field, f"at least one of {sorted(SCOPES)} is required")
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise InvalidArgument.field(
            field, f"unknown scope {unknown[0]!r}; expected one of {sorted(SCOPES)}"
        )
    return tuple(wanted)

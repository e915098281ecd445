"""API keys: their shape, how secrets are checked, and what a key may do.

A key reads `lc_<key_id>_<secret>`. The key id is public (it names the key in
logs and events); only the SHA-256 of the secret is kept, and a presented
secret is compared in constant time. A key belongs to a principal and may do
what its own scopes and its principal's current roles both allow.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from services.gateway.domain.errors import ScopeMissing
from services.kernel.errors import InvalidArgument, Unauthenticated
from services.kernel.principals import Actor, Principal, Scope

PREFIX = "lc_"
KEY_ID = re.compile(r"^[a-z0-9]{8,32}$")
MAX_SECRET = 128

SCOPE_NAMES = sorted(s.value for s in Scope)


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
    """What the gateway knows of an issued key and of its principal now (from its read model)."""

    key_id: str
    secret_sha256: str
    scopes: frozenset[Scope]
    principal: Principal
    revoked: bool = False

    @property
    def tenant_id(self) -> str:
        return self.principal.tenant_id


@dataclass(frozen=True)
class Caller:
    """Who is calling: a key of a principal; the tenant comes from the key, never the request."""

    key_id: str
    key_scopes: frozenset[Scope]
    principal: Principal

    @property
    def tenant_id(self) -> str:
        return self.principal.tenant_id

    @property
    def actor(self) -> Actor:
        return self.principal.actor

    @property
    def scopes(self) -> frozenset[Scope]:
        """The key's scopes that the principal's roles grant now: a revoked role narrows them."""
        return self.key_scopes & self.principal.scopes


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
    authorization = api_key = ""
    for k, v in metadata:  # the last of a repeated header, as a dict of them would keep
        name = k.lower()
        if name == "authorization":
            authorization = v
        elif name == "x-api-key":
            api_key = v
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return api_key.strip()


def authenticate(presented: str, record: KeyRecord | None) -> Caller:
    """The caller behind a key, or Unauthenticated for a missing, unknown or revoked one."""
    parsed = parse_key(presented)
    if parsed is None or record is None or record.key_id != parsed.key_id:
        raise Unauthenticated("missing or unknown API key")
    if not hmac.compare_digest(hash_secret(parsed.secret), record.secret_sha256):
        raise Unauthenticated("missing or unknown API key")
    if record.revoked:
        raise Unauthenticated("API key revoked")
    return Caller(record.key_id, record.scopes, record.principal)


def works(presented: str, record: KeyRecord | None, scopes: Iterable[Scope]) -> bool:
    """Whether `presented` authenticates against `record` and may use every one of `scopes`."""
    try:
        caller = authenticate(presented, record)
    except Unauthenticated:
        return False
    return set(scopes) <= caller.scopes


def authorize(caller: Caller, needed: Scope) -> None:
    """PermissionDenied naming the scope, and whether the key or the principal's roles lack it."""
    if needed in caller.scopes:
        return
    if needed not in caller.key_scopes:
        raise ScopeMissing(f"API key {caller.key_id} lacks scope {needed.value!r}")
    roles = ", ".join(sorted(caller.principal.roles)) or "none"
    raise ScopeMissing(
        f"API key {caller.key_id} lacks scope {needed.value!r}: the roles of "
        f"{caller.actor} ({roles}) no longer grant it"
    )


def check_scopes(scopes: Iterable[str], field: str = "scopes") -> frozenset[Scope]:
    """Known scopes; InvalidArgument names the first unknown one."""
    wanted = set(scopes)
    unknown = sorted(s for s in wanted if s not in SCOPE_NAMES)
    if unknown:
        raise InvalidArgument.field(
            field, f"unknown scope {unknown[0][:40]!r}; expected one of {', '.join(SCOPE_NAMES)}"
        )
    return frozenset(Scope(s) for s in wanted)

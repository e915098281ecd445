"""Settings only identity has, from environment variables, validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy.engine import make_url

from services.kernel.config import ServiceSettings, validated
from services.kernel.errors import ConfigError

ENV = {
    "keys_url": "LAYERCAKE_IDENTITY_KEYS_URL",
    "suppress_forgotten": "LAYERCAKE_IDENTITY_SUPPRESS_FORGOTTEN",
    "key_cache": "LAYERCAKE_IDENTITY_KEY_CACHE",
    "erase_every": "LAYERCAKE_IDENTITY_ERASE_EVERY",
}
KEYS_FILE = "identity-keys.db"


class IdentityConfig(BaseModel):
    """Where the per-profile keys live (apart from the data they seal), whether a forgotten
    person's identifiers are refused afterwards, how many profiles' keys stay cached, and
    how often queued raw messages are erased from `INGEST` (a forget erases at once)."""

    keys_url: str
    suppress_forgotten: bool = True
    key_cache: int = Field(default=10_000, ge=0)
    erase_every: float = Field(default=5.0, gt=0)  # seconds between passes of the eraser


def default_keys_url(settings: ServiceSettings) -> str:
    """A SQLite file beside identity's own SQLite database, else in the state directory:
    a backup of the event database alone never holds the keys."""
    url = make_url(settings.database_url)
    if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
        return f"sqlite:///{Path(url.database or '').parent / KEYS_FILE}"
    return f"sqlite:///{settings.state_dir / KEYS_FILE}"


def load_identity_config(
    settings: ServiceSettings, environ: Mapping[str, str] | None = None
) -> IdentityConfig:
    """Raises ConfigError naming the variable at fault."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {"keys_url": default_keys_url(settings)}
    values |= {name: env[var] for name, var in ENV.items() if var in env}
    config = validated(IdentityConfig, values, ENV, env)
    if make_url(config.keys_url) == make_url(settings.database_url):
        raise ConfigError(
            f"invalid configuration: {ENV['keys_url']} must name another database than"
            " identity's own: the keys live apart from the data they protect"
        )
    return config

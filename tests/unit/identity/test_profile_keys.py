"""The profile cipher and where identity's keys live by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.identity.config import load_identity_config
from services.identity.store.vault import ProfileCipher, new_key
from services.kernel.config import load_settings
from services.kernel.errors import ConfigError


def test_what_a_cipher_sealed_or_opened_is_opened_again_without_decrypting() -> None:
    key = new_key()
    writer, reader = ProfileCipher(key, "acme", "p-1"), ProfileCipher(key, "acme", "p-1")
    sealed = writer.seal('"Ann"')
    assert reader.open(sealed) == '"Ann"'  # decrypted once

    class Refusing:
        def decrypt(self, *args: object) -> bytes:
            raise AssertionError("decrypted again")

    for cipher in (writer, reader):
        cipher._aead = Refusing()  # type: ignore[assignment]
        assert cipher.open(sealed) == '"Ann"'
    writer.forget()
    with pytest.raises(AssertionError):
        writer.open(sealed)


def test_a_value_sealed_for_another_profile_does_not_open() -> None:
    key = new_key()
    sealed = ProfileCipher(key, "acme", "p-1").seal("Ann")
    with pytest.raises(ValueError, match="does not belong"):
        ProfileCipher(key, "acme", "p-2").open(sealed)


def test_the_keys_default_to_a_file_of_their_own_beside_the_database(tmp_path: Path) -> None:
    env = {"LAYERCAKE_STATE_DIR": str(tmp_path / "state")}
    settings = load_settings("identity", env)
    assert load_identity_config(settings, env).keys_url == (
        f"sqlite:///{tmp_path / 'state' / 'identity-keys.db'}"
    )
    beside = env | {"LAYERCAKE_IDENTITY_DATABASE_URL": f"sqlite:///{tmp_path / 'db' / 'i.db'}"}
    config = load_identity_config(load_settings("identity", beside), beside)
    assert config.keys_url == f"sqlite:///{tmp_path / 'db' / 'identity-keys.db'}"
    pg = env | {"LAYERCAKE_IDENTITY_DATABASE_URL": "postgresql://h/identity"}
    assert load_identity_config(load_settings("identity", pg), pg).keys_url.endswith(
        "state/identity-keys.db"
    )
    chosen = env | {"LAYERCAKE_IDENTITY_KEYS_URL": "postgresql://keys/identity_keys"}
    assert load_identity_config(settings, chosen).keys_url == "postgresql://keys/identity_keys"
    with pytest.raises(ConfigError, match="LAYERCAKE_IDENTITY_SUPPRESS_FORGOTTEN"):
        load_identity_config(settings, env | {"LAYERCAKE_IDENTITY_SUPPRESS_FORGOTTEN": "maybe"})


def test_the_keys_may_not_share_identity_s_own_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'i.db'}"
    env = {"LAYERCAKE_STATE_DIR": str(tmp_path), "LAYERCAKE_IDENTITY_DATABASE_URL": url}
    settings = load_settings("identity", env)
    with pytest.raises(ConfigError, match="LAYERCAKE_IDENTITY_KEYS_URL"):
        load_identity_config(settings, env | {"LAYERCAKE_IDENTITY_KEYS_URL": url})

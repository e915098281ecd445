"""Per-profile keys that seal personal data in identity's event log (crypto-shredding).

Trait values are stored only sealed with their profile's key; deleting the key
makes every copy in the append-only log unreadable, which is how a person is
forgotten without rewriting history.
"""

from __future__ import annotations

import os
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.identity.ports import PersonalDataVault
from services.identity.store.tables import profile_keys

NONCE_BYTES = 12


class ProfileCipher:
    """AES-256-GCM bound to one profile (the tenant and profile id are the associated data)."""

    def __init__(self, key: bytes, tenant_id: str, profile_id: str) -> None:
        self._aead = AESGCM(key)
        self._aad = f"{tenant_id}/{profile_id}".encode()

    def seal(self, plaintext: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), self._aad)

    def open(self, sealed: bytes) -> str:
        try:
            plain = self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], self._aad)
        except InvalidTag as e:
            raise ValueError("sealed value does not belong to this profile") from e
        return plain.decode()


class SqlPersonalDataVault(PersonalDataVault):
    """The key table, read and written in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._ciphers: dict[tuple[str, str], ProfileCipher | None] = {}

    def create_key(self, tenant_id: str, profile_id: str, at: datetime) -> ProfileCipher:
        key = AESGCM.generate_key(bit_length=256)
        self.session.execute(
            insert(profile_keys).values(
                tenant_id=tenant_id, profile_id=profile_id, data_key=key, create_time=at
            )
        )
        cipher = ProfileCipher(key, tenant_id, profile_id)
        self._ciphers[(tenant_id, profile_id)] = cipher
        return cipher

    def cipher(self, tenant_id: str, profile_id: str) -> ProfileCipher | None:
        if (tenant_id, profile_id) not in self._ciphers:
            key = self.session.execute(
                select(profile_keys.c.data_key).where(
                    profile_keys.c.tenant_id == tenant_id, profile_keys.c.profile_id == profile_id
                )
            ).scalar_one_or_none()
            self._ciphers[(tenant_id, profile_id)] = (
                None if key is None else ProfileCipher(key, tenant_id, profile_id)
            )
        return self._ciphers[(tenant_id, profile_id)]

"""A profile's cipher: personal values are kept only sealed with the profile's own key.

Deleting the key (store/keys.py) makes every sealed copy unreadable (crypto-shredding):
in the event log, the snapshots, the read model and identity's integration events.
"""

from __future__ import annotations

import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.kernel.ids import random_bytes

NONCE_BYTES = 12
OPENED = 64  # values of one profile kept opened: a read or a projection decrypts each once


class ProfileCipher:
    """AES-256-GCM bound to one profile (the tenant and profile id are the associated data).

    It remembers what it sealed and opened recently, so the hot path (seal an event, then
    project it; read a profile again) does not decrypt what it already knows.
    """

    def __init__(self, key: bytes, tenant_id: str, profile_id: str) -> None:
        self._aead = AESGCM(key)
        self._aad = f"{tenant_id}/{profile_id}".encode()
        self._opened: dict[bytes, str] = {}
        self._lock = threading.Lock()

    def seal(self, plaintext: str) -> bytes:
        nonce = random_bytes(NONCE_BYTES)  # 96 random bits: never twice under one key
        sealed = nonce + self._aead.encrypt(nonce, plaintext.encode(), self._aad)
        self._remember(sealed, plaintext)
        return sealed

    def open(self, sealed: bytes) -> str:
        known = self._opened.get(sealed)
        if known is not None:
            return known
        try:
            plain = self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], self._aad)
        except InvalidTag as e:
            raise ValueError("sealed value does not belong to this profile") from e
        text = plain.decode()
        self._remember(sealed, text)
        return text

    def _remember(self, sealed: bytes, plaintext: str) -> None:
        with self._lock:
            if len(self._opened) >= OPENED:
                del self._opened[next(iter(self._opened))]
            self._opened[sealed] = plaintext

    def forget(self) -> None:
        """Drops what it remembers: its key was deleted."""
        with self._lock:
            self._opened.clear()


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)

"""PLAT-3: resident ID numbers (and uploaded files) are encrypted at rest.

One master key yields two independent subkeys (HKDF-SHA256): one for AES-256-GCM encryption,
one for a *blind index* — a keyed HMAC that lets the database enforce "one account per ID number"
and look a person up without ever holding the number in clear. The ``context`` passed to
encrypt/decrypt is authenticated (AES-GCM associated data), so a ciphertext copied into another
row or column fails to decrypt instead of revealing someone else's data.
"""
from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from server.identity.errors import IdentityError

VERSION = b"\x01"
NONCE_BYTES = 12
TAG_BYTES = 16
MIN_MASTER_KEY_BYTES = 32


def generate_master_key() -> bytes:
    """32 random bytes, suitable as a FieldCipher master key."""
    return os.urandom(32)


def _subkey(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(master)


def _as_bytes(value: bytes | str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"expected bytes or str, got {type(value).__name__}")


class FieldCipher:
    """Encrypts field values and computes blind indexes from one master key (≥ 32 bytes)."""

    def __init__(self, master_key: bytes):
        if not isinstance(master_key, (bytes, bytearray)):
            raise TypeError("master key must be bytes")
        if len(master_key) < MIN_MASTER_KEY_BYTES:
            raise ValueError(f"master key must be at least {MIN_MASTER_KEY_BYTES} bytes")
        master = bytes(master_key)
        self._aead = AESGCM(_subkey(master, "field-encryption"))
        self._index_key = _subkey(master, "blind-index")

    def __repr__(self) -> str:   # never show key material
        return "FieldCipher(<key hidden>)"

    def encrypt(self, plaintext: bytes | str, *, context: str) -> bytes:
        """``b"\\x01" + nonce(12) + AES-256-GCM ciphertext+tag``, bound to ``context``."""
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, _as_bytes(plaintext), context.encode("utf-8"))

    def decrypt(self, blob: bytes, *, context: str) -> bytes:
        """Inverse of encrypt; IdentityError ``DECRYPT_FAILED`` if tampered, truncated or the context differs."""
        blob = bytes(blob) if isinstance(blob, (bytes, bytearray, memoryview)) else b""
        if len(blob) < 1 + NONCE_BYTES + TAG_BYTES or blob[:1] != VERSION:
            raise _decrypt_failed()
        try:
            return self._aead.decrypt(blob[1:1 + NONCE_BYTES], blob[1 + NONCE_BYTES:], context.encode("utf-8"))
        except InvalidTag:
            raise _decrypt_failed() from None

    def encrypt_text(self, text: str, *, context: str) -> bytes:
        return self.encrypt(text.encode("utf-8"), context=context)

    def decrypt_text(self, blob: bytes, *, context: str) -> str:
        return self.decrypt(blob, context=context).decode("utf-8")

    def blind_index(self, value: str, *, purpose: str) -> str:
        """Deterministic hex HMAC-SHA256 of ``purpose + NUL + value``: equal inputs, equal index;
        different purposes give unrelated indexes. Callers pass normalised values."""
        if "\x00" in purpose:
            raise ValueError("purpose must not contain NUL")
        msg = purpose.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.new(self._index_key, msg, hashlib.sha256).hexdigest()


def _decrypt_failed() -> IdentityError:
    return IdentityError("DECRYPT_FAILED", "数据解密失败：密文已损坏或不属于此处",
                         "Decryption failed: the data is damaged or does not belong here", rule="PLAT-3")

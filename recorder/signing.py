"""The platform's Ed25519 signing key (REC-1, REC-3): it signs recording manifests and backup manifests.

Where the key comes from, first match wins:

* ``QIHANG_SIGNING_KEY`` — the 32-byte private seed as 64 hex digits (Settings.signing_key);
* ``QIHANG_SIGNING_KEY_FILE`` — a file holding that hex seed;
* ``<data_dir>/signing.key`` — generated there on first use (mode 0600), like the master secret key.

Verifiers never trust a public key found inside a signed document: they check against the key
loaded here (or one the operator passes, e.g. ``--public-key`` on another machine), so a document
re-signed with some other key fails. The public key is printable (``qihang public-key``) and is
meant to be kept apart from the server — e.g. handed to the HR bureau with the backup reports (REC-3).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE = "signing.key"
ALG = "Ed25519"


def canonical(doc: Any) -> bytes:
    """The bytes that are hashed and signed: sorted keys, no spaces, UTF-8 (stable across runs)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def key_id(public_raw: bytes) -> str:
    """A short fingerprint of a public key: the first 16 hex digits of its SHA-256."""
    return sha256_hex(public_raw)[:16]


@dataclass(frozen=True)
class PublicKey:
    raw: bytes

    @classmethod
    def from_hex(cls, text: str) -> "PublicKey":
        raw = bytes.fromhex(text.strip())
        if len(raw) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes (64 hex digits)")
        return cls(raw)

    @property
    def hex(self) -> str:
        return self.raw.hex()

    @property
    def id(self) -> str:
        return key_id(self.raw)

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
            return True
        except (InvalidSignature, ValueError):
            return False


class PlatformKey:
    """The private key; ``repr`` never shows it."""

    def __init__(self, seed: bytes):
        if len(seed) != 32:
            raise ValueError("an Ed25519 private key seed is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public = PublicKey(self._key.public_key().public_bytes(serialization.Encoding.Raw,
                                                                    serialization.PublicFormat.Raw))

    def __repr__(self) -> str:
        return f"PlatformKey(id={self.public.id})"

    @classmethod
    def generate(cls) -> "PlatformKey":
        return cls(os.urandom(32))

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def sign_document(self, doc: dict, *, at: str) -> dict:
        """``doc`` plus a ``signature`` block over the canonical JSON of everything else."""
        body = {k: v for k, v in doc.items() if k != "signature"}
        return {**body, "signature": {"alg": ALG, "key_id": self.public.id, "public_key": self.public.hex,
                                      "signed_at": at, "value": base64.b64encode(self.sign(canonical(body))).decode()}}


def check_document(doc: dict, trusted: PublicKey) -> str | None:
    """None when ``doc`` carries a valid signature by ``trusted``; otherwise why not (English, short)."""
    sig = doc.get("signature")
    if not isinstance(sig, dict) or sig.get("alg") != ALG or not isinstance(sig.get("value"), str):
        return "unsigned"
    if sig.get("key_id") != trusted.id or sig.get("public_key") != trusted.hex:
        return f"signed by another key ({sig.get('key_id')}), not the platform key ({trusted.id})"
    try:
        value = base64.b64decode(sig["value"], validate=True)
    except ValueError:
        return "signature is not base64"
    body = {k: v for k, v in doc.items() if k != "signature"}
    return None if trusted.verify(value, canonical(body)) else "signature does not match the content"


def load_platform_key(settings, *, create: bool = True) -> PlatformKey | None:
    """The platform key per the module docstring; ``create=False`` returns None instead of making one."""
    seed = getattr(settings, "signing_key", b"") or b""
    if seed:
        return PlatformKey(seed)
    path = Path(settings.data_dir) / KEY_FILE
    if path.exists():
        return PlatformKey(read_seed(path))
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    key_seed = os.urandom(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return PlatformKey(read_seed(path))
    with os.fdopen(fd, "w") as fh:
        fh.write(key_seed.hex() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return PlatformKey(key_seed)


def key_for_data_dir(data_dir: Path, env: dict | None = None, *, create: bool = True) -> PlatformKey | None:
    """The platform key for a process that has a data dir but no Settings (the recorder process):
    ``QIHANG_SIGNING_KEY`` / ``QIHANG_SIGNING_KEY_FILE`` from its environment, else the data dir's file."""
    env = os.environ if env is None else env
    raw = env.get("QIHANG_SIGNING_KEY") or (Path(env["QIHANG_SIGNING_KEY_FILE"]).read_text().strip()
                                            if env.get("QIHANG_SIGNING_KEY_FILE") else "")
    return load_platform_key(_DirSettings(Path(data_dir), bytes.fromhex(raw) if raw else b""), create=create)


@dataclass(frozen=True)
class _DirSettings:
    data_dir: Path
    signing_key: bytes = b""


def trusted_public_key(settings, override_hex: str | None = None) -> PublicKey | None:
    """The key a verifier trusts: one given explicitly, else the platform's own (never created here)."""
    if override_hex:
        return PublicKey.from_hex(override_hex)
    key = load_platform_key(settings, create=False)
    return key.public if key else None


def read_seed(path: Path) -> bytes:
    text = path.read_text().strip()
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{path}: the signing key must be 64 hex digits") from None
    if len(seed) != 32:
        raise ValueError(f"{path}: the signing key must be 64 hex digits")
    return seed

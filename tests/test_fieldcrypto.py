"""PLAT-3: personal data encrypted at rest (AES-256-GCM, context-bound) and blind indexes for lookups."""
from __future__ import annotations

import pytest

from server.identity.errors import IdentityError
from server.identity.fieldcrypto import FieldCipher, generate_master_key

KEY = bytes(range(32))
ID = "11010519491231002X"


def _failed(cipher: FieldCipher, blob, context: str) -> None:
    with pytest.raises(IdentityError) as exc:
        cipher.decrypt(blob, context=context)
    assert exc.value.code == "DECRYPT_FAILED" and exc.value.message_zh and exc.value.message_en


def test_plat3_roundtrip_bytes_and_text():
    c = FieldCipher(KEY)
    blob = c.encrypt(b"\x00binary\xff", context="file:abc")
    assert blob[:1] == b"\x01" and len(blob) == 1 + 12 + len(b"\x00binary\xff") + 16
    assert c.decrypt(blob, context="file:abc") == b"\x00binary\xff"
    t = c.encrypt_text(ID, context="student_profiles.id_number")
    assert c.decrypt_text(t, context="student_profiles.id_number") == ID
    assert c.decrypt(c.encrypt("张三", context="x"), context="x").decode() == "张三"


def test_plat3_ciphertext_hides_plaintext_and_is_randomised():
    c = FieldCipher(KEY)
    a, b = c.encrypt_text(ID, context="ctx"), c.encrypt_text(ID, context="ctx")
    assert a != b and ID.encode() not in a


def test_plat3_tampering_detected():
    c = FieldCipher(KEY)
    blob = bytearray(c.encrypt_text(ID, context="ctx"))
    for i in (1, 13, len(blob) - 1):   # nonce, ciphertext, tag
        bad = bytearray(blob)
        bad[i] ^= 0x01
        _failed(c, bytes(bad), "ctx")
    _failed(c, b"\x02" + bytes(blob[1:]), "ctx")       # unknown version
    _failed(c, bytes(blob[:20]), "ctx")                # truncated
    _failed(c, b"", "ctx")
    _failed(c, "not bytes", "ctx")


def test_plat3_wrong_context_or_key_fails():
    c = FieldCipher(KEY)
    blob = c.encrypt_text(ID, context="student:1")
    _failed(c, blob, "student:2")
    _failed(FieldCipher(generate_master_key()), blob, "student:1")


def test_plat3_blind_index_deterministic_and_separated():
    c = FieldCipher(KEY)
    idx = c.blind_index(ID, purpose="resident-id")
    assert idx == FieldCipher(KEY).blind_index(ID, purpose="resident-id")
    assert len(idx) == 64 and int(idx, 16) >= 0 and ID not in idx
    assert idx != c.blind_index(ID, purpose="mobile")
    assert idx != c.blind_index("110105194912310021", purpose="resident-id")
    assert idx != FieldCipher(bytes(range(1, 33))).blind_index(ID, purpose="resident-id")
    # purpose and value are separated, so shifting characters between them changes the index
    assert c.blind_index("b", purpose="a") != c.blind_index("", purpose="ab")


def test_plat3_subkeys_differ_from_master_and_each_other():
    c = FieldCipher(KEY)
    import hashlib
    import hmac
    msg = b"resident-id\x00" + ID.encode()
    assert c.blind_index(ID, purpose="resident-id") != hmac.new(KEY, msg, hashlib.sha256).hexdigest()
    assert "key" in repr(c) and KEY.hex() not in repr(c)


def test_plat3_master_key_requirements():
    assert len(generate_master_key()) == 32 and generate_master_key() != generate_master_key()
    with pytest.raises(ValueError):
        FieldCipher(b"short")
    with pytest.raises(TypeError):
        FieldCipher("x" * 40)
    FieldCipher(bytes(64))   # longer keys are fine

"""TURN REST credentials for coturn's use-auth-secret mode, and the ICE servers a client gets."""
from __future__ import annotations

import base64
import hashlib
import hmac

from server.live.ice import ice_servers, turn_credential
from server.settings import Settings


def test_turn_credential_is_coturn_rest_format_and_expires():
    username, password = turn_credential("s3cret", 42, 3600, now=1_000_000)
    assert username == "1003600:42"
    assert password == base64.b64encode(hmac.new(b"s3cret", b"1003600:42", hashlib.sha1).digest()).decode()


def test_ice_servers_from_settings(tmp_path):
    base = Settings(data_dir=tmp_path, database_url="sqlite://", secret_key=bytes(32))
    assert ice_servers(base, 1) == []
    cfg = base.with_(stun_urls=("stun:turn.internal:3478",), turn_urls=("turn:turn.internal:3478?transport=udp",),
                     turn_secret="k", turn_ttl_seconds=60)
    servers = ice_servers(cfg, 7, now=100)
    assert servers[0] == {"urls": ["stun:turn.internal:3478"]}
    assert servers[1]["username"] == "160:7" and servers[1]["urls"] == ["turn:turn.internal:3478?transport=udp"]


def test_settings_read_turn_from_the_environment(tmp_path):
    secret = tmp_path / "turn.secret"
    secret.write_text("from-file\n")
    s = Settings.from_env({"QIHANG_DATA_DIR": str(tmp_path), "QIHANG_TURN_URLS": "turn:a:3478, turn:b:3478",
                           "QIHANG_TURN_SECRET_FILE": str(secret)})
    assert s.turn_urls == ("turn:a:3478", "turn:b:3478") and s.turn_secret == "from-file"

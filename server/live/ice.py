"""ICE servers handed to browsers: STUN/TURN URLs from settings and time-limited TURN credentials.

coturn's REST API scheme (``use-auth-secret``): the username is ``<expiry unix time>:<user id>``
and the password is base64(HMAC-SHA1(shared secret, username)); coturn checks both without a
database, and a leaked credential dies at its expiry. The TURN server is the deployment's own
(PLAT-2): nothing here points outside it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time


def turn_credential(secret: str, user_id: int, ttl_seconds: int, now: float | None = None) -> tuple[str, str]:
    expiry = int((time.time() if now is None else now) + ttl_seconds)
    username = f"{expiry}:{user_id}"
    password = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    return username, password


def ice_servers(settings, user_id: int, now: float | None = None) -> list[dict]:
    """RTCIceServer dictionaries for one user, as the browser's RTCPeerConnection takes them."""
    servers: list[dict] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    if settings.turn_urls and settings.turn_secret:
        username, credential = turn_credential(settings.turn_secret, user_id, settings.turn_ttl_seconds, now)
        servers.append({"urls": list(settings.turn_urls), "username": username, "credential": credential})
    return servers

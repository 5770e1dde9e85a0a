"""The real app on a free loopback port for the browser tests: uvicorn in a thread, one place.

``serve(tmp, build, **settings)`` makes fresh services on an SQLite file in ``tmp`` (migrated as
``qihang migrate`` does), builds the app, lets ``build(svc, app)`` make the test's world through
the API, starts uvicorn on 127.0.0.1 and yields ``(base URL, services, what build returned)``.
Without Chromium or playwright the test is skipped with the reason (PLAT-2: nothing leaves loopback).
"""
from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

CHROMIUM = "/usr/bin/chromium"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}  # a 390 px phone


def signed_in(browser, token: str, requests: list | None = None, **context_opts):
    """A zh-CN browser context whose pages hold ``token`` as their session (what /login stores) and
    its first page; with ``requests``, every request URL of the context lands there (PLAT-2 checks)."""
    ctx = browser.new_context(locale="zh-CN", **context_opts)
    ctx.add_init_script(f"sessionStorage.setItem('qihang.token', {token!r});")
    if requests is not None:
        ctx.on("request", lambda r: requests.append(r.url))
    return ctx, ctx.new_page()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(tmp: Path, build: Callable[[Any, Any], Any], **settings):
    if not Path(CHROMIUM).exists():
        pytest.skip(reason=f"Chromium not installed: {CHROMIUM} is missing (`make install-test` installs it as root)")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    import uvicorn

    from server.app import create_app
    from server.services import Services
    from server.settings import Settings

    svc = Services.build(Settings(data_dir=tmp, database_url=f"sqlite:///{tmp}/q.db", secret_key=bytes(32),
                                  **settings))
    svc.db.migrate()
    app = create_app(services=svc)
    built = build(svc, app)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}", svc, built
    finally:
        server.should_exit = True
        thread.join(10)


def region_world(svc, app):
    """A World (tests/world.py) with the platform admin, institution "alpha" of Hohhot's Yuquan
    district and the district's and city's supervisors ("yuquan", "hohhot")."""
    from starlette.testclient import TestClient

    from tests.world import World
    w = World(TestClient(app), svc)
    w.bootstrap_admin()
    w.institution("alpha")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("hohhot", "city", "150100")
    return w

"""The ``qihang`` command: serve, migrate, demo."""
from __future__ import annotations

import argparse
import logging
import sys

from server.settings import Settings


def cmd_migrate(settings: Settings, _args) -> int:
    from models.db import Database
    db = Database(settings.database_url)
    db.migrate()
    db.dispose()
    print(f"数据库已迁移到最新版本 / database migrated: {_safe_url(settings.database_url)}")
    return 0


def cmd_demo(settings: Settings, args) -> int:
    from server.demo import load_demo, print_links
    from server.services import Services
    svc = Services.build(settings)
    svc.db.migrate()
    info = load_demo(svc)
    print_links(info, args.base_url or settings.base_url)
    return 0


def cmd_serve(settings: Settings, args) -> int:
    import uvicorn
    from server.app import create_app
    if args.migrate:
        cmd_migrate(settings, args)
    app = create_app(settings)
    from media import runtime
    runtime.tune_gc()  # after the imports, before the first lesson's connections
    # Room messages are small and go to up to 200 sockets each: per-message deflate would compress
    # every one of them once per recipient (measured by bench/join_storm), so it is off.
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", proxy_headers=False,
                ws_per_message_deflate=False)
    return 0


def _safe_url(url: str) -> str:
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qihang", description="启航 Qihang live classroom platform")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or upgrade the database schema")
    demo = sub.add_parser("demo", help="load a demo institution, staff, students and class; print login links")
    demo.add_argument("--base-url", default=None)
    serve = sub.add_parser("serve", help="serve HTTP on host:port")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--migrate", action="store_true", help="migrate before serving")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = Settings.from_env()
    return {"migrate": cmd_migrate, "demo": cmd_demo, "serve": cmd_serve}[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())

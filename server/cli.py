"""The ``qihang`` command: serve, migrate, demo, attendance; recordings and backups (recorder/commands.py)."""
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


def cmd_attendance(settings: Settings, args) -> int:
    """ATT-2: a class's per-lesson attendance, printed or written as CSV (with CLS-7/CLS-8 columns)."""
    from datetime import datetime, timezone

    from server.attendance.report import UnknownClass, class_attendance, to_csv, to_text
    from server.services import Services
    svc = Services.build(settings)
    try:
        with svc.db.session() as s:
            rows = class_attendance(s, args.class_id, svc.profiles, datetime.now(timezone.utc))
    except UnknownClass:
        print(f"没有编号为 {args.class_id} 的班级 / no class with id {args.class_id}", file=sys.stderr)
        return 2
    if args.csv:
        text = to_csv(rows)
        if args.csv == "-":
            sys.stdout.write(text)
        else:
            with open(args.csv, "w", encoding="utf-8-sig", newline="") as f:  # BOM: Excel opens it as UTF-8
                f.write(text)
            print(f"已导出 {len(rows)} 行 / exported {len(rows)} rows: {args.csv}")
    else:
        sys.stdout.write(to_text(rows))
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
    att = sub.add_parser("attendance", help="print or export a class's per-lesson attendance (ATT-2), with "
                         "absences, leaves, replay make-up and the final-assessment bar (CLS-7, CLS-8)")
    att.add_argument("class_id", type=int)
    att.add_argument("--csv", metavar="FILE", help="write CSV to FILE ('-' for standard output)")
    from recorder.commands import add_parsers as recorder_commands  # REC-1 / REC-3
    from server.attendance.dailyscheduler import add_parsers as daily_commands  # ATT-9
    from server.documents.reportjob import add_parsers as report_commands  # ATT-2
    handlers = {**recorder_commands(sub), **daily_commands(sub), **report_commands(sub)}
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = Settings.from_env()
    return {"migrate": cmd_migrate, "demo": cmd_demo, "serve": cmd_serve,
            "attendance": cmd_attendance, **handlers}[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())

"""Certificates issued and rendered per second (CERT-1): issuance with sealing plus the PDF, against baselines.

In one process on a migrated SQLite file in a temporary directory: a finished WLC class (built through
the API as the tests do) and N extra students enrolled directly. Measured, one certificate at a time,
each in its own transaction (as an institution admin's request would be):

* ``issue_render`` — ``issuing.issue`` (platform number from the counter row, snapshot, Ed25519 seal with
  the institution's key, webhook outbox) + ``document.render`` (the full PDF: CJK font subset, QR,
  seal picture, embedded signed data) + commit;
* ``issue_only`` — the same without the PDF;
* baselines: ``seal_only`` (Ed25519 over the canonical payload, no database) and ``bare_page`` (a
  ReportLab page with the same text in the same embedded font, no QR, seal or embedded file).

The class here has no lessons taught, so the EXAM-3 eligibility check is replaced by "everyone is
eligible" (tests/outcomes.py); its real cost, over a whole course's event logs, is in ``bench.reports``.

Prints one JSON object as its last line.

    python -m bench.certificates [--quick] [--students 400]
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import date, datetime, timezone
from io import BytesIO
from pathlib import Path

NOW = datetime(2023, 2, 6, 2, 0, tzinfo=timezone.utc)
START = date(2023, 3, 6)


def setup(tmp: Path, students: int):
    """A migrated SQLite service with a finished class of ``students`` enrolled students."""
    from sqlalchemy import select
    from starlette.testclient import TestClient

    from models import Enrolment, TrainingClass, User
    from models.db import Database
    from server.app import create_app
    from server.services import Services
    from server.settings import Settings
    from tests.world import World

    db = Database(f"sqlite:///{tmp / 'bench.db'}")
    db.migrate()
    settings = Settings(data_dir=tmp, database_url=db.url, secret_key=bytes(range(32)), background_jobs=False)
    svc = Services.build(settings, db=db)
    svc.clock = lambda: NOW
    client = TestClient(create_app(services=svc), raise_server_exceptions=True)
    client.__enter__()
    w = World(client, svc)
    w.bootstrap_admin()
    w.institution("alpha")
    cid = w.ready_class("alpha", start=START, students=1, course="WLC", days=5)
    with svc.db.session() as s:
        s.get(TrainingClass, cid).status = "finished"
        ids = []
        for i in range(students):
            u = User(username=f"bench{i}", password_hash="x", role="student", display_name=f"学员{i:04d}",
                     created_at=NOW)
            s.add(u)
            s.flush()
            s.add(Enrolment(class_id=cid, student_user_id=u.id, status="enrolled", year=2023, course_type="WLC"))
            ids.append(u.id)
        admin_id = s.scalars(select(User.id).where(User.username == "alpha_admin")).one()
    return svc, client, cid, ids, admin_id


def run_issue(svc, cid: int, ids: list[int], admin_id: int, render: bool) -> dict:
    """One certificate per transaction; optionally render its PDF inside the same transaction."""
    from models import TrainingClass, User
    from recorder.signing import load_platform_key
    from server.certificates import document, issuing, sealkeys

    profile = svc.profiles["hohhot"]
    platform_pub = load_platform_key(svc.settings).public
    sizes = []
    t0 = time.perf_counter()
    for sid in ids:
        with svc.db.sessions() as s:
            cls = s.get(TrainingClass, cid)
            admin = s.get(User, admin_id)
            key = sealkeys.current_key(s, svc.cipher, cls.institution_id, by=admin_id, now=NOW)
            cert = issuing.issue(s, cls=cls, student_ids=[sid], issuer=admin, profile=profile, key=key, now=NOW)[0]
            if render:
                pdf = document.render(s, cert, secret=svc.settings.secret_key, base_url="https://qihang.example.cn",
                                      issuer_zh=profile.certificate.issuer_zh, platform=platform_pub)
                sizes.append(len(pdf))
            s.commit()
    elapsed = time.perf_counter() - t0
    out = {"certificates": len(ids), "seconds": round(elapsed, 3), "per_second": round(len(ids) / elapsed, 1),
           "ms_each": round(1000 * elapsed / len(ids), 2)}
    if sizes:
        out["pdf_bytes_avg"] = int(sum(sizes) / len(sizes))
    return out


def run_seal_only(svc, n: int) -> dict:
    """Baseline: the Ed25519 seal of a certificate's canonical payload, no database, no PDF."""
    from models.certificates import Certificate
    from recorder.signing import PlatformKey
    from server.certificates import signing

    key = PlatformKey.generate()
    t0 = time.perf_counter()
    for i in range(n):
        c = Certificate(number=f"150104202303WLC{i:05d}", scope_key="district:150104", series="202303WLC", serial=i,
                        class_id=1, student_user_id=i, student_name="张三", course_type="WLC", course_name="网络创业培训",
                        class_hours=40, start_date=START, end_date=date(2023, 3, 10), institution_id=1,
                        institution_name="alpha 培训学校", district_code="150104", profile="hohhot", issued_at=NOW,
                        issued_by=1)
        signing.seal(c, key)
    elapsed = time.perf_counter() - t0
    return {"certificates": n, "seconds": round(elapsed, 3), "per_second": round(n / elapsed, 1),
            "ms_each": round(1000 * elapsed / n, 3)}


def run_bare_page(n: int) -> dict:
    """Baseline: a ReportLab A4 page with the certificate's text in the same embedded CJK font, nothing else."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen.canvas import Canvas

    from server.documents.fonts import cjk_font

    font = cjk_font().name
    lines = ["创业培训合格证书", "张三同志于2023年3月6日至2023年3月10日参加alpha 培训学校举办的网络创业培训（WLC），",
             "完成培训40课时，经考核合格，特发此证。", "姓名 张三", "身份证号 1101**********0021", "培训项目 网络创业培训（WLC）",
             "培训课时 40 课时", "培训时间 2023年3月6日 至 2023年3月10日", "培训机构 alpha 培训学校",
             "发证机关 呼和浩特市玉泉区人力资源和社会保障局", "证书编号 150104202303WLC00001", "校验码 ABCD2345",
             "发证日期 2023年2月6日"]
    sizes = []
    t0 = time.perf_counter()
    for _ in range(n):
        buf = BytesIO()
        c = Canvas(buf, pagesize=landscape(A4), pageCompression=1)
        y = 520
        for line in lines:
            c.setFont(font, 14)
            c.drawString(75, y, line)
            y -= 24
        c.showPage()
        c.save()
        sizes.append(len(buf.getvalue()))
    elapsed = time.perf_counter() - t0
    return {"pages": n, "seconds": round(elapsed, 3), "per_second": round(n / elapsed, 1),
            "ms_each": round(1000 * elapsed / n, 2), "pdf_bytes_avg": int(sum(sizes) / len(sizes))}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a short run (60 certificates per phase)")
    ap.add_argument("--students", type=int, default=None, help="certificates per issuing phase (default 300)")
    args = ap.parse_args(argv)
    per_phase = args.students or (60 if args.quick else 300)
    from server.documents.fonts import cjk_font

    font = cjk_font()  # load the font once before timing, as a running server has it
    from types import SimpleNamespace

    from tests.outcomes import everyone_eligible
    everyone_eligible(SimpleNamespace(setattr=setattr))  # module docstring: no lessons were taught here
    with tempfile.TemporaryDirectory(prefix="qihang-bench-certs-") as tmp:
        t_setup = time.perf_counter()
        svc, client, cid, ids, admin_id = setup(Path(tmp), 2 * per_phase)
        setup_s = time.perf_counter() - t_setup
        run_issue(svc, cid, ids[:2], admin_id, render=True)  # warm-up: the seal key, the first PDF
        issue_render = run_issue(svc, cid, ids[2:per_phase], admin_id, render=True)
        issue_only = run_issue(svc, cid, ids[per_phase:], admin_id, render=False)
        seal_only = run_seal_only(svc, 5 * per_phase)
        bare = run_bare_page(per_phase)
        client.__exit__(None, None, None)
        svc.db.dispose()
    result = {
        "bench": "certificates", "quick": args.quick, "db": "sqlite", "font_embedded": font.embedded,
        "font": Path(font.path).name if font.path else font.name, "python": platform.python_version(),
        "setup_seconds": round(setup_s, 1),
        "issue_render": issue_render, "issue_only": issue_only, "seal_only": seal_only, "bare_page": bare,
        "pdf_share_of_issue_render": round(1 - issue_only["ms_each"] / issue_render["ms_each"], 3),
        "issue_render_vs_bare_page": round(issue_render["ms_each"] / bare["ms_each"], 2),
    }
    print(json.dumps(result, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()

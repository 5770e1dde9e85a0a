"""The SUB-2 application bundle of one class claim, as one zip archive.

Members (seeds 000/001 list: 补贴申请、花名册、身份证复印件、合格证复印件、垫付培训补贴协议、银行账户)::

    01_申请表_application.pdf        the application form (generated)
    02_花名册_roster.csv / .xlsx      the frozen roster of the claim
    03_身份证_id/<id>_<name>_front.jpg, _back.jpg   the registration's ID photos of each student claimed for
    04_合格证_certificates/<number>.pdf   each claimed student's certificate (CERT-1 PDF)
    05_垫付协议_advance_agreement.pdf  the advance-payment agreement (generated)
    06_银行账户_bank_account.json     the institution's account
    manifest.json                      sha256 and size of every member above

Built once when the claim is submitted and stored encrypted (server/files.py); the manifest lets a
reviewer check that nothing in the archive was altered. The SUB-4 advance claim's archive has its own
members (server/subsidies/advance.py) and the same manifest (:func:`archive`).
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import StoredFile, StudentProfile, TrainingClass
from models.certificates import Certificate
from server.export import Column, to_csv, to_xlsx
from server.services import CHINA_TZ
from server.subsidies.roster import ROSTER_COLUMNS_SPEC

ROSTER_COLUMNS = tuple(Column(*c) for c in ROSTER_COLUMNS_SPEC)
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # zip member timestamps: the archive depends only on its contents


def _safe(text: str) -> str:
    return "".join(ch for ch in str(text) if ch.isalnum() or ch in "-_")[:40] or "x"


def _pdf(title: str, pairs: list[tuple[str, str]], table: tuple[list[str], list[list], list[float]] | None,
         paragraphs: list[str]) -> bytes:
    from reportlab.platypus import Paragraph, Spacer

    from server.documents import pdfkit
    st = pdfkit.styles()
    story = [Paragraph(pdfkit.esc(title), st["title"]), pdfkit.facts_table(pairs, st), Spacer(1, 6)]
    for text in paragraphs:
        story.append(Paragraph(pdfkit.esc(text), st["body"]))
        story.append(Spacer(1, 4))
    if table is not None:
        story.append(pdfkit.data_table(*table, st))
    return pdfkit.build(story, title=title)


def _money(v) -> str:
    return "未知 unknown" if v is None else f"{v} 元"


def application_pdf(claim_info: dict, roster: dict, bank: dict) -> bytes:
    t = roster["totals"]
    pairs = [("培训机构 Institution", roster["institution_name"] or ""), ("班期 Class", roster["class_name"]),
             ("课程 Course", roster["course_name"]), ("政策 Profile", roster["profile"]),
             ("学员人数 Students", str(t["students"])), ("申领人数 Claimed", str(t["claimed"])),
             ("申领总额 Total", _money(t["total_cny"])), ("其中成功创业补贴 Supplements", _money(t["supplement_cny"])),
             ("开户名 Account name", bank["account_name"]), ("开户行 Bank", bank["bank_name"]),
             ("账号 Account number", bank["account_number"]), ("提交时间 Submitted", claim_info["submitted_at"])]
    if t.get("advance_cny") is not None:
        pairs += [("预拨 Advance (SUB-4)", _money(t["advance_cny"])), ("余额 Remainder", _money(t["remaining_cny"]))]
    rows = [[r["student_id"], r["name"], r["id_number_masked"], r["credited_class_hours"], _money(r["amount_cny"])]
            for r in roster["items"] if r["claimed"]]
    return _pdf("创业培训补贴申请表 Training subsidy application (SUB-2)", pairs,
                (["学员ID", "姓名", "身份证号（脱敏）", "计入课时", "补贴金额"], rows, [25, 45, 60, 30, 40]),
                ["本机构承诺所报学员均已按规定完成培训并取得创业培训合格证书，所报材料真实有效。"])


def advance_application_pdf(data: dict, bank: dict, submitted_at: str) -> bytes:
    """SUB-4: the application for the advance after the online part (seed 004 三(一)1)."""
    t, online = data["totals"], data["online"]
    pairs = [("培训机构 Institution", data["institution_name"] or ""), ("班期 Class", data["class_name"]),
             ("课程 Course", data["course_name"]), ("政策 Profile", data["profile"]),
             ("线上课次 Online lessons", f"{online['ended']} / {online['lessons']}（{online['class_hours']} 课时）"),
             ("学员人数 Students", str(t["students"])), ("预拨人数 Advanced", str(t["claimed"])),
             ("补贴标准 Standard", _money(data["standard_cny"])),
             ("预拨比例 Share", f"{(data['advance_payment_share'] or 0) * 100:g}%"),
             ("预拨总额 Advance total", _money(t["advance_cny"])),
             ("开户名 Account name", bank["account_name"]), ("开户行 Bank", bank["bank_name"]),
             ("账号 Account number", bank["account_number"]), ("提交时间 Submitted", submitted_at)]
    rows = [[r["student_id"], r["name"], r["id_number_masked"],
             "—" if r["online_ratio"] is None else f"{r['online_ratio'] * 100:.1f}%", _money(r["advance_cny"])]
            for r in data["items"] if r["claimed"]]
    return _pdf("线上培训补贴预拨申请表 Advance subsidy application (SUB-4)", pairs,
                (["学员ID", "姓名", "身份证号（脱敏）", "线上学时占比", "预拨金额"], rows, [25, 45, 60, 30, 40]),
                [f"本班线上培训已完成，所列学员线上学习时长均达到 {data['online_threshold'] * 100:g}%；"
                 "线上学时未达标的学员不予预拨。线下培训完成后申领剩余部分。"])


def agreement_pdf(roster: dict, bank: dict, submitted_on: str) -> bytes:
    share = roster.get("advance_payment_share")
    paragraphs = [
        f"甲方（定点培训机构）：{roster['institution_name']}；乙方：参加“{roster['class_name']}”培训并列入补贴花名册的学员。",
        "一、甲方为乙方垫付创业培训费用，乙方不再另行缴纳培训费；培训补贴由甲方按“谁垫付、谁申领”的原则向人社部门申领。",
        f"二、补贴拨付至甲方账户：{bank['account_name']}，{bank['bank_name']}，{bank['account_number']}。",
        "三、乙方同意甲方为申领补贴使用其报名信息、身份证复印件和合格证书复印件，并同意在公示中以脱敏方式列示。",
    ]
    if share:
        paragraphs.append(f"四、线上培训完成后先申领 {share * 100:g}% 的培训补贴，线下培训完成后申领剩余部分（SUB-4）。")
    rows = [[r["student_id"], r["name"], _money(r["amount_cny"])] for r in roster["items"] if r["claimed"]]
    return _pdf("垫付培训补贴协议 Advance-payment agreement (SUB-2)",
                [("培训机构 Institution", roster["institution_name"] or ""), ("签订日期 Date", submitted_on)],
                (["学员ID", "姓名", "垫付补贴金额"], rows, [30, 60, 50]), paragraphs)


def _certificate_copy(s: Session, svc, cert: Certificate, profile) -> tuple[str, bytes]:
    """The CERT-1 PDF; its record as JSON when the renderer is unavailable in this build."""
    try:
        from recorder.signing import load_platform_key
        from server.certificates import document
    except ImportError:
        record = {k: getattr(cert, k) for k in ("number", "student_name", "course_type", "course_name",
                                                  "class_hours", "institution_name", "status", "signature", "key_id")}
        record.update(start_date=cert.start_date.isoformat(), end_date=cert.end_date.isoformat(),
                      issued_at=cert.issued_at.isoformat())
        return f"{_safe(cert.number)}.json", json.dumps(record, ensure_ascii=False, indent=2).encode()
    data = document.render(s, cert, secret=svc.settings.secret_key, base_url=svc.settings.base_url,
                           issuer_zh=profile.certificate.issuer_zh, platform=load_platform_key(svc.settings).public)
    return f"{_safe(cert.number)}.pdf", data


def build(s: Session, svc, cls: TrainingClass, roster: dict, bank: dict, *, submitted_at: datetime) -> bytes:
    """The zip archive's bytes (module docstring)."""
    profile = svc.profiles.get(cls.profile)
    claimed = [r for r in roster["items"] if r["claimed"]]
    members: list[tuple[str, bytes]] = []
    when = submitted_at.astimezone(CHINA_TZ)
    members.append(("01_申请表_application.pdf",
                    application_pdf({"submitted_at": when.strftime("%Y-%m-%d %H:%M")}, roster, bank)))
    members.append(("02_花名册_roster.csv", to_csv(roster["items"], ROSTER_COLUMNS)))
    members.append(("02_花名册_roster.xlsx", to_xlsx(roster["items"], ROSTER_COLUMNS, title="补贴花名册")))
    ids = [r["student_id"] for r in claimed]
    people = {p.user_id: p for p in s.scalars(select(StudentProfile).where(StudentProfile.user_id.in_(ids)))} if ids else {}
    for r in claimed:
        p = people.get(r["student_id"])
        if p is None:
            continue
        for side, file_id in (("front", p.id_front_file_id), ("back", p.id_back_file_id)):
            row = s.get(StoredFile, file_id)
            ext = "jpg" if row.content_type == "image/jpeg" else "png" if row.content_type == "image/png" else "bin"
            members.append((f"03_身份证_id/{p.user_id}_{_safe(p.real_name)}_{side}.{ext}", svc.files.read(row)))
    certs = s.scalars(select(Certificate).where(Certificate.class_id == cls.id, Certificate.student_user_id.in_(ids),
                                                Certificate.status == "valid").order_by(Certificate.serial)).all() if ids else []
    for cert in certs:
        name, data = _certificate_copy(s, svc, cert, profile)
        members.append((f"04_合格证_certificates/{name}", data))
    members.append(("05_垫付协议_advance_agreement.pdf", agreement_pdf(roster, bank, when.date().isoformat())))
    members.append(("06_银行账户_bank_account.json", json.dumps(bank, ensure_ascii=False, indent=2).encode()))
    return archive(members, {"class_id": cls.id, "class_name": cls.name, "institution_id": cls.institution_id,
                             "stage": "final", "submitted_at": when.isoformat(), "totals": roster["totals"]})


def archive(members: list[tuple[str, bytes]], manifest: dict) -> bytes:
    """The zip of ``members`` and a manifest.json with each member's size and sha256."""
    files = [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in members]
    members = members + [("manifest.json", json.dumps(dict(manifest, files=files), ensure_ascii=False,
                                                      indent=2).encode())]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.flag_bits |= 0x800  # UTF-8 member names
            zf.writestr(info, data)
    return buf.getvalue()

"""Real-name student registration (REG-1/2/3) and student records, masked by default (PLAT-3)."""
from __future__ import annotations

import re
from datetime import date

from sqlalchemy import or_, select
from starlette.responses import Response

from models import Enrolment, Institution, StoredFile, StudentProfile, TrainingClass, User
from server.api.endpoint import Api, Ctx, Upload
from server.auth.passwords import hash_password
from server.auth.scope import STAFF_ROLES, region_covers, region_prefix
from server.auth.sessions import login
from server.errors import ApiError, NotFound
from server.identity.contact import mask_mobile, normalise_mobile
from server.identity.photos import process_image
from server.identity.resident_id import mask_resident_id, parse_resident_id
from server.policy.profiles import TARGET_GROUPS

api = Api()

REGISTRATION_FIELDS = {
    "institution_code": "机构代码（报名链接里的 inst） Institution code from the registration link",
    "password": "登录密码（≥8 位，含字母和数字） Password, ≥ 8 chars with letters and digits",
    "real_name": "姓名 Real name",
    "id_number": "18 位居民身份证号 18-digit resident ID number",
    "mobile": "手机号（登录名） Mobile number, also the login name",
    "household_registration": "户籍所在地 Household registration place",
    "target_group": "重点群体 Target group (REG-3): " + ", ".join(TARGET_GROUPS),
    "graduation_year": "毕业年份（高校毕业生） Graduation year, for graduates",
    "business_registered_on": "营业执照登记日期 Business registration date (YYYY-MM-DD)",
    "consent": "同意个人信息处理规则（true） Consent to personal data processing",
    "id_front": "身份证人像面照片 ID card front (JPEG/PNG)",
    "id_back": "身份证国徽面照片 ID card back (JPEG/PNG)",
    "reference_photo": "近期 1 寸免冠照片 Recent 1-inch photo (JPEG/PNG, portrait)",
    "evidence": "重点群体证明材料照片 Evidence of the target group (JPEG/PNG)",
}
NAME_RE = re.compile(r"^[\u3400-\u9fff·•A-Za-z ]{2,30}$")


def _missing(field: str) -> ApiError:
    return ApiError("VALIDATION_FAILED", f"缺少必填字段：{field}", f"Missing required field: {field}", field=field,
                    rule="missing", status=422)


def _text(form: dict, field: str, *, required: bool = True, max_len: int = 200) -> str | None:
    value = form.get(field)
    if isinstance(value, Upload):
        raise ApiError("VALIDATION_FAILED", f"字段 {field} 应为文本", f"Field {field} must be text", field=field,
                       status=422)
    value = (value or "").strip()
    if not value:
        if required:
            raise _missing(field)
        return None
    if len(value) > max_len:
        raise ApiError("VALIDATION_FAILED", f"字段 {field} 过长（上限 {max_len}）", f"Field {field} is longer than {max_len}",
                       field=field, rule="string_too_long", status=422)
    return value


def _file(form: dict, field: str, *, required: bool = True) -> Upload | None:
    value = form.get(field)
    if value is None or (isinstance(value, Upload) and not value.data):
        if required:
            raise _missing(field)
        return None
    if not isinstance(value, Upload):
        raise ApiError("VALIDATION_FAILED", f"字段 {field} 应为文件", f"Field {field} must be a file upload",
                       field=field, status=422)
    return value


def student_dict(p: StudentProfile, *, with_contact: bool = True) -> dict:
    d = {"id": p.user_id, "real_name": p.real_name, "id_number_masked": p.id_masked, "gender": p.gender,
         "birth_date": p.birth_date.isoformat(), "household_registration": p.household_registration,
         "target_group": p.target_group, "graduation_year": p.graduation_year,
         "business_registered_on": p.business_registered_on.isoformat() if p.business_registered_on else None,
         "registered_via_institution_id": p.registered_via_institution_id,
         "has_evidence": p.evidence_file_id is not None}
    if with_contact:
        d["mobile_masked"] = mask_mobile(p.mobile)
    return d


@api.route("POST", "/api/students/register", summary="学员实名注册 Student real-name registration", tag="students",
           body="multipart", public=True, status=201, multipart_fields=REGISTRATION_FIELDS)
def register(ctx: Ctx, form: dict):
    """REG-1/REG-2/REG-3. Photos are decoded and re-encoded; the ID number is stored encrypted."""
    inst_code = _text(form, "institution_code", max_len=32)
    inst = ctx.s.query(Institution).filter_by(code=inst_code).one_or_none()
    if inst is None or not inst.may_run_classes:
        raise ApiError("INSTITUTION_NOT_OPEN", "报名链接无效或机构未获准开展培训",
                       "Registration link invalid or the institution may not train", field="institution_code",
                       status=422, rule="REG-5")
    if _text(form, "consent", required=False, max_len=10) not in ("true", "1", "on", "yes"):
        raise ApiError("CONSENT_REQUIRED", "须同意个人信息处理规则后才能注册",
                       "You must consent to the processing of personal data", field="consent", status=422,
                       rule="PLAT-3")
    password = _text(form, "password", max_len=128)
    if len(password) < 8 or not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        raise ApiError("WEAK_PASSWORD", "密码至少 8 位，且同时包含字母和数字",
                       "Password needs at least 8 characters with letters and digits", field="password",
                       status=422, rule="PLAT-3")
    real_name = _text(form, "real_name", max_len=30)
    if not NAME_RE.match(real_name):
        raise ApiError("NAME_FORMAT", "姓名须为 2–30 个汉字或字母", "Name must be 2–30 Chinese characters or letters",
                       field="real_name", status=422, rule="REG-1")
    rid = parse_resident_id(_text(form, "id_number", max_len=40), today=ctx.today)
    mobile = normalise_mobile(_text(form, "mobile", max_len=20))
    household = _text(form, "household_registration", max_len=200)
    target_group = _text(form, "target_group", max_len=32)
    if target_group not in TARGET_GROUPS:
        raise ApiError("TARGET_GROUP_UNKNOWN", "重点群体类别无效", f"target_group must be one of {', '.join(TARGET_GROUPS)}",
                       field="target_group", status=422, rule="REG-3")
    graduation_year = _int_field(form, "graduation_year", 1950, ctx.today.year + 1)
    if target_group == "graduate" and graduation_year is None:
        raise ApiError("GRADUATION_YEAR_REQUIRED", "高校毕业生须填写毕业年份", "Graduates must give graduation_year",
                       field="graduation_year", status=422, rule="REG-3")
    business_on = _date_field(form, "business_registered_on", ctx.today)
    if target_group == "new_business_owner" and business_on is None:
        raise ApiError("BUSINESS_DATE_REQUIRED", "新创企业负责人须填写营业执照登记日期",
                       "New business owners must give business_registered_on", field="business_registered_on",
                       status=422, rule="REG-3")
    uploads = {k: _file(form, k) for k in ("id_front", "id_back", "reference_photo")}
    evidence = _file(form, "evidence", required=False)

    cipher = ctx.svc.cipher
    id_index = cipher.blind_index(rid.number, purpose="resident-id")
    if ctx.s.query(StudentProfile.user_id).filter_by(id_index=id_index).first():
        raise ApiError("ALREADY_REGISTERED", "该身份证号已注册，请直接登录", "This ID number is already registered; log in",
                       field="id_number", status=409, rule="REG-1")
    if ctx.s.query(User.id).filter_by(username=mobile).first():
        raise ApiError("MOBILE_TAKEN", "该手机号已注册", "This mobile number is already registered", field="mobile",
                       status=409)
    # Decode everything before writing anything, so a bad photo leaves no half-made account.
    images = {k: process_image(u.data, "reference" if k == "reference_photo" else k, field=k)
              for k, u in uploads.items()}
    ev_image = process_image(evidence.data, "evidence", field="evidence") if evidence else None
    # ATT-1/2: the reference photo must show exactly one clear face; its descriptor is the template
    # attendance checks compare with (refused with FACE_NO_FACE / FACE_SEVERAL_FACES / FACE_POOR_QUALITY).
    template = ctx.svc.faces.template_from_photo(images["reference_photo"].data, field="reference_photo")

    user = User(username=mobile, password_hash=hash_password(password), role="student", display_name=real_name,
                created_at=ctx.now)
    ctx.s.add(user)
    ctx.s.flush()
    files = {k: ctx.svc.files.save_image(ctx.s, img, kind=k, owner_user_id=user.id, institution_id=inst.id)
             for k, img in images.items()}
    ev_file = ctx.svc.files.save_image(ctx.s, ev_image, kind="evidence", owner_user_id=user.id,
                                       institution_id=inst.id) if ev_image else None
    profile = StudentProfile(
        user_id=user.id, real_name=real_name, id_encrypted=cipher.encrypt(rid.number, context="resident-id"),
        id_index=id_index, id_masked=mask_resident_id(rid.number), birth_date=rid.birth_date, gender=rid.gender,
        mobile=mobile, household_registration=household, target_group=target_group,
        graduation_year=graduation_year, business_registered_on=business_on,
        evidence_file_id=ev_file.id if ev_file else None, id_front_file_id=files["id_front"].id,
        id_back_file_id=files["id_back"].id, reference_photo_file_id=files["reference_photo"].id,
        registered_via_institution_id=inst.id, created_at=ctx.now,
    )
    ctx.s.add(profile)
    ctx.s.flush()
    ctx.svc.faces.save(ctx.s, user.id, template, source="reference", photo_file_id=files["reference_photo"].id)
    ctx.user = user
    ctx.audit("student.register", target_type="student", target_id=user.id, institution_id=inst.id,
              region_code=inst.region_code, id_masked=profile.id_masked)
    token, _ = login(ctx, mobile, password)
    return {"token": token, "student": student_dict(profile)}


def _int_field(form: dict, field: str, lo: int, hi: int) -> int | None:
    raw = _text(form, field, required=False, max_len=8)
    if raw is None:
        return None
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise ApiError("VALIDATION_FAILED", f"字段 {field} 应为 {lo}–{hi} 之间的年份", f"{field} must be a year {lo}–{hi}",
                       field=field, status=422)
    return int(raw)


def _date_field(form: dict, field: str, today: date) -> date | None:
    raw = _text(form, field, required=False, max_len=10)
    if raw is None:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value > today:
        raise ApiError("VALIDATION_FAILED", f"字段 {field} 应为不晚于今天的日期 YYYY-MM-DD",
                       f"{field} must be a date YYYY-MM-DD not after today", field=field, status=422)
    return value


def visible_student(ctx: Ctx, student_id: int) -> StudentProfile:
    """Staff see students who registered through them or sit in their classes; supervisors by region."""
    p = ctx.s.get(StudentProfile, student_id)
    if p is None:
        raise NotFound("学员", "student")
    u = ctx.user
    if u.role == "platform_admin" or (u.role == "student" and u.id == p.user_id):
        return p
    classes = select(TrainingClass).join(Enrolment, Enrolment.class_id == TrainingClass.id).where(
        Enrolment.student_user_id == p.user_id)
    if u.role in STAFF_ROLES:
        if p.registered_via_institution_id == u.institution_id or ctx.s.scalars(
                classes.where(TrainingClass.institution_id == u.institution_id)).first():
            return p
    if u.role == "supervisor":
        if any(region_covers(u, c.district_code) for c in ctx.s.scalars(classes)):
            return p
        inst = ctx.s.get(Institution, p.registered_via_institution_id) if p.registered_via_institution_id else None
        if inst is not None and region_covers(u, inst.region_code):
            return p
    raise NotFound("学员", "student")


@api.route("GET", "/api/students", summary="学员列表（脱敏） List students, masked", tag="students",
           roles=("platform_admin", "institution_admin", "lecturer", "assistant", "supervisor"))
def list_students(ctx: Ctx):
    u = ctx.user
    stmt = select(StudentProfile).order_by(StudentProfile.user_id)
    enrolled_in = select(Enrolment.student_user_id).join(TrainingClass, Enrolment.class_id == TrainingClass.id)
    if u.role in STAFF_ROLES:
        stmt = stmt.where(or_(StudentProfile.registered_via_institution_id == u.institution_id,
                              StudentProfile.user_id.in_(enrolled_in.where(
                                  TrainingClass.institution_id == u.institution_id))))
    elif u.role == "supervisor":
        prefix = region_prefix(u.region_level, u.region_code)
        stmt = stmt.where(StudentProfile.user_id.in_(enrolled_in.where(TrainingClass.district_code.startswith(prefix))))
    return {"items": [student_dict(p) for p in ctx.s.scalars(stmt)]}


@api.route("GET", "/api/me/student", summary="我的学员资料 My student profile", tag="students", roles=("student",))
def my_profile(ctx: Ctx):
    p = ctx.s.get(StudentProfile, ctx.user.id)
    if p is None:
        raise NotFound("学员资料", "student profile")
    d = student_dict(p)
    d["enrolments"] = [{"class_id": e.class_id, "class_name": e.training_class.name, "status": e.status,
                        "course_type": e.course_type, "year": e.year}
                       for e in ctx.s.query(Enrolment).filter_by(student_user_id=p.user_id)]
    return d


@api.route("GET", "/api/students/{student_id:int}", summary="学员详情（脱敏） Student, masked", tag="students",
           roles=("platform_admin", "institution_admin", "lecturer", "assistant", "supervisor", "student"))
def show_student(ctx: Ctx, student_id: int):
    return student_dict(visible_student(ctx, student_id))


REVEAL_ROLES = ("platform_admin", "institution_admin", "supervisor")


@api.route("GET", "/api/students/{student_id:int}/id-number", summary="查看完整身份证号（留痕） Reveal full ID number, audited",
           tag="students", roles=REVEAL_ROLES)
def reveal_id(ctx: Ctx, student_id: int):
    """PLAT-3: the full number only for roles that need it (subsidy claims, review), each reveal audited."""
    p = visible_student(ctx, student_id)
    number = ctx.svc.cipher.decrypt(p.id_encrypted, context="resident-id").decode()
    ctx.audit("student.reveal_id", target_type="student", target_id=p.user_id,
              institution_id=ctx.user.institution_id)
    return {"id": p.user_id, "id_number": number}


PHOTO_FIELDS = {"id_front": "id_front_file_id", "id_back": "id_back_file_id",
                "reference_photo": "reference_photo_file_id", "evidence": "evidence_file_id"}


@api.route("GET", "/api/students/{student_id:int}/photos/{kind}", summary="学员照片 Student photo (JPEG)",
           tag="students", roles=REVEAL_ROLES + ("student",))
def photo(ctx: Ctx, student_id: int, kind: str):
    if kind not in PHOTO_FIELDS:
        raise NotFound("照片", "photo")
    p = visible_student(ctx, student_id)
    file_id = getattr(p, PHOTO_FIELDS[kind])
    row = ctx.s.get(StoredFile, file_id) if file_id else None
    if row is None:
        raise NotFound("照片", "photo")
    if ctx.user.role != "student":
        ctx.audit("student.photo_view", target_type="student", target_id=p.user_id, kind=kind)
    return Response(ctx.svc.files.read(row), media_type=row.content_type,
                    headers={"Cache-Control": "private, no-store"})

"""Business-success evidence for the SUB-1 supplements: what a file must be and when evidence qualifies.

SUB-1: Hohhot raises the SYB / network subsidy by 40 % for graduates who "成功创业且稳定经营6个月及以上"
(seed 002 第二十二条); Beijing pays the organiser +1000 CNY when a basic / network trainee "取得营业执照满
6 个月，或开办网店满 6 个月且月平均销售收入不低于 3000 元" (seed 003 三(一)). The profile carries the
amounts (``success_uplift_ratio``, ``success_bonus_cny``) and the conditions: ``success_min_months``
(profile) and ``success_shop_min_monthly_sales_cny`` (course rule; Beijing 3000).

The sales condition belongs to Beijing's practice-guidance bonus (``success_bonus_cny``), so it applies
only where the course sets a floor. Both rules speak of business success
*after* training, so the business must have started on or after the class's first day.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from server.errors import ApiError

MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
PDF_MAGIC = b"%PDF-"
RULE = "SUB-1"


def _months_between(earlier: date, later: date) -> int:
    """Whole months from ``earlier`` to ``later`` (2024-01-15 → 2024-07-15 is 6)."""
    return (later.year - earlier.year) * 12 + later.month - earlier.month - (later.day < earlier.day)


def supplement_applies(course) -> bool:
    """Does this program pay a success supplement at all (IYB in Hohhot does not)?"""
    return bool(course.success_uplift_ratio) or bool(course.success_bonus_cny)


@dataclass(frozen=True)
class Qualification:
    qualifies: bool
    code: str
    message_zh: str
    message_en: str
    numbers: dict

    def as_dict(self) -> dict:
        return {"qualifies": self.qualifies, "code": self.code, "message_zh": self.message_zh,
                "message_en": self.message_en, "numbers": self.numbers}


def qualification(profile, course, *, kind: str, started_on: date, monthly_sales: list[int],
                  first_day: date | None, as_of: date) -> Qualification:
    """Whether verified evidence earns the supplement on ``as_of`` (the rules in the module docstring)."""
    min_months = profile.success_min_months
    months = _months_between(started_on, as_of) if started_on <= as_of else 0
    numbers = {"months": months, "min_months": min_months, "started_on": started_on.isoformat()}
    if not supplement_applies(course):
        return Qualification(False, "NO_SUPPLEMENT", f"{course.name_zh}不享受成功创业补贴上浮或加发",
                             f"{course.name_en} pays no business-success supplement", numbers)
    if first_day is not None and started_on < first_day:
        return Qualification(False, "STARTED_BEFORE_TRAINING", "创业时间早于培训开始，不属于培训后成功创业",
                             "The business started before the training, not after it",
                             dict(numbers, first_day=first_day.isoformat()))
    if months < min_months:
        return Qualification(False, "TOO_YOUNG", f"经营 {months} 个月，不足 {min_months} 个月",
                             f"Running for {months} months, fewer than {min_months}", numbers)
    floor = course.success_shop_min_monthly_sales_cny
    if kind == "online_shop" and floor is not None:
        if len(monthly_sales) < min_months:
            return Qualification(False, "SALES_MONTHS_MISSING",
                                 f"须提供至少 {min_months} 个月的月销售额，仅有 {len(monthly_sales)} 个月",
                                 f"At least {min_months} monthly sales figures needed, {len(monthly_sales)} given",
                                 dict(numbers, sales_months=len(monthly_sales)))
        average = sum(monthly_sales) / len(monthly_sales)
        numbers = dict(numbers, average_monthly_sales=round(average, 2), min_average=floor)
        if average < floor:
            return Qualification(False, "SALES_LOW", f"网店月平均销售额 {average:.0f} 元，低于 {floor} 元",
                                 f"Average monthly sales {average:.0f} CNY, below {floor} CNY", numbers)
    return Qualification(True, "QUALIFIES", f"成功创业满 {months} 个月，符合补贴条件",
                         f"Business running {months} months; the supplement applies", numbers)


def _bad_file(zh: str, en: str) -> ApiError:
    return ApiError("EVIDENCE_FILE_INVALID", zh, en, field="file", status=422, rule=RULE)


def check_file(data: bytes) -> tuple[bytes, str]:
    """The bytes to store and their media type. PDFs are kept as sent after a magic-byte check; JPEG/PNG
    images are decoded and re-encoded (server/identity/photos.py), which drops metadata and payloads."""
    if not data:
        raise _bad_file("请上传证明文件", "Upload the evidence file")
    if len(data) > MAX_EVIDENCE_BYTES:
        raise ApiError("EVIDENCE_FILE_TOO_LARGE", f"证明文件不能超过 {MAX_EVIDENCE_BYTES // (1024 * 1024)} MB",
                       f"The evidence file may be at most {MAX_EVIDENCE_BYTES // (1024 * 1024)} MB", field="file",
                       status=413, rule=RULE)
    if data.startswith(PDF_MAGIC):
        if b"%%EOF" not in data[-1024:]:
            raise _bad_file("PDF 文件不完整", "The PDF file is truncated")
        return data, "application/pdf"
    if data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG\r\n\x1a\n"):
        from server.identity.errors import IdentityError
        from server.identity.photos import process_image
        try:
            image = process_image(data, "evidence", field="file")
        except IdentityError as exc:
            raise ApiError(exc.code, exc.message_zh, exc.message_en, field="file", status=422, rule=RULE)
        return image.data, "image/jpeg"
    raise _bad_file("证明文件须为 JPEG、PNG 图片或 PDF", "The evidence must be a JPEG or PNG image or a PDF")

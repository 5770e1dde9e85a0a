"""Region policy profiles (地区政策配置): every number that differs between cities, kept as data.

REQUIREMENTS.md: "Numbers that differ between cities (class caps, hours, subsidy amounts) are policy
settings, not constants". Each region ships one TOML file in ``server/policy/profiles/`` (``henan``,
``hohhot``, ``beijing``, ``baotou``); a class is bound to one profile and code reads the numbers from it.
A deployment may add profiles from its own directory (``load_profiles(extra_dir)``, the
``QIHANG_PROFILES_DIR`` setting); a file there whose key equals a shipped one *replaces* it, so a
region can fill in or correct numbers (e.g. Baotou's subsidy amounts) without a code release.

Every file is validated strictly when loaded: unknown keys, missing required keys, wrong types
(``true`` is not an integer), unknown course types / target groups / lecturer certificate kinds /
approval levels, shares and thresholds outside (0, 1], malformed codes and certificate patterns all
raise :class:`ProfileError`, whose message names the file and the dotted key.

TOML has no null: an optional setting is "not set" (``None``, or empty) when its key is absent.

``region_code`` is the 6-digit administrative division code (GB/T 2260) of the area whose rules the
profile carries: the city for hohhot (150100) and baotou (150200), the municipality for beijing
(110000), and the *province* for henan (410000) — the Zhengzhou and Kaifeng notices (seeds 000/001)
both implement the provincial rules (豫人社办〔2018〕46号, 豫财社〔2018〕8号) and file every class with
the province, so one profile serves every Henan city.

Rule IDs served here (the numbers themselves are cited in the TOML files): CLS-1..5, CLS-7, CLS-8,
LIVE-2, LIVE-4, ATT-3, ATT-4, ATT-7, ATT-8, EXAM-2, CERT-2, CERT-3, SUB-1, SUB-3, SUB-4, SUP-5, REC-1,
REG-3, REG-4.
"""
from __future__ import annotations

import math
import re
import string
import tomllib
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

COURSE_TYPES = ("GYB", "SYB", "IYB", "WLC", "ELITE_LAUNCH", "ELITE_PRACTICE")  # CLS-5
TARGET_GROUPS = ("graduate", "registered_unemployed", "rural_migrant_worker", "veteran", "prior_certificate",
                 "competition_award", "new_business_owner", "other")  # REG-3
APPROVAL_LEVELS = ("district", "city", "province")  # CLS-1, in review order
LECTURER_CERTIFICATE_KINDS = ("syb", "network", "beijing_basic", "elite")  # CLS-2
CERTIFICATE_KINDS = ("hohhot", "platform")  # CERT-2 layout, or a number the platform assigns (CERT-3)
SERIAL_SCOPES = ("district", "institution", "profile")
PATTERN_FIELDS = ("province", "city", "yyyymm", "course", "serial", "institution")
CERT2_NUMBER = re.compile(r"\d{2}\d{4}\d{6}[A-Z]{3}\d{5}")  # CERT-2: 2+4+6 digits, 3 letters, 5 digits

SHIPPED_DIR = Path(__file__).with_name("profiles")


class ProfileError(ValueError):
    """A profile file is malformed; ``file`` and ``key`` (dotted, e.g. ``courses.SYB.class_cap``) say where."""

    def __init__(self, file: Path | str, key: str | None, problem: str):
        self.file = Path(file)
        self.key = key
        self.problem = problem
        super().__init__(f"{self.file}: {key}: {problem}" if key else f"{self.file}: {problem}")


class UnknownProfile(KeyError):
    """No profile has this key."""

    def __init__(self, key: str, known: tuple[str, ...] = ()):
        self.key = key
        self.known = tuple(known)
        super().__init__(key)

    def __str__(self) -> str:
        return f"unknown policy profile {self.key!r} (known: {', '.join(self.known) or 'none'})"


class UnknownCourseType(KeyError):
    """The profile does not run this course type (CLS-5)."""

    def __init__(self, course_type: str, profile_key: str, offered: tuple[str, ...] = ()):
        self.course_type = course_type
        self.profile_key = profile_key
        self.offered = tuple(offered)
        super().__init__(course_type)

    def __str__(self) -> str:
        return (f"profile {self.profile_key!r} has no course type {self.course_type!r} "
                f"(offered: {', '.join(self.offered) or 'none'})")


@dataclass(frozen=True, kw_only=True)
class CourseRule:
    """One training program as a region runs it (CLS-3, CLS-4, CLS-5, CERT-2, SUB-1, REG-3, EXAM-2)."""

    course_type: str
    name_zh: str
    name_en: str
    cert_code: str  # 3 letters in the certificate number (CERT-2): SYB / IYB / WLC / GYB, elite e.g. JYQ / JYS
    class_cap: int  # CLS-3: most students per class
    min_class_hours: int  # CLS-4
    min_days: int  # CLS-4
    lecturer_certificate_kinds: tuple[str, ...]  # CLS-2: lecturer certificate kinds that may teach it
    max_recorded_share: float | None = None  # CLS-4 (Beijing ≤ 0.5): recorded self-study share of hours
    subsidy_cny: int | None = None  # SUB-1, per person; None = the profile does not know the amount
    # SUB-1 (Beijing elite): class-hours reached → CNY, e.g. {40: 1500, 60: 2000, 80: 2500}; read-only
    subsidy_tiers: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    success_uplift_ratio: float = 0.0  # SUB-1 (Hohhot +0.40 for SYB and WLC)
    success_bonus_cny: int = 0  # SUB-1 (Beijing +1000 practice-guidance subsidy for basic / network)
    audience: tuple[str, ...] = ()  # REG-3: target groups admitted; empty = open to all
    graduate_window_years: int = 0  # REG-3: graduates qualify in their graduation year or within N years
    business_age_max_months: int = 0  # REG-3: business registered less than N months before the class
    plan_credit_hours: int = 0  # EXAM-2 (Beijing): a passed business plan counts N class-hours
    # SUB-1 (Beijing +1000): an online shop qualifies with at least this monthly turnover; None: not a criterion
    success_shop_min_monthly_sales_cny: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "course_type": self.course_type, "name_zh": self.name_zh, "name_en": self.name_en,
            "cert_code": self.cert_code, "class_cap": self.class_cap, "min_class_hours": self.min_class_hours,
            "min_days": self.min_days, "lecturer_certificate_kinds": list(self.lecturer_certificate_kinds),
            "max_recorded_share": self.max_recorded_share, "subsidy_cny": self.subsidy_cny,
            "subsidy_tiers": {str(h): cny for h, cny in sorted(self.subsidy_tiers.items())},
            "success_uplift_ratio": self.success_uplift_ratio, "success_bonus_cny": self.success_bonus_cny,
            "audience": list(self.audience), "graduate_window_years": self.graduate_window_years,
            "business_age_max_months": self.business_age_max_months, "plan_credit_hours": self.plan_credit_hours,
            "success_shop_min_monthly_sales_cny": self.success_shop_min_monthly_sales_cny,
        }


@dataclass(frozen=True, kw_only=True)
class CertificateScheme:
    """How certificate numbers are made (CERT-2, CERT-3).

    ``pattern`` is a ``str.format`` pattern over ``province`` (digits 1–2 of the class's 6-digit district
    code), ``city`` (digits 3–6 of it), ``yyyymm`` (the class's year-month), ``course`` (the course's
    ``cert_code``), ``serial`` (an int) and ``institution`` (the institution code). ``serial_scope``
    names the unit whose counter hands out serials: ``district`` (Hohhot: 旗县区就业服务中心编制顺序号),
    ``institution`` or ``profile`` (one platform-wide counter, CERT-3). The counter may restart for
    every distinct prefix (year-month, course), since those are part of the number. The loader checks
    that the pattern carries what the scope needs to keep numbers unique.
    """

    kind: str  # "hohhot" = the CERT-2 layout, checked on every number; "platform" = configurable
    pattern: str
    serial_scope: str
    issuer_zh: str

    def number(self, district_code: str, class_month: date, course_code: str, serial: int,
               institution_code: str = "") -> str:
        """The certificate number, e.g. 150104 / 2023-03 / WLC / 1 → ``150104202303WLC00001`` (CERT-2)."""
        if not re.fullmatch(r"\d{6}", district_code):
            raise ValueError(f"district code must be 6 digits, got {district_code!r}")
        if not re.fullmatch(r"[A-Z]{3}", course_code):
            raise ValueError(f"course code must be 3 capital letters, got {course_code!r}")
        if isinstance(serial, bool) or not isinstance(serial, int) or serial < 1:
            raise ValueError(f"serial must be a positive integer, got {serial!r}")
        if "institution" in _pattern_fields(self.pattern) and not institution_code:
            raise ValueError("this certificate pattern needs the institution code")
        out = self.pattern.format(province=district_code[:2], city=district_code[2:6],
                                  yyyymm=f"{class_month.year:04d}{class_month.month:02d}", course=course_code,
                                  serial=serial, institution=institution_code)
        if self.kind == "hohhot" and not CERT2_NUMBER.fullmatch(out):
            raise ValueError(f"{out!r} is not a CERT-2 number (serial {serial} too large?)")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "pattern": self.pattern, "serial_scope": self.serial_scope,
                "issuer_zh": self.issuer_zh}


@dataclass(frozen=True, kw_only=True)
class PolicyProfile:
    """All settings of one region. Optional settings are ``None`` where the region's rules are silent."""

    key: str
    name_zh: str
    name_en: str
    province_code: str  # 2 digits
    region_code: str  # 6 digits: city, municipality or (henan) province — see the module docstring
    approval_chain: tuple[str, ...]  # CLS-1: review levels in order; the last one's approval opens the class
    submission_lead_workdays: int  # CLS-1: plan submitted ≥ N working days before the first lesson
    class_hour_minutes: int  # CLS-4: one class-hour lasts ≥ N minutes
    min_lecturers: int  # CLS-2
    requires_teaching_lead: bool  # CLS-2 (Hohhot 教学组长)
    assistant_min_students: int  # CLS-3 / LIVE-4: one assistant per 20–30 students
    assistant_max_students: int
    live_room_max_students: int  # LIVE-2 / CLS-3: one lecturer ≤ 200 students live
    live_time_threshold: float  # ATT-3: live study time share, inclusive
    attendance_threshold: float  # ATT-4: attendance rate, inclusive
    replay_counts_as_study: bool  # CLS-8 / ATT-7: replay time counts toward study time
    recording_retention_years: int  # REC-1
    public_disclosure_workdays: int  # SUB-3: roster disclosure period
    one_subsidised_training_per_year: bool  # REG-4
    no_repeat_program: bool  # REG-4
    courses: Mapping[str, CourseRule]  # CLS-5: only the programs the region runs, in COURSE_TYPES order
    certificate: CertificateScheme  # CERT-2 / CERT-3
    daily_study_threshold: float | None = None  # ATT-7 (Baotou 0.80 of each day's plan)
    max_absences: int | None = None  # CLS-7 (Hohhot 2): more than N absences/leaves bars the final assessment
    max_absence_class_hours: int | None = None  # CLS-7: one absence/leave covers at most N class-hours
    absence_limit_courses: tuple[str, ...] = ()  # CLS-7: the course types max_absences applies to
    # CLS-7: a student whose credited study in a held lesson is below this share of the lesson's held
    # (live, or offline scheduled) time, without approved leave, was absent from it (attendance/absences.py)
    absence_min_study_share: float = 0.5
    supervisor_spot_check_share: float | None = None  # SUP-5 (Beijing ≥ 10 % of live class-hours)
    roll_call_share: float | None = None  # ATT-8 (Baotou ≥ 50 % of the class …)
    roll_call_every_days: int | None = None  # ATT-8 (… at least once every 2 days)
    advance_payment_share: float | None = None  # SUB-4 (Baotou 20 % after the online part)
    success_min_months: int = 6  # SUB-1: the trainee's business has run at least N months for a supplement
    exam_pass_mark: int = 60  # EXAM-1: pass mark in % of a paper's points (the seeds set none; 60 is customary)

    def course(self, course_type: str) -> CourseRule:
        """The region's rule for a course type; :class:`UnknownCourseType` if it does not run it (CLS-5)."""
        try:
            return self.courses[course_type]
        except KeyError:
            raise UnknownCourseType(course_type, self.key, tuple(self.courses)) from None

    def max_absences_for(self, course_type: str) -> int | None:
        """CLS-7: the absence limit for this course type, or None when the region sets none for it."""
        self.course(course_type)
        return self.max_absences if course_type in self.absence_limit_courses else None

    def subsidy_for(self, course_type: str, class_hours: int, *, business_success: bool = False) -> int | None:
        """Per-person training subsidy in CNY (SUB-1) for a class of ``class_hours`` class-hours.

        ``class_hours`` are the hours the class counts, including ``plan_credit_hours`` (EXAM-2).
        Tiered programs (Beijing elite camps) pay the highest tier reached (40 h → 1500, 60 h → 2000,
        80 h → 2500). Returns ``None`` when the profile does not know the amount (Baotou), and 0 when
        the hours fall short of the course minimum (CLS-4) or of the lowest tier. With
        ``business_success`` the trainee's later business success is added: ``success_uplift_ratio``
        raises the standard (Hohhot +40 %) and ``success_bonus_cny`` is added (Beijing +1000, paid to
        the organiser as practice-guidance subsidy); rounding is half-up to whole yuan.
        """
        rule = self.course(course_type)
        if isinstance(class_hours, bool) or not isinstance(class_hours, int) or class_hours < 0:
            raise ValueError(f"class_hours must be a non-negative integer, got {class_hours!r}")
        if rule.subsidy_tiers:
            reached = [h for h in rule.subsidy_tiers if h <= class_hours]
            if class_hours < rule.min_class_hours or not reached:
                return 0
            base = rule.subsidy_tiers[max(reached)]
        elif rule.subsidy_cny is None:
            return None
        elif class_hours < rule.min_class_hours:
            return 0
        else:
            base = rule.subsidy_cny
        if not business_success:
            return base
        raised = (Decimal(base) * (1 + Decimal(str(rule.success_uplift_ratio)))).quantize(Decimal(1), ROUND_HALF_UP)
        return int(raised) + rule.success_bonus_cny

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``GET /api/profiles``."""
        return {
            "key": self.key, "name_zh": self.name_zh, "name_en": self.name_en,
            "province_code": self.province_code, "region_code": self.region_code,
            "approval_chain": list(self.approval_chain),
            "submission_lead_workdays": self.submission_lead_workdays,
            "class_hour_minutes": self.class_hour_minutes, "min_lecturers": self.min_lecturers,
            "requires_teaching_lead": self.requires_teaching_lead,
            "assistant_min_students": self.assistant_min_students,
            "assistant_max_students": self.assistant_max_students,
            "live_room_max_students": self.live_room_max_students,
            "live_time_threshold": self.live_time_threshold, "attendance_threshold": self.attendance_threshold,
            "daily_study_threshold": self.daily_study_threshold, "max_absences": self.max_absences,
            "max_absence_class_hours": self.max_absence_class_hours,
            "absence_limit_courses": list(self.absence_limit_courses),
            "absence_min_study_share": self.absence_min_study_share,
            "replay_counts_as_study": self.replay_counts_as_study,
            "recording_retention_years": self.recording_retention_years,
            "supervisor_spot_check_share": self.supervisor_spot_check_share,
            "roll_call_share": self.roll_call_share, "roll_call_every_days": self.roll_call_every_days,
            "advance_payment_share": self.advance_payment_share, "success_min_months": self.success_min_months,
            "exam_pass_mark": self.exam_pass_mark,
            "public_disclosure_workdays": self.public_disclosure_workdays,
            "one_subsidised_training_per_year": self.one_subsidised_training_per_year,
            "no_repeat_program": self.no_repeat_program,
            "courses": {k: c.to_dict() for k, c in self.courses.items()},
            "certificate": self.certificate.to_dict(),
        }


# ---------------------------------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------------------------------

_MISSING = object()


def _pattern_fields(pattern: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}


class _Table:
    """Reads one TOML table, refusing unknown keys up front and naming ``file: dotted.key`` on error."""

    def __init__(self, path: Path, data: Any, prefix: str, allowed: tuple[str, ...]):
        self.path, self.prefix = path, prefix
        if not isinstance(data, dict):
            raise ProfileError(path, prefix.rstrip(".") or None, "must be a table")
        self.data = data
        for name in data:
            if name not in allowed:
                self.fail(name, f"unknown key (allowed: {', '.join(allowed)})")

    def where(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, problem: str):
        raise ProfileError(self.path, self.where(name), problem)

    def raw(self, name: str, required: bool) -> Any:
        if name not in self.data:
            if required:
                self.fail(name, "missing required key")
            return _MISSING
        return self.data[name]

    def text(self, name: str, *, regex: str | None = None, choices: tuple[str, ...] | None = None) -> str:
        v = self.raw(name, True)
        if not isinstance(v, str) or not v.strip():
            self.fail(name, f"must be a non-empty string, got {v!r}")
        if regex is not None and not re.fullmatch(regex, v):
            self.fail(name, f"{v!r} does not match {regex}")
        if choices is not None and v not in choices:
            self.fail(name, f"{v!r} is not one of {', '.join(choices)}")
        return v

    def integer(self, name: str, *, minimum: int, required: bool = True, default: Any = None) -> Any:
        v = self.raw(name, required)
        if v is _MISSING:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(name, f"must be an integer, got {v!r}")
        if v < minimum:
            self.fail(name, f"must be ≥ {minimum}, got {v}")
        return v

    def number(self, name: str, *, required: bool = True, default: Any = None) -> Any:
        v = self.raw(name, required)
        if v is _MISSING:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            self.fail(name, f"must be a finite number ≥ 0, got {v!r}")
        return float(v)

    def share(self, name: str, *, required: bool = True) -> float | None:
        """A threshold or share: a number in (0, 1]."""
        v = self.raw(name, required)
        if v is _MISSING:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
            self.fail(name, f"must be a number in (0, 1], got {v!r}")
        return float(v)

    def flag(self, name: str) -> bool:
        v = self.raw(name, True)
        if not isinstance(v, bool):
            self.fail(name, f"must be true or false, got {v!r}")
        return v

    def words(self, name: str, choices: tuple[str, ...], *, required: bool = True, nonempty: bool = True,
              ordered: bool = False) -> tuple[str, ...]:
        v = self.raw(name, required)
        if v is _MISSING:
            return ()
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.fail(name, f"must be a list of strings, got {v!r}")
        for x in v:
            if x not in choices:
                self.fail(name, f"{x!r} is not one of {', '.join(choices)}")
        if len(set(v)) != len(v):
            self.fail(name, "lists a value twice")
        if nonempty and not v:
            self.fail(name, "must not be empty")
        if ordered and [choices.index(x) for x in v] != sorted(choices.index(x) for x in v):
            self.fail(name, f"must follow the order {', '.join(choices)}")
        return tuple(v)

    def subtable(self, name: str, allowed: tuple[str, ...], *, required: bool = True) -> "_Table | None":
        v = self.raw(name, required)
        if v is _MISSING:
            return None
        return _Table(self.path, v, f"{self.where(name)}.", allowed)


_COURSE_KEYS = ("name_zh", "name_en", "cert_code", "class_cap", "min_class_hours", "min_days",
                "lecturer_certificate_kinds", "max_recorded_share", "subsidy_cny", "subsidy_tiers",
                "success_uplift_ratio", "success_bonus_cny", "audience", "graduate_window_years",
                "business_age_max_months", "plan_credit_hours", "success_shop_min_monthly_sales_cny")
_CERT_KEYS = ("kind", "pattern", "serial_scope", "issuer_zh")
_PROFILE_KEYS = ("key", "name_zh", "name_en", "province_code", "region_code", "approval_chain",
                 "submission_lead_workdays", "class_hour_minutes", "min_lecturers", "requires_teaching_lead",
                 "assistant_min_students", "assistant_max_students", "live_room_max_students",
                 "live_time_threshold", "attendance_threshold", "daily_study_threshold", "max_absences",
                 "max_absence_class_hours", "absence_limit_courses", "absence_min_study_share",
                 "replay_counts_as_study",
                 "recording_retention_years", "supervisor_spot_check_share", "roll_call_share",
                 "roll_call_every_days", "advance_payment_share", "success_min_months", "exam_pass_mark",
                 "public_disclosure_workdays",
                 "one_subsidised_training_per_year", "no_repeat_program", "courses", "certificate")


def _read_course(path: Path, course_type: str, data: Any) -> CourseRule:
    t = _Table(path, data, f"courses.{course_type}.", _COURSE_KEYS)
    tiers: dict[int, int] = {}
    tier_table = t.raw("subsidy_tiers", False)
    if tier_table is not _MISSING:
        if not isinstance(tier_table, dict) or not tier_table:
            t.fail("subsidy_tiers", 'must be a non-empty table of "class-hours" = CNY')
        for hours, cny in tier_table.items():
            if not re.fullmatch(r"[1-9]\d*", hours):
                t.fail(f"subsidy_tiers.{hours}", "tier key must be a positive number of class-hours")
            if isinstance(cny, bool) or not isinstance(cny, int) or cny < 0:
                t.fail(f"subsidy_tiers.{hours}", f"must be a non-negative integer of CNY, got {cny!r}")
            tiers[int(hours)] = cny
    rule = CourseRule(
        course_type=course_type,
        name_zh=t.text("name_zh"),
        name_en=t.text("name_en"),
        cert_code=t.text("cert_code", regex=r"[A-Z]{3}"),
        class_cap=t.integer("class_cap", minimum=1),
        min_class_hours=t.integer("min_class_hours", minimum=1),
        min_days=t.integer("min_days", minimum=1),
        lecturer_certificate_kinds=t.words("lecturer_certificate_kinds", LECTURER_CERTIFICATE_KINDS),
        max_recorded_share=t.share("max_recorded_share", required=False),
        subsidy_cny=t.integer("subsidy_cny", minimum=0, required=False),
        subsidy_tiers=MappingProxyType(dict(sorted(tiers.items()))),
        success_uplift_ratio=t.number("success_uplift_ratio", required=False, default=0.0),
        success_bonus_cny=t.integer("success_bonus_cny", minimum=0, required=False, default=0),
        audience=t.words("audience", TARGET_GROUPS, required=False),
        graduate_window_years=t.integer("graduate_window_years", minimum=0, required=False, default=0),
        business_age_max_months=t.integer("business_age_max_months", minimum=0, required=False, default=0),
        plan_credit_hours=t.integer("plan_credit_hours", minimum=0, required=False, default=0),
        success_shop_min_monthly_sales_cny=t.integer("success_shop_min_monthly_sales_cny", minimum=0,
                                                     required=False),
    )
    if rule.subsidy_cny is not None and rule.subsidy_tiers:
        t.fail("subsidy_tiers", "set either subsidy_cny or subsidy_tiers, not both")
    if rule.subsidy_tiers and min(rule.subsidy_tiers) < rule.min_class_hours:
        t.fail("subsidy_tiers", f"the lowest tier is below min_class_hours ({rule.min_class_hours})")
    if rule.plan_credit_hours > rule.min_class_hours:
        t.fail("plan_credit_hours", "exceeds min_class_hours")
    return rule


def _read_certificate(t: _Table) -> CertificateScheme:
    scheme = CertificateScheme(kind=t.text("kind", choices=CERTIFICATE_KINDS), pattern=t.text("pattern"),
                               serial_scope=t.text("serial_scope", choices=SERIAL_SCOPES),
                               issuer_zh=t.text("issuer_zh"))
    try:
        fields = _pattern_fields(scheme.pattern)
    except ValueError as e:
        t.fail("pattern", f"not a format pattern: {e}")
    unknown = fields - set(PATTERN_FIELDS)
    if unknown:
        t.fail("pattern", f"unknown field(s) {', '.join(sorted(unknown))} (allowed: {', '.join(PATTERN_FIELDS)})")
    try:
        sample = scheme.number("150104", date(2023, 3, 1), "WLC", 1, institution_code="X1")
    except (ValueError, TypeError) as e:
        t.fail("pattern", f"cannot format a number: {e}")
    needs = {"serial"} | {"district": {"province", "city"}, "institution": {"institution"}, "profile": set()}[
        scheme.serial_scope]
    if not needs <= fields:
        missing = ", ".join(sorted(needs - fields))
        t.fail("pattern", f"serial_scope {scheme.serial_scope!r} needs the field(s) {missing} so numbers stay unique")
    if scheme.kind == "hohhot" and sample != "150104202303WLC00001":
        t.fail("pattern", f"kind 'hohhot' must follow CERT-2 (150104/2023-03/WLC/1 → 150104202303WLC00001), "
                          f"gives {sample!r}")
    return scheme


def load_profile_file(path: Path) -> PolicyProfile:
    """Load and validate one profile file; its ``key`` must equal the file name without ``.toml``."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(path, None, f"not valid TOML: {e}") from None
    except OSError as e:
        raise ProfileError(path, None, f"cannot read: {e}") from None
    t = _Table(path, data, "", _PROFILE_KEYS)
    key = t.text("key", regex=r"[a-z][a-z0-9_]*")
    if key != path.stem:
        t.fail("key", f"{key!r} must equal the file name {path.stem!r}")

    courses_t = t.raw("courses", True)
    if not isinstance(courses_t, dict) or not courses_t:
        t.fail("courses", "must be a non-empty table of course types")
    for course_type in courses_t:
        if course_type not in COURSE_TYPES:
            t.fail(f"courses.{course_type}", f"unknown course type (allowed: {', '.join(COURSE_TYPES)})")
    courses = {ct: _read_course(path, ct, courses_t[ct]) for ct in COURSE_TYPES if ct in courses_t}
    code_owner: dict[str, str] = {}
    for ct, c in courses.items():
        if c.cert_code in code_owner:
            t.fail(f"courses.{ct}.cert_code", f"{c.cert_code!r} is already the code of {code_owner[c.cert_code]}")
        code_owner[c.cert_code] = ct

    province = t.text("province_code", regex=r"\d{2}")
    profile = PolicyProfile(
        key=key,
        name_zh=t.text("name_zh"),
        name_en=t.text("name_en"),
        province_code=province,
        region_code=t.text("region_code", regex=r"\d{6}"),
        approval_chain=t.words("approval_chain", APPROVAL_LEVELS, ordered=True),
        submission_lead_workdays=t.integer("submission_lead_workdays", minimum=0),
        class_hour_minutes=t.integer("class_hour_minutes", minimum=1),
        min_lecturers=t.integer("min_lecturers", minimum=1),
        requires_teaching_lead=t.flag("requires_teaching_lead"),
        assistant_min_students=t.integer("assistant_min_students", minimum=1),
        assistant_max_students=t.integer("assistant_max_students", minimum=1),
        live_room_max_students=t.integer("live_room_max_students", minimum=1),
        live_time_threshold=t.share("live_time_threshold"),
        attendance_threshold=t.share("attendance_threshold"),
        daily_study_threshold=t.share("daily_study_threshold", required=False),
        max_absences=t.integer("max_absences", minimum=0, required=False),
        max_absence_class_hours=t.integer("max_absence_class_hours", minimum=1, required=False),
        absence_limit_courses=t.words("absence_limit_courses", COURSE_TYPES, required=False),
        absence_min_study_share=t.share("absence_min_study_share", required=False) or 0.5,
        replay_counts_as_study=t.flag("replay_counts_as_study"),
        recording_retention_years=t.integer("recording_retention_years", minimum=1),
        supervisor_spot_check_share=t.share("supervisor_spot_check_share", required=False),
        roll_call_share=t.share("roll_call_share", required=False),
        roll_call_every_days=t.integer("roll_call_every_days", minimum=1, required=False),
        advance_payment_share=t.share("advance_payment_share", required=False),
        success_min_months=t.integer("success_min_months", minimum=1, required=False, default=6),
        exam_pass_mark=t.integer("exam_pass_mark", minimum=1, required=False, default=60),
        public_disclosure_workdays=t.integer("public_disclosure_workdays", minimum=1),
        one_subsidised_training_per_year=t.flag("one_subsidised_training_per_year"),
        no_repeat_program=t.flag("no_repeat_program"),
        courses=MappingProxyType(courses),
        certificate=_read_certificate(t.subtable("certificate", _CERT_KEYS)),
    )
    # Cross-field consistency.
    if not profile.region_code.startswith(province):
        t.fail("region_code", f"{profile.region_code!r} does not lie in province {province!r}")
    if profile.assistant_min_students > profile.assistant_max_students:
        t.fail("assistant_min_students", "exceeds assistant_max_students")
    if profile.exam_pass_mark > 100:
        t.fail("exam_pass_mark", f"is a percentage of the paper (1–100), got {profile.exam_pass_mark}")
    if (profile.roll_call_share is None) != (profile.roll_call_every_days is None):
        t.fail("roll_call_every_days", "set roll_call_share and roll_call_every_days together, or neither")
    if profile.max_absences is None:
        for name in ("max_absence_class_hours", "absence_limit_courses"):
            if name in data:
                t.fail(name, "only meaningful together with max_absences")
    else:
        if not profile.absence_limit_courses:
            t.fail("absence_limit_courses", "name the course types max_absences applies to")
        for ct in profile.absence_limit_courses:
            if ct not in courses:
                t.fail("absence_limit_courses", f"{ct!r} is not among this profile's courses")
    return profile


def load_profiles(extra_dir: Path | str | None = None) -> dict[str, PolicyProfile]:
    """The shipped profiles, plus (replacing same-key ones) those in ``extra_dir`` if given.

    Raises :class:`ProfileError` for the first bad file, or when ``extra_dir`` is not a directory.
    """
    profiles: dict[str, PolicyProfile] = {}
    for path in sorted(SHIPPED_DIR.glob("*.toml")):
        p = load_profile_file(path)
        profiles[p.key] = p
    if extra_dir is not None:
        extra = Path(extra_dir)
        if not extra.is_dir():
            raise ProfileError(extra, None, "the extra profiles directory does not exist")
        for path in sorted(extra.glob("*.toml")):
            p = load_profile_file(path)
            profiles[p.key] = p
    return profiles


def get_profile(key: str, profiles: Mapping[str, PolicyProfile] | None = None) -> PolicyProfile:
    """One profile by key (from ``profiles``, or the shipped ones); :class:`UnknownProfile` otherwise."""
    if profiles is None:
        profiles = load_profiles()
    try:
        return profiles[key]
    except KeyError:
        raise UnknownProfile(key, tuple(sorted(profiles))) from None

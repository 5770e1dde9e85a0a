"""Region policy profiles (server/policy): the shipped numbers match the seeds, bad files are refused.

Seeds: 000 Zhengzhou, 001 Kaifeng (henan), 002 Hohhot, 003 Beijing, 004 Baotou (/work/shared/seeds).
"""
from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from datetime import date
from pathlib import Path

import pytest

from server.policy.profiles import (
    APPROVAL_LEVELS, COURSE_TYPES, SHIPPED_DIR, TARGET_GROUPS, PolicyProfile, ProfileError, UnknownCourseType,
    UnknownProfile, get_profile, load_profile_file, load_profiles,
)

KEYS = ("henan", "hohhot", "beijing", "baotou")


@pytest.fixture(scope="module")
def profiles() -> dict[str, PolicyProfile]:
    return load_profiles()


# --- every shipped profile ------------------------------------------------------------------------

def test_every_shipped_profile_loads(profiles):
    assert set(profiles) == set(KEYS)
    assert {p.stem for p in SHIPPED_DIR.glob("*.toml")} == set(KEYS)
    for key, p in profiles.items():
        assert p.key == key
        assert len(p.province_code) == 2 and len(p.region_code) == 6 and p.region_code.startswith(p.province_code)
        assert p.courses and set(p.courses) <= set(COURSE_TYPES)
        assert list(p.courses) == [c for c in COURSE_TYPES if c in p.courses]
        assert set(p.approval_chain) <= set(APPROVAL_LEVELS)
        for ct, rule in p.courses.items():
            assert rule.course_type == ct and len(rule.cert_code) == 3 and rule.cert_code.isupper()
            assert set(rule.audience) <= set(TARGET_GROUPS)
            assert rule.lecturer_certificate_kinds


def test_common_settings_cls1_cls3_live2_att3_att4_rec1_reg4(profiles):
    for p in profiles.values():
        assert p.submission_lead_workdays == 5  # CLS-1
        assert p.class_hour_minutes == 45  # CLS-4
        assert (p.assistant_min_students, p.assistant_max_students) == (20, 30)  # CLS-3 / LIVE-4
        assert p.live_room_max_students == 200  # LIVE-2
        assert p.live_time_threshold == 0.80 and p.attendance_threshold == 0.80  # ATT-3, ATT-4
        assert p.recording_retention_years == 3  # REC-1
        assert p.one_subsidised_training_per_year and p.no_repeat_program  # REG-4
        assert p.public_disclosure_workdays == 5  # SUB-3


def test_profiles_are_frozen(profiles):
    p = profiles["hohhot"]
    with pytest.raises(FrozenInstanceError):
        p.min_lecturers = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.courses["GYB"] = p.courses["SYB"]  # type: ignore[index]
    with pytest.raises(TypeError):
        profiles["beijing"].courses["ELITE_LAUNCH"].subsidy_tiers[40] = 1  # type: ignore[index]


def test_to_dict_is_json_for_the_api(profiles):
    for p in profiles.values():
        d = json.loads(json.dumps(p.to_dict(), ensure_ascii=False))
        assert d["key"] == p.key and set(d["courses"]) == set(p.courses)
        assert d["certificate"]["pattern"] == p.certificate.pattern
    elite = profiles["beijing"].to_dict()["courses"]["ELITE_LAUNCH"]
    assert elite["subsidy_tiers"] == {"40": 1500, "60": 2000, "80": 2500}


# --- Hohhot (seed 002) ---------------------------------------------------------------------------

def test_hohhot_cls3_cls4_caps_hours_days(profiles):
    p = profiles["hohhot"]
    assert list(p.courses) == ["GYB", "SYB", "IYB", "WLC"]  # CLS-5, seed 002 annex course codes
    assert p.course("GYB").class_cap == 40  # CLS-3, art. 19
    assert {p.course(c).class_cap for c in ("SYB", "IYB", "WLC")} == {30}
    assert (p.course("GYB").min_class_hours, p.course("GYB").min_days) == (24, 3)  # CLS-4, art. 20
    for c in ("SYB", "IYB", "WLC"):
        assert (p.course(c).min_class_hours, p.course(c).min_days) == (56, 7)


def test_hohhot_sub1_subsidies_and_uplift(profiles):
    p = profiles["hohhot"]
    assert [p.course(c).subsidy_cny for c in ("GYB", "SYB", "IYB", "WLC")] == [500, 1200, 1200, 1600]
    assert p.course("SYB").success_uplift_ratio == 0.4 and p.course("WLC").success_uplift_ratio == 0.4
    assert p.course("IYB").success_uplift_ratio == 0 and p.course("GYB").success_uplift_ratio == 0
    assert p.subsidy_for("SYB", 56) == 1200
    assert p.subsidy_for("SYB", 56, business_success=True) == 1680  # +40 %
    assert p.subsidy_for("WLC", 56, business_success=True) == 2240
    assert p.subsidy_for("IYB", 56, business_success=True) == 1200
    assert p.subsidy_for("GYB", 23) == 0  # short of CLS-4's 24 class-hours
    with pytest.raises(ValueError):
        p.subsidy_for("GYB", -1)


def test_hohhot_cls2_cls7_lecturers_and_absences(profiles):
    p = profiles["hohhot"]
    assert p.min_lecturers == 2 and p.requires_teaching_lead  # CLS-2, art. 9
    assert p.approval_chain == ("district", "city")  # CLS-1
    assert (p.max_absences, p.max_absence_class_hours) == (2, 4)  # CLS-7, art. 20
    assert p.max_absences_for("SYB") == 2 and p.max_absences_for("WLC") == 2
    assert p.max_absences_for("GYB") is None
    assert p.course("SYB").lecturer_certificate_kinds == ("syb",)
    assert p.course("WLC").lecturer_certificate_kinds == ("network",)


def test_hohhot_cert2_example_number(profiles):
    # CERT-2 annex sample: 玉泉区 150104, 2023-03, network (WLC), first serial → 150104202303WLC00001.
    scheme = profiles["hohhot"].certificate
    assert scheme.kind == "hohhot" and scheme.serial_scope == "district"
    wlc = profiles["hohhot"].course("WLC").cert_code
    assert scheme.number("150104", date(2023, 3, 15), wlc, 1) == "150104202303WLC00001"
    assert scheme.pattern.format(province="15", city="0104", yyyymm="202303", course="WLC",
                                 serial=1) == "150104202303WLC00001"
    assert scheme.number("150125", date(2025, 2, 1), "GYB", 123) == "150125202502GYB00123"
    with pytest.raises(ValueError):
        scheme.number("150104", date(2023, 3, 1), "WLC", 100000)  # would break the 5-digit serial
    with pytest.raises(ValueError):
        scheme.number("1501", date(2023, 3, 1), "WLC", 1)


# --- Beijing (seed 003) ---------------------------------------------------------------------------

def test_beijing_courses_caps_hours_recorded_share(profiles):
    p = profiles["beijing"]
    assert list(p.courses) == ["SYB", "WLC", "ELITE_LAUNCH", "ELITE_PRACTICE"]  # CLS-5
    assert {c.class_cap for c in p.courses.values()} == {40}  # CLS-3
    assert p.course("SYB").min_class_hours == 56 and p.course("WLC").min_class_hours == 56  # CLS-4
    assert p.course("ELITE_LAUNCH").min_class_hours == 40 and p.course("ELITE_PRACTICE").min_class_hours == 40
    assert {c.max_recorded_share for c in p.courses.values()} == {0.5}  # CLS-4
    assert {c.plan_credit_hours for c in p.courses.values()} == {4}  # EXAM-2
    assert p.min_lecturers == 2 and not p.requires_teaching_lead  # CLS-2
    assert p.supervisor_spot_check_share == 0.10  # SUP-5
    assert p.course("ELITE_LAUNCH").cert_code == "JYQ" and p.course("ELITE_PRACTICE").cert_code == "JYS"


def test_beijing_sub1_elite_tiers_and_bonus(profiles):
    p = profiles["beijing"]
    assert p.course("SYB").subsidy_cny == 1500 and p.course("WLC").subsidy_cny == 2000
    for ct in ("ELITE_LAUNCH", "ELITE_PRACTICE"):
        assert dict(p.course(ct).subsidy_tiers) == {40: 1500, 60: 2000, 80: 2500}
        assert [p.subsidy_for(ct, h) for h in (39, 40, 59, 60, 79, 80, 96)] == [0, 1500, 1500, 2000, 2000, 2500, 2500]
    assert p.course("SYB").success_bonus_cny == 1000 and p.course("WLC").success_bonus_cny == 1000
    assert p.subsidy_for("SYB", 56, business_success=True) == 2500
    assert p.subsidy_for("ELITE_LAUNCH", 60, business_success=True) == 2000  # no bonus for camps


def test_beijing_reg3_audiences(profiles):
    p = profiles["beijing"]
    basic = ("graduate", "registered_unemployed", "rural_migrant_worker", "veteran")
    assert p.course("SYB").audience == basic and p.course("WLC").audience == basic
    assert p.course("SYB").graduate_window_years == 2
    assert set(p.course("ELITE_LAUNCH").audience) == {"prior_certificate", "competition_award"}
    assert set(p.course("ELITE_PRACTICE").audience) == {"new_business_owner", "prior_certificate"}
    assert p.course("ELITE_PRACTICE").business_age_max_months == 12
    assert p.certificate.kind == "platform" and p.certificate.serial_scope == "profile"  # CERT-3


# --- Henan (seeds 000/001) and Baotou (seed 004) --------------------------------------------------

def test_henan_sub1_and_cls1_chain(profiles):
    p = profiles["henan"]
    assert list(p.courses) == ["GYB", "SYB", "IYB", "WLC"]
    assert p.course("GYB").subsidy_cny == 200  # SUB-1
    assert p.course("SYB").subsidy_cny == 1000 and p.course("IYB").subsidy_cny == 1000
    assert {c.class_cap for c in p.courses.values()} == {p.live_room_max_students} == {200}  # no city cap
    assert p.approval_chain == ("district", "city", "province")  # CLS-1: 经市级、省级人社部门备案
    assert p.min_lecturers == 1 and p.region_code == "410000"


def test_baotou_att7_att8_sub3_sub4(profiles):
    p = profiles["baotou"]
    assert p.daily_study_threshold == 0.80 and p.replay_counts_as_study  # ATT-7 / CLS-8
    assert (p.roll_call_share, p.roll_call_every_days) == (0.5, 2)  # ATT-8
    assert p.advance_payment_share == 0.2 and p.public_disclosure_workdays == 5  # SUB-4, SUB-3
    hohhot = profiles["hohhot"]
    for ct, rule in p.courses.items():  # CLS-3 / CLS-4: Inner Mongolia standards, as Hohhot
        h = hohhot.course(ct)
        assert (rule.class_cap, rule.min_class_hours, rule.min_days) == (h.class_cap, h.min_class_hours, h.min_days)
        assert rule.subsidy_cny is None and p.subsidy_for(ct, 56) is None  # amounts unknown
    for key in ("henan", "hohhot", "beijing"):
        q = profiles[key]
        assert q.daily_study_threshold is None and q.roll_call_share is None and q.advance_payment_share is None
        assert not q.replay_counts_as_study


# --- errors -----------------------------------------------------------------------------------------

def test_unknown_profile_and_course_type(profiles):
    with pytest.raises(UnknownProfile) as e:
        get_profile("shanghai", profiles)
    assert isinstance(e.value, KeyError) and "shanghai" in str(e.value)
    assert get_profile("beijing").key == "beijing"
    with pytest.raises(UnknownCourseType) as e:
        profiles["beijing"].course("GYB")  # CLS-5: Beijing runs no GYB
    assert isinstance(e.value, KeyError) and "GYB" in str(e.value) and "beijing" in str(e.value)
    with pytest.raises(KeyError):
        profiles["henan"].subsidy_for("ELITE_LAUNCH", 40)


def _shipped(key: str) -> str:
    return (SHIPPED_DIR / f"{key}.toml").read_text(encoding="utf-8")


def _write(tmp_path: Path, key: str, text: str) -> Path:
    path = tmp_path / f"{key}.toml"
    path.write_text(text, encoding="utf-8")
    return path


BAD_EDITS = [  # (replace, with, key named in the error)
    ("min_lecturers = 2 ", "min_lecturers = 2\nmin_lecturer = 3 #", "min_lecturer"),  # unknown key
    ("class_cap = 40 ", "class_cap = \"40\" ", "courses.GYB.class_cap"),  # wrong type
    ("class_cap = 40 ", "class_cap = true ", "courses.GYB.class_cap"),  # a bool is not an int
    ("[courses.IYB]", "[courses.XYZ]", "courses.XYZ"),  # unknown course type
    ("attendance_threshold = 0.80", "attendance_threshold = 80", "attendance_threshold"),  # outside (0, 1]
    ("live_time_threshold = 0.80", "live_time_threshold = 0", "live_time_threshold"),
    ("success_uplift_ratio = 0.40 ", "success_uplift_ratio = -0.4 ", "courses.SYB.success_uplift_ratio"),
    ("approval_chain = [\"district\", \"city\"]", "approval_chain = [\"city\", \"district\"]", "approval_chain"),
    ("approval_chain = [\"district\", \"city\"]", "approval_chain = [\"county\"]", "approval_chain"),
    ("lecturer_certificate_kinds = [\"network\"]", "lecturer_certificate_kinds = [\"iyb\"]",
     "courses.WLC.lecturer_certificate_kinds"),
    ("cert_code = \"GYB\"", "cert_code = \"GY\"", "courses.GYB.cert_code"),
    ("cert_code = \"IYB\"", "cert_code = \"SYB\"", "courses.IYB.cert_code"),  # duplicate code
    ("region_code = \"150100\"", "region_code = \"410100\"", "region_code"),
    ("key = \"hohhot\"", "key = \"huhehaote\"", "key"),  # must equal the file name
    ("name_en = \"Hohhot entrepreneurship training\"\n", "", "name_en"),  # missing
    ("{serial:05d}", "{serial:04d}", "certificate.pattern"),  # no longer CERT-2
    ("pattern = \"{province}{city}", "pattern = \"{town}{city}", "certificate.pattern"),
    ("serial_scope = \"district\"", "serial_scope = \"street\"", "certificate.serial_scope"),
    ("absence_limit_courses = [\"SYB\", \"IYB\", \"WLC\"]", "absence_limit_courses = [\"SYB\", \"ELITE_LAUNCH\"]",
     "absence_limit_courses"),
    ("subsidy_cny = 1200                    # SUB-1：seed 002 第二十二条\nsuccess",
     "subsidy_cny = 1200\nsubsidy_tiers = { \"56\" = 1 }\nsuccess", "courses.SYB.subsidy_tiers"),  # both
]


@pytest.mark.parametrize("old,new,key", BAD_EDITS, ids=[b[2] + "-" + str(i) for i, b in enumerate(BAD_EDITS)])
def test_bad_profile_file_is_refused_naming_file_and_key(tmp_path, old, new, key):
    text = _shipped("hohhot")
    assert old in text, old
    path = _write(tmp_path, "hohhot", text.replace(old, new, 1))
    with pytest.raises(ProfileError) as e:
        load_profiles(tmp_path)
    assert e.value.key == key and e.value.file == path
    assert "hohhot.toml" in str(e.value) and key in str(e.value)


def test_beijing_tier_keys_must_be_hours(tmp_path):
    text = _shipped("beijing").replace('"60" = 2000', '"sixty" = 2000', 1)
    _write(tmp_path, "beijing", text)
    with pytest.raises(ProfileError) as e:
        load_profiles(tmp_path)
    assert e.value.key == "courses.ELITE_LAUNCH.subsidy_tiers.sixty" and "beijing.toml" in str(e.value)


def test_invalid_toml_and_missing_dir_are_refused(tmp_path):
    _write(tmp_path, "broken", "key = \n")
    with pytest.raises(ProfileError) as e:
        load_profiles(tmp_path)
    assert "broken.toml" in str(e.value)
    with pytest.raises(ProfileError):
        load_profiles(tmp_path / "nowhere")


def test_extra_dir_adds_and_replaces_profiles(tmp_path):
    # A deployment fills in Baotou's amounts (SUB-1) and adds a region without a release.
    text = _shipped("baotou").replace(
        "lecturer_certificate_kinds = [\"syb\"]  # CLS-2\n\n[courses.SYB]",
        "lecturer_certificate_kinds = [\"syb\"]  # CLS-2\nsubsidy_cny = 500\n\n[courses.SYB]", 1)
    _write(tmp_path, "baotou", text)
    _write(tmp_path, "ordos", _shipped("baotou").replace('key = "baotou"', 'key = "ordos"', 1)
           .replace('region_code = "150200"', 'region_code = "150600"', 1))
    loaded = load_profiles(tmp_path)
    assert set(loaded) == set(KEYS) | {"ordos"}
    assert loaded["baotou"].subsidy_for("GYB", 24) == 500
    assert loaded["ordos"].region_code == "150600"
    assert load_profile_file(SHIPPED_DIR / "hohhot.toml") == load_profiles()["hohhot"]

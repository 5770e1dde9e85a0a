"""REG-1 contact data: one canonical form for mainland mobile numbers (so uniqueness checks work)
and masked display of mobiles and names (PLAT-3: personal data shown only as much as needed)."""
from __future__ import annotations

import re
import unicodedata

from server.identity.errors import IdentityError

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_SEPARATORS = re.compile(r"[\s\-]+")


def normalise_mobile(value: object, field: str | None = "mobile") -> str:
    """Return the 11-digit mainland mobile number; ``+86``/``86`` prefixes, spaces and hyphens
    are dropped, full-width digits folded. Raises IdentityError ``MOBILE_FORMAT``."""
    s = unicodedata.normalize("NFKC", value) if isinstance(value, str) else ""
    s = _SEPARATORS.sub("", s)
    if s.startswith("+86"):
        s = s[3:]
    elif s.startswith("86") and len(s) == 13:
        s = s[2:]
    if not _MOBILE.fullmatch(s):
        raise IdentityError("MOBILE_FORMAT", "手机号码格式不正确：应为11位中国大陆手机号",
                            "Invalid mobile number: expected an 11-digit mainland China mobile number",
                            field, rule="REG-1")
    return s


def mask_mobile(mobile: str) -> str:
    """``13812345678`` → ``138****5678``."""
    s = (mobile or "").strip()
    if len(s) <= 7:
        return "*" * len(s)
    return s[:3] + "*" * (len(s) - 7) + s[-4:]


def mask_name(name: str) -> str:
    """Keep the first character (and the last for names of 3+ characters): 张三 → 张*, 欧阳娜娜 → 欧**娜."""
    s = (name or "").strip()
    if len(s) <= 1:
        return s
    if len(s) == 2:
        return s[0] + "*"
    return s[0] + "*" * (len(s) - 2) + s[-1]

"""REG-1 contact data: mainland mobile numbers normalised; mobiles and names masked for display (PLAT-3)."""
from __future__ import annotations

import pytest

from server.identity.contact import mask_mobile, mask_name, normalise_mobile
from server.identity.errors import IdentityError


@pytest.mark.parametrize("value", [
    "13812345678", " 138 1234 5678 ", "138-1234-5678", "+8613812345678", "+86 138-1234-5678",
    "8613812345678", "１３８１２３４５６７８",
])
def test_reg1_mobile_forms_normalised(value):
    assert normalise_mobile(value) == "13812345678"


@pytest.mark.parametrize("value", [
    "12345", "12812345678", "23812345678", "1381234567", "138123456789", "1381234567a", "",
    "+8713812345678", "861381234567", "(138)12345678", None, 13812345678,
])
def test_reg1_bad_mobile_rejected(value):
    with pytest.raises(IdentityError) as exc:
        normalise_mobile(value, field="phone")
    assert exc.value.code == "MOBILE_FORMAT" and exc.value.field == "phone"
    assert exc.value.message_zh and exc.value.message_en


def test_reg1_mobile_error_names_default_field():
    with pytest.raises(IdentityError) as exc:
        normalise_mobile("12345")
    assert exc.value.field == "mobile"


def test_plat3_mask_mobile():
    assert mask_mobile("13812345678") == "138****5678"


@pytest.mark.parametrize("name,masked", [
    ("张三", "张*"), ("欧阳娜娜", "欧**娜"), ("李小龙", "李*龙"), ("李", "李"), ("", ""),
    ("阿卜杜·热合曼", "阿*****曼"),
])
def test_plat3_mask_name(name, masked):
    assert mask_name(name) == masked

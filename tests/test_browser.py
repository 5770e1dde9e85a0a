"""The web pages in a real headless Chromium against the real app served by uvicorn.

Covers the phone registration page (REG-1/2/3), login and each role's home, the planner's checks
and submission, and the district reviewer's approval (CLS-1). Every request the pages make must
stay on 127.0.0.1 (PLAT-2: self-contained, no CDN, no web font, no external URL).
"""
from __future__ import annotations

import io
import re
import threading
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.appserver import CHROMIUM, free_port as _free_port  # noqa: F401 - used by the browser tests
from PIL import Image, ImageDraw

from tests.world import face_photo

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "Qihang2026"  # every demo account (server/demo.py)
DEMO_CLASS = "2026年玉泉区创办企业（SYB）第1期"
FIRST_STUDENT = "13810000000"  # 学员一
LOCKOUT_STUDENT = "13810000023"  # used only by the lockout test
SCREENSHOT = Path("/tmp/register.png")
INVALID = re.compile(r"\binvalid\b")


# ---------------------------------------------------------------- the app and the browser



@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The real app with the demo data, served by uvicorn on a free port of 127.0.0.1."""
    if not Path(CHROMIUM).exists():
        pytest.skip(reason=f"Chromium not installed: {CHROMIUM} is missing (`make install-test` installs the Debian "
                    "package when run as root; otherwise `apt-get install chromium`)")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[test]')")
    import uvicorn

    from models.db import Database
    from server.app import create_app
    from server.demo import load_demo
    from server.services import Services
    from server.settings import Settings

    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp}/q.db"
    db = Database(url)
    db.migrate()
    db.dispose()
    settings = Settings(data_dir=tmp, database_url=url, secret_key=bytes(32))
    info = load_demo(Services.build(settings))
    assert info.created and info.class_id

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, name="uvicorn-browser-tests", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield {"base": f"http://127.0.0.1:{port}", "class_id": info.class_id}
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Tab:
    """A fresh browser context with one page; records every request and every script error."""

    def __init__(self, browser, base: str, **context_options):
        self.base = base
        self.context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **context_options)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def goto(self, path: str):
        self.page.goto(self.base + path)
        return self.page

    def check_clean(self) -> None:
        """PLAT-2: nothing left 127.0.0.1; and no page threw an uncaught error."""
        assert self.requests, "no requests were recorded"
        outside = [u for u in self.requests
                   if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"]
        assert not outside, f"requests left 127.0.0.1 (PLAT-2): {outside}"
        assert not self.errors, f"uncaught script errors: {self.errors}"

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tabs(browser, site):
    opened: list[Tab] = []

    def open_tab(**context_options) -> Tab:
        tab = Tab(browser, site["base"], **context_options)
        opened.append(tab)
        return tab

    yield open_tab
    try:
        for tab in opened:
            tab.check_clean()
    finally:
        for tab in opened:
            tab.close()


def login(tab: Tab, username: str, password: str = PASSWORD):
    from playwright.sync_api import expect

    page = tab.goto(f"/login?u={username}")
    expect(page.locator("#username")).to_have_value(username)  # prefilled from ?u=
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/login" not in url)
    return page


def path_of(page) -> str:
    return urlsplit(page.url).path


# ---------------------------------------------------------------- test data

def jpeg(w: int, h: int, label: str) -> bytes:
    img = Image.new("RGB", (w, h), (214, 226, 240))
    d = ImageDraw.Draw(img)
    d.ellipse((w * 0.3, h * 0.18, w * 0.7, h * 0.62), fill=(226, 190, 160))
    d.rectangle((w * 0.2, h * 0.66, w * 0.8, h * 0.98), fill=(60, 80, 120))
    d.text((8, 8), label, fill=(10, 10, 10))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88)
    return buf.getvalue()


def photo(name: str, w: int, h: int) -> dict:
    return {"name": f"{name}.jpg", "mimeType": "image/jpeg", "buffer": jpeg(w, h, name)}


def wrong_check_digit(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


# ---------------------------------------------------------------- (1) phone registration

def test_student_registers_on_a_phone(tabs):
    from playwright.sync_api import expect

    from server.identity.resident_id import make_resident_id

    number = make_resident_id("150104", date(1995, 5, 5), 42)
    tab = tabs(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = tab.goto("/register?inst=QIHANG-DEMO")

    # The institution code comes from the link and is not editable.
    expect(page.locator("#inst-code-display")).to_have_text("QIHANG-DEMO")
    assert page.locator("#institution_code").get_attribute("type") == "hidden"
    assert page.locator("#institution_code").input_value() == "QIHANG-DEMO"

    # Phone layout: one column, nothing wider than the screen, big touch targets, labels above inputs.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    name_box = page.locator("#real_name").bounding_box()
    label_box = page.locator("label[for=real_name]").bounding_box()
    assert name_box["width"] >= 320 and name_box["height"] >= 44
    assert label_box["y"] + label_box["height"] <= name_box["y"] + 1
    assert page.locator("#reference_photo").get_attribute("capture") == "user"
    for field in ("id_front", "id_back", "reference_photo", "evidence"):
        assert page.locator(f"#{field}").get_attribute("accept") == "image/jpeg,image/png"

    # Fields shown per target group (REG-3).
    expect(page.locator("#graduation_year")).to_be_hidden()
    page.select_option("#target_group", "new_business_owner")
    expect(page.locator("#business_registered_on")).to_be_visible()
    page.select_option("#target_group", "graduate")
    expect(page.locator("#business_registered_on")).to_be_hidden()
    expect(page.locator("#graduation_year")).to_be_visible()

    page.fill("#real_name", "王小明")
    page.fill("#mobile", "13900000042")
    page.fill("#password", "Startup2026")
    page.fill("#household_registration", "内蒙古自治区呼和浩特市玉泉区")
    page.fill("#graduation_year", "2017")
    page.set_input_files("#id_front", photo("id_front", 640, 400))
    page.set_input_files("#id_back", photo("id_back", 640, 400))
    page.set_input_files("#reference_photo", {"name": "reference.jpg", "mimeType": "image/jpeg",
                                              "buffer": face_photo("grace_hopper.jpg")})
    page.set_input_files("#evidence", photo("evidence", 500, 360))
    page.check("#consent")
    assert page.locator("#consent").get_attribute("value") == "true"

    # A wrong check digit: the typing hint flags it, and after submit the server's Chinese
    # message stands next to the ID field (the server is the authority).
    page.fill("#id_number", wrong_check_digit(number))
    expect(page.locator("#id_number-hint")).to_have_attribute("data-state", "bad")
    expect(page.locator("#id_number-hint")).to_contain_text("校验位")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.click("#register-submit")
    error = page.locator("#id_number").locator("xpath=ancestor::div[contains(@class,'field')][1]").locator(".field-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("校验")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error.inner_text())
    expect(page.locator("#id_number")).to_have_class(INVALID)
    expect(page.locator("#register-error")).to_contain_text("RESIDENT_ID_CHECK_DIGIT")
    expect(page.locator("#register-success")).to_be_hidden()

    # Corrected: the hint agrees, the registration succeeds and shows the masked ID only.
    page.fill("#id_number", number)
    expect(page.locator("#id_number-hint")).to_have_attribute("data-state", "ok")
    expect(page.locator("#id_number-hint")).to_contain_text("1995-05-05")
    page.click("#register-submit")
    expect(page.locator("#register-success")).to_be_visible()
    masked = number[:4] + "*" * 10 + number[-4:]
    expect(page.locator("#success-id-masked")).to_have_text(masked)
    assert number not in page.content()
    assert page.evaluate("sessionStorage.getItem('qihang.token')")

    # The new student is logged in and their page shows their profile.
    page.click("#go-home")
    expect(page.locator("#student-name")).to_have_text("王小明")
    expect(page.locator("#student-id-masked")).to_have_text(masked)


# ---------------------------------------------------------------- (2) login and each role's home

@pytest.mark.parametrize("username,home,role", [
    ("admin", "/", "platform_admin"),
    ("school", "/planner", "institution_admin"),
    ("teacher1", "/", "lecturer"),
    ("teacher2", "/", "lecturer"),
    ("assistant1", "/", "assistant"),
    ("district", "/review", "supervisor"),
    ("city", "/review", "supervisor"),
    (FIRST_STUDENT, "/", "student"),
])
def test_each_role_logs_in_and_lands_on_its_home(tabs, username, home, role):
    from playwright.sync_api import expect

    tab = tabs()
    page = login(tab, username)
    assert path_of(page) == home
    assert page.evaluate("sessionStorage.getItem('qihang.token')")
    expect(page.locator("#topbar-user")).to_contain_text(role)
    if home == "/planner":
        expect(page.locator("[data-testid=class-row]", has_text=DEMO_CLASS)).to_be_visible()
    elif home == "/review":
        expect(page.locator("[data-testid=class-row]", has_text=DEMO_CLASS)).to_be_visible()
    elif role == "student":
        expect(page.locator("#student-name")).to_have_text("学员一")
        expect(page.locator("[data-testid=enrolment]", has_text=DEMO_CLASS)).to_be_visible()
    else:
        expect(page.locator("#me-role")).to_have_attribute("data-role", role)
        if role in ("lecturer", "assistant"):
            expect(page.locator("[data-testid=class-row]", has_text=DEMO_CLASS)).to_be_visible()

    # Logging out ends the session and goes back to /login (a request still in flight may get its
    # 401 first and land on /login?next=…, which is the same page).
    page.click("#logout")
    page.wait_for_url(re.compile(r"/login(\?|$)"))
    assert page.evaluate("sessionStorage.getItem('qihang.token')") is None


def test_wrong_password_and_lockout_are_shown(tabs):
    from playwright.sync_api import expect

    tab = tabs()
    page = tab.goto(f"/login?u={LOCKOUT_STUDENT}")
    page.fill("#password", "wrong-password-1")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_contain_text("用户名或密码错误")
    expect(page.locator("#login-error")).to_contain_text("Wrong username or password")
    expect(page.locator("#password")).to_have_class(INVALID)
    for _ in range(4):  # five failures lock the account (PLAT-3)
        expect(page.locator("#login-submit")).to_be_enabled()
        page.fill("#password", "wrong-password-1")
        with page.expect_response("**/api/auth/login"):
            page.click("#login-submit")
    lock = page.locator("[data-testid=lockout]")
    expect(lock).to_be_visible()
    expect(lock).to_contain_text("账号已锁定")
    expect(lock).to_contain_text("ACCOUNT_LOCKED")
    expect(page.locator("#login-submit")).to_be_disabled()
    assert path_of(page) == "/login"


# ---------------------------------------------------------------- (3) plan, submit, approve

def test_planner_submits_and_district_approves(tabs, site):
    from playwright.sync_api import expect

    school = tabs()
    page = login(school, "school")
    assert path_of(page) == "/planner"
    page.locator("[data-testid=class-row]", has_text=DEMO_CLASS).click()
    expect(page.locator("#class-name")).to_contain_text(DEMO_CLASS)
    expect(page.locator("#class-status")).to_have_attribute("data-status", "draft")
    expect(page.locator("#lessons-table tbody tr")).to_have_count(14)
    expect(page.locator("#roster-table [data-testid=roster-row]")).to_have_count(24)

    # The pre-submission checks run for the class and pass for the demo plan.
    checks = page.locator("#checks-result")
    expect(checks).to_have_attribute("data-ok", "true")
    expect(page.locator("#checks-ok")).to_contain_text("全部检查通过")

    # A broken lesson is refused with the rule and a highlighted row; the saved plan is unchanged.
    first_end = page.locator("#lessons-table tbody tr").first.locator("input[name=ends_at]")
    saved_end = first_end.input_value()
    first_start = page.locator("#lessons-table tbody tr").first.locator("input[name=starts_at]").input_value()
    first_end.fill(first_start)
    page.click("#save-lessons")
    expect(page.locator("#lessons-error")).to_contain_text("LESSON_TIMES")
    expect(page.locator("#lessons-table .field-error")).to_be_visible()
    first_end.fill(saved_end)

    page.click("#submit-class")
    expect(page.locator("#class-status")).to_have_attribute("data-status", "submitted")
    expect(page.locator("#class-pending-level")).to_have_attribute("data-level", "district")
    expect(page.locator("[data-testid=history-row][data-action=submit]")).to_be_visible()
    expect(page.locator("#save-lessons")).to_be_disabled()  # under review: the plan is locked (CLS-1)

    district = tabs()
    page = login(district, "district")
    assert path_of(page) == "/review"
    page.click("#filter-pending")
    page.locator("[data-testid=class-row]", has_text=DEMO_CLASS).click()
    expect(page.locator("#class-status")).to_have_attribute("data-status", "submitted")
    expect(page.locator("#checks-result")).to_have_attribute("data-ok", "true")

    # Rejecting needs a reason: the server's bilingual refusal is shown at the reason field.
    page.click("#reject-class")
    expect(page.locator("#decision-error")).to_contain_text("退回须填写原因")
    expect(page.locator("#decision-error")).to_contain_text("A rejection needs a reason")
    expect(page.locator("#reject-reason")).to_have_class(INVALID)
    expect(page.locator("#class-status")).to_have_attribute("data-status", "submitted")

    page.click("#approve-class")
    expect(page.locator("#decision-result")).to_contain_text("已审核通过")
    expect(page.locator("#class-status")).to_have_attribute("data-status", "district_approved")
    expect(page.locator("#class-pending-level")).to_have_attribute("data-level", "city")
    expect(page.locator("[data-testid=history-row][data-action=approve]")).to_be_visible()
    expect(page.locator("#approve-class")).to_have_count(0)

    # The institution sees the new status too.
    page = school.page
    page.reload()
    expect(page.locator("#class-status")).to_have_attribute("data-status", "district_approved")
    expect(page.locator("[data-testid=history-row]")).to_have_count(2)


def test_docs_page_renders_openapi(tabs):
    from playwright.sync_api import expect

    tab = tabs()
    page = tab.goto("/docs")
    expect(page.locator("a[href='/openapi.json']").first).to_be_visible()
    assert "openapi.json" in page.content()
    op = page.locator("[data-testid=operation][data-method=POST][data-path='/api/classes/{class_id}/transitions']")
    expect(op).to_have_count(1)
    expect(op).to_contain_text("TransitionBody")
    expect(op.locator("[data-role=supervisor]")).to_have_count(1)
    expect(page.locator("#tag-students [data-testid=operation][data-path='/api/students/register']")).to_contain_text("multipart/form-data")

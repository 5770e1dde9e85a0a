"""LIVE-5: sensitive-content screening — variants, the editable list, region-scoped warnings, review.

The first half needs no database (the screener is pure); the API half runs on SQLite and
PostgreSQL like every API test.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from models import AuditLog, ContentWarning
from server.screening.warnings import record_warning, screen_upload
from server.screening import Match, Screener, ScreenerCache, build_screener, default_words, fold, pinyin_forms
from server.screening.normalise import normalise
from server.screening.wordlist import Word, parse
from tests.world import DISTRICT, OTHER_DISTRICT, err, lesson_days, ok, schedule

CITY = "150100"


@pytest.fixture(scope="module")
def screener() -> Screener:
    return build_screener(default_words())


# --------------------------------------------------------------------------- the screener (no database)

@pytest.mark.parametrize("text", [
    "ｄｕｂｏ", "ＤＵＢＯ", "赌*博", "赌 博", "赌　博", "赌\u200b博", "赌🎲博", "賭博", "dubo", "DuBo", "du-bo", "dǔ bó",
    "DB", "d b", "d_b", "明天一起DB吗", "明天一起 dubo 吗？",
])
def test_live5_variants_of_a_word_are_held(screener, text):
    v = screener.screen(text)
    assert v.held, text
    assert {m.word for m in v.matches} == {"赌博"}
    for m in v.matches:  # the match points at what the writer wrote
        assert text[m.start:m.end] == m.text and fold(m.text) in {"赌博", "dubo", "db"}


@pytest.mark.parametrize("text", ["dbms", "DBMS 数据库", "dubois", "xdb", "db2", "adb shell", "赌a博"])
def test_live5_latin_forms_match_only_standalone_tokens(screener, text):
    assert not screener.screen(text).held, text


@pytest.mark.parametrize("text", [
    "今天我们讲创业计划书的写法，包括市场分析、财务预测和团队介绍。",
    "请把 SD 卡里的照片发给助教，DP 和 DM 都是常见缩写。",
    "网店运营要注意合规经营，不要参与任何违法活动。",
    "The database (DBMS) stores our business plan; see https://example.org/docs?x=1",
    "老师好！我想问一下小额贷款的申请条件？😊",
])
def test_live5_benign_text_is_not_held(screener, text):
    v = screener.screen(text)
    assert not v.held and v.matches == [], v.matches


def test_live5_initials_and_pinyin_are_derived(screener):
    assert ("ffjz", "initials") in pinyin_forms("非法集资")
    assert ("feifajizi", "pinyin") in pinyin_forms("非法集资")
    assert not any(via == "initials" for _, via in pinyin_forms("刷单"))  # two letters collide with abbreviations
    v = screener.screen("有人在群里搞 F.F.J.Z 和 shua dan")
    assert [(m.word, m.via) for m in v.matches] == [("非法集资", "initials"), ("刷单", "pinyin")]


def test_live5_several_words_and_categories(screener):
    v = screener.screen("先刷单返利，再介绍网赌和冰毒")
    assert [(m.word, m.category) for m in v.matches] == [
        ("刷单返利", "fraud"), ("网赌", "gambling"), ("冰毒", "drugs")]
    assert v.to_dict()["held"] is True and v.to_dict()["matches"][0]["text"] == "刷单返利"


def test_live5_normalised_text_maps_back_to_the_original():
    n = normalise("Ａ，賭 博ß！")
    assert n.text == "a赌博ss"
    assert n.pos == [0, 2, 4, 5, 5]
    assert n.span(1, 3) == (2, 5)  # 賭 博
    assert fold("Ｋ 粉") == "k粉"


def test_live5_screening_is_pluggable():
    def transcript_step(text: str) -> list[Match]:
        at = text.find("暗号")
        return [Match("暗号", "custom", at, at + 2, "暗号", "transcript")] if at >= 0 else []

    s = build_screener([Word("诈骗", "fraud")]).with_step(transcript_step)
    assert [m.via for m in s.screen("诈骗的暗号").matches] == ["text", "transcript"]
    assert not s.screen("正常发言").held


def test_live5_default_list_parses_with_categories():
    cats = {w.category for w in default_words()}
    assert {"gambling", "fraud", "pornography", "drugs", "violence", "illegal_fundraising"} <= cats
    assert any(w.word == "非法集资" for w in default_words())
    with pytest.raises(ValueError):
        parse("赌博\n")  # a word before any [category]


# --------------------------------------------------------------------------- API

def check(world, text: str, who: str = "admin") -> dict:
    return ok(world.client.post("/api/screening/check", headers=world.h(who), json={"text": text}))


def test_live5_word_list_is_editable_and_used_at_once(world, svc):
    c, h = world.client, world.h("admin")
    words = ok(c.get("/api/sensitive-words", headers=h))
    assert any(w["word"] == "赌博" and w["source"] == "default" and w["aliases"] == ["db"] for w in words["words"])
    assert not check(world, "别被割韭 菜了")["held"]

    cache = ScreenerCache(check_every=0)
    clock = [100.0]
    slow = ScreenerCache(check_every=1.0, clock=lambda: clock[0])  # reads the list's version once a second
    with svc.db.session() as s:
        assert not cache.screen(s, "别被割韭菜了").held
        first = slow.get(s)

    added = ok(c.post("/api/sensitive-words", headers=h, json={"word": "割韭菜", "category": "fraud"}), 201)
    assert added["created"] and added["source"] == "custom"
    v = check(world, "别被割韭 菜了")
    assert v["held"] and v["matches"][0]["word"] == "割韭菜" and v["version"] != words["version"]
    assert check(world, "ge jiu cai")["held"] and check(world, "GJC")["held"]  # pinyin and initials derived
    with svc.db.session() as s:
        assert cache.screen(s, "别被割韭菜了").held  # a held cache rebuilds on the new version
        assert slow.get(s) is first  # within its second: no query, same screener
        clock[0] += 1.0
        assert slow.get(s) is not first and slow.screen(s, "别被割韭菜了").held
        assert slow.get(s) is slow.get(s)  # built once per version

    # the same word again (any width or script) changes it: switched off
    off = c.post("/api/sensitive-words", headers=h, json={"word": "割韭菜 ", "category": "fraud", "active": False})
    assert off.status_code == 200 and off.json()["created"] is False and off.json()["id"] == added["id"]
    assert not check(world, "别被割韭菜了")["held"]

    # a database row overrides a default word; deleting it restores the default
    over = ok(c.post("/api/sensitive-words", headers=h, json={"word": "賭博", "category": "gambling", "active": False}),
              201)
    assert not check(world, "赌博")["held"]
    listed = ok(c.get("/api/sensitive-words", headers=h))["words"]
    assert [w["source"] for w in listed if fold(w["word"]) == "赌博"] == ["custom"]
    gone = ok(c.delete(f"/api/sensitive-words/{over['id']}", headers=h))
    assert gone["default_restored"] is True
    assert check(world, "赌博")["held"]

    with svc.db.session() as s:
        actions = [a.action for a in s.query(AuditLog).filter(AuditLog.action.like("sensitive_word.%"))]
    assert actions == ["sensitive_word.add", "sensitive_word.update", "sensitive_word.add", "sensitive_word.delete"]


def test_live5_word_list_refuses_bad_input_clearly(world):
    c, h = world.client, world.h("admin")
    err(c.post("/api/sensitive-words", headers=h, json={"word": "* * *"}), 422, "SENSITIVE_WORD_EMPTY", "word")
    err(c.post("/api/sensitive-words", headers=h, json={"word": "a"}), 422, "SENSITIVE_WORD_TOO_SHORT", "word")
    err(c.post("/api/sensitive-words", headers=h, json={"word": "x" * 65}), 422, "VALIDATION_FAILED", "word")
    err(c.post("/api/sensitive-words", headers=h, json={"word": "诈骗", "category": "Bad Cat"}), 422, field="category")
    err(c.post("/api/sensitive-words", headers=h, json={"word": "诈骗", "colour": "red"}), 422, "UNKNOWN_FIELD")
    err(c.post("/api/sensitive-words", headers=h, json={}), 422, "VALIDATION_FAILED", "word")
    err(c.post("/api/sensitive-words", headers=h, content=b"[1]"), 415)
    err(c.delete("/api/sensitive-words/999", headers=h), 404, "NOT_FOUND")
    err(c.delete(f"/api/sensitive-words/{2**40}", headers=h), 404, "NOT_FOUND")
    err(c.post("/api/screening/check", headers=h, json={"text": ""}), 422, field="text")
    err(c.post("/api/screening/check", headers=h, json={"text": 5}), 422, field="text")
    err(c.post("/api/screening/check", json={"text": "x"}), 401)

    world.institution("alpha")
    world.supervisor("sup", "district", DISTRICT)
    for who in ("alpha_admin", "sup"):
        err(c.post("/api/sensitive-words", headers=world.h(who), json={"word": "诈骗"}), 403, "FORBIDDEN")
        err(c.get("/api/sensitive-words", headers=world.h(who)), 403)
    err(c.post("/api/screening/check", headers=world.h("sup"), json={"text": "x"}), 403)
    assert check(world, "刷单", who="alpha_admin")["held"]  # institution admins may preview


def _class_with_lesson(world, key: str) -> tuple[int, int]:
    h = world.h(f"{key}_admin")
    head = world.assistant(key, f"{key}_head")
    cls = ok(world.client.post("/api/classes", headers=h, json={
        "name": f"{key} SYB 1期", "course_type": "SYB", "delivery_mode": "live", "head_teacher_id": head}), 201)
    start = world.svc.today() + timedelta(days=21)
    detail = ok(world.client.put(f"/api/classes/{cls['id']}/lessons", headers=h,
                                 json={"lessons": schedule(lesson_days(start, 1))}))
    return cls["id"], detail["lessons"][0]["id"]


@pytest.fixture
def warned(world, svc):
    """Two institutions in two districts, a warning in each, supervisors at district and city level."""
    world.institution("alpha", region=DISTRICT)
    world.institution("beta", region=OTHER_DISTRICT)
    class_a, lesson_a = _class_with_lesson(world, "alpha")
    class_b, lesson_b = _class_with_lesson(world, "beta")
    world.supervisor("sup_a", "district", DISTRICT)
    world.supervisor("sup_b", "district", OTHER_DISTRICT)
    world.supervisor("sup_city", "city", CITY)
    screener = build_screener(default_words())
    text_a, text_b = "课后加我，带你刷单返利", "賭 博网站了解一下"
    with svc.db.session() as s:
        wa = record_warning(s, source="chat", text=text_a, matches=screener.screen(text_a).matches,
                            lesson_id=lesson_a, user_id=world.ids["alpha_head"], event_id=7,
                            context={"before": ["大家好"], "after": []}, now=svc.now())
        wb = record_warning(s, source="question", text=text_b, matches=screener.screen(text_b).matches,
                            class_id=class_b, now=svc.now())
        ids = {"a": wa.id, "b": wb.id}
    return {"class_a": class_a, "lesson_a": lesson_a, "class_b": class_b, "lesson_b": lesson_b, **ids}


def _ids(world, who: str, **params) -> list[int]:
    body = ok(world.client.get("/api/content-warnings", headers=world.h(who), params=params))
    return [w["id"] for w in body["items"]]


def test_live5_warnings_carry_where_who_and_what(world, warned):
    body = ok(world.client.get("/api/content-warnings", headers=world.h("sup_a")))
    assert body["open"] == 1
    (w,) = body["items"]
    assert (w["id"], w["source"], w["lesson_id"], w["class_id"]) == (warned["a"], "chat", warned["lesson_a"],
                                                                      warned["class_a"])
    assert w["district_code"] == DISTRICT and w["institution_name"] == "alpha 培训学校" and w["user_name"] == "alpha_head"
    assert w["class_name"] and w["lesson_title"] and w["event_id"] == 7 and w["status"] == "open"
    assert w["categories"] == ["fraud"] and w["context"] == {"before": ["大家好"], "after": []}
    (m,) = w["matches"]
    assert m["word"] == "刷单返利" and w["text"][m["start"]:m["end"]] == "刷单返利" and "刷单返利" in m["excerpt"]


def test_live5_warnings_are_region_scoped(world, warned):
    a, b = warned["a"], warned["b"]
    assert _ids(world, "sup_a") == [a]
    assert _ids(world, "sup_b") == [b]
    assert _ids(world, "sup_city") == [b, a]  # newest first
    assert _ids(world, "admin") == [b, a]
    assert _ids(world, "alpha_admin") == [a]
    assert _ids(world, "beta_admin") == [b]
    assert _ids(world, "sup_city", class_id=warned["class_a"]) == [a]
    assert _ids(world, "sup_city", lesson_id=warned["lesson_a"]) == [a]
    assert _ids(world, "sup_city", source="question") == [b]
    assert _ids(world, "sup_city", before_id=b) == [a]
    # another district's class or lesson is invisible, as everywhere (404, not 403)
    err(world.client.get("/api/content-warnings", headers=world.h("sup_a"), params={"class_id": warned["class_b"]}),
        404, "NOT_FOUND")
    err(world.client.get("/api/content-warnings", headers=world.h("alpha_admin"),
                         params={"lesson_id": warned["lesson_b"]}), 404, "NOT_FOUND")
    err(world.client.get("/api/content-warnings", headers=world.h("sup_a"), params={"status": "closed"}), 422,
        field="status")
    err(world.client.get("/api/content-warnings", headers=world.h("sup_a"), params={"limit": 0}), 422, field="limit")
    world.tokens["alpha_head"] = world.login("alpha_head")  # an assistant: not a reader of warnings
    err(world.client.get("/api/content-warnings", headers=world.h("alpha_head")), 403)


def test_live5_supervisor_reviews_a_warning_once(world, warned, svc):
    c, a = world.client, warned["a"]
    err(c.post(f"/api/content-warnings/{a}/review", headers=world.h("sup_b"), json={"note": "x"}), 404, "NOT_FOUND")
    err(c.post(f"/api/content-warnings/{a}/review", headers=world.h("alpha_admin"), json={}), 403)
    err(c.post(f"/api/content-warnings/{a}/review", headers=world.h("sup_a"), json={"note": "x" * 2001}), 422,
        field="note")
    err(c.post("/api/content-warnings/99999/review", headers=world.h("sup_a"), json={}), 404)
    done = ok(c.post(f"/api/content-warnings/{a}/review", headers=world.h("sup_a"),
                     json={"note": "已联系机构，讲师已提醒学员"}))
    assert done["status"] == "reviewed" and done["reviewed_by_name"] == "sup_a" and done["reviewed_at"]
    assert done["review_note"] == "已联系机构，讲师已提醒学员"
    err(c.post(f"/api/content-warnings/{a}/review", headers=world.h("sup_city"), json={}), 409,
        "CONTENT_WARNING_REVIEWED")
    body = ok(c.get("/api/content-warnings", headers=world.h("sup_city"), params={"status": "open"}))
    assert [w["id"] for w in body["items"]] == [warned["b"]] and body["open"] == 1
    with svc.db.session() as s:
        audit = s.query(AuditLog).filter_by(action="content_warning.review").one()
        assert (audit.target_id, audit.region_code) == (str(a), DISTRICT)
        assert s.query(AuditLog).filter_by(action="supervisor.read").count() >= 1  # SUP-6: reads recorded


def test_live5_uploaded_text_is_screened_and_recorded(world, warned, svc):
    with svc.db.session() as s:
        held = screen_upload(s, "作业：我的项目是高息揽储，年化 30%", class_id=warned["class_a"],
                             context={"file": "作业.docx"}, now=svc.now())
        fine = screen_upload(s, "作业：我的项目是社区生鲜团购", class_id=warned["class_a"], now=svc.now(),
                             screener=ScreenerCache())
    assert held.held and held.matches[0].word == "高息揽储" and not fine.held
    body = ok(world.client.get("/api/content-warnings", headers=world.h("sup_a"), params={"source": "upload"}))
    (w,) = body["items"]
    assert w["class_id"] == warned["class_a"] and w["context"] == {"file": "作业.docx"}


def test_live5_record_warning_checks_its_arguments(world, warned, svc):
    with svc.db.session() as s:
        with pytest.raises(ValueError):
            record_warning(s, source="sms", text="x", matches=[], now=svc.now())
        with pytest.raises(ValueError):
            record_warning(s, source="chat", text="x", matches=[], lesson_id=warned["lesson_a"],
                           class_id=warned["class_b"], now=svc.now())
        with pytest.raises(ValueError):
            record_warning(s, source="chat", text="x", matches=[], lesson_id=10**6, now=svc.now())
        long = record_warning(s, source="upload", text="刷单" + "。" * 5000, matches=[
            {"word": "刷单", "category": "fraud", "start": 0, "end": 2}], now=svc.now())
        assert len(long.text) == 4000 and long.context["text_truncated_from"] == 5002 and long.district_code is None
        assert s.query(ContentWarning).count() == 3

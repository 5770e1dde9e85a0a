"""The lesson event log (issue 3 §3/§5): persisted, append-only, and the source of presence.

Database tests run on SQLite and PostgreSQL (``svc`` fixture); presence tests are pure.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from models import Base, Institution, Lesson, LessonEvent, TrainingClass, User
from server.live import eventlog
from server.live.eventlog import PRESENCE_KINDS, append, online, online_count, presence

T0 = datetime(2026, 3, 2, 0, 30, tzinfo=timezone.utc)  # 08:30 in Beijing
NODE = "node-a"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --------------------------------------------------------------------------- database

@pytest.fixture
def lesson(svc):
    """A lesson, a lecturer, two students and a supervisor, inserted directly (no API needed)."""
    with svc.db.session() as s:
        users = {name: User(username=name, password_hash="x", role=role, display_name=name)
                 for name, role in (("lecturer", "lecturer"), ("stu1", "student"), ("stu2", "student"),
                                    ("sup", "supervisor"))}
        s.add_all(users.values())
        inst = Institution(name="启航培训学校", code="QH1", region_code="150104", profile="hohhot")
        s.add(inst)
        s.flush()
        cls = TrainingClass(institution_id=inst.id, name="SYB 一期", course_type="SYB", delivery_mode="live",
                            profile="hohhot", district_code="150104", created_by=users["lecturer"].id)
        s.add(cls)
        s.flush()
        les = Lesson(class_id=cls.id, title="第一课", starts_at=T0, ends_at=at(3 * 3600), mode="live",
                     class_hours=4, lecturer_user_id=users["lecturer"].id)
        s.add(les)
        s.flush()
        return {"lesson_id": les.id, **{name: u.id for name, u in users.items()}}


def test_append_and_read_back(svc, lesson):
    lid = lesson["lesson_id"]
    with svc.db.session() as s:
        first = append(s, lid, "lesson_start", user_id=lesson["lecturer"], role="lecturer", node_id=NODE, at=at(0))
        append(s, lid, "join", user_id=lesson["stu1"], role="student", session_id="s1", node_id=NODE, at=at(5))
        chat = append(s, lid, "chat", user_id=lesson["stu1"], role="student", session_id="s1", node_id=NODE,
                      payload={"text": "老师好 👋", "n": [1, 2.5, None, True]}, at=at(6))
        append(s, lid, "leave", user_id=lesson["stu1"], role="student", session_id="s1", node_id="node-b",
               at=at(60))
        assert first.id is not None and chat.id > first.id  # ids are assigned on append

    with svc.db.session() as s:
        rows = eventlog.events(s, lid)
        assert [r.kind for r in rows] == ["lesson_start", "join", "chat", "leave"]
        assert rows[2].payload == {"text": "老师好 👋", "n": [1, 2.5, None, True]}
        assert rows[2].at == at(6) and rows[2].at.tzinfo is not None  # aware UTC on both engines
        assert rows[0].payload == {} and rows[0].session_id is None
        assert (rows[3].node_id, rows[3].role, rows[3].user_id) == ("node-b", "student", lesson["stu1"])
        # catch-up after an id, a kind filter, a limit
        assert [r.kind for r in eventlog.events(s, lid, after_id=rows[1].id)] == ["chat", "leave"]
        assert [r.kind for r in eventlog.events(s, lid, kinds=PRESENCE_KINDS)] == ["join", "leave"]
        assert len(eventlog.events(s, lid, limit=2)) == 2
        assert eventlog.events(s, lid + 1000) == []
        # the log feeds presence directly
        assert presence(eventlog.events(s, lid, kinds=PRESENCE_KINDS))[lesson["stu1"]].intervals == [(at(5), at(60))]


def test_default_time_is_now_and_aware(svc, lesson):
    with svc.db.session() as s:
        ev = append(s, lesson["lesson_id"], "join", user_id=lesson["stu1"], role="student", session_id="s1",
                    node_id=NODE)
    assert ev.at.tzinfo is not None and abs(ev.at - datetime.now(timezone.utc)) < timedelta(minutes=1)
    with svc.db.session() as s, pytest.raises(ValueError, match="aware"):
        append(s, lesson["lesson_id"], "join", node_id=NODE, at=datetime(2026, 3, 2, 8, 30))


def test_log_is_append_only_in_the_database(svc, lesson):
    """Nobody, not even the application, rewrites a lesson's history (ATT-2, SUP-6)."""
    with svc.db.session() as s:
        append(s, lesson["lesson_id"], "join", user_id=lesson["stu1"], role="student", session_id="s1",
               node_id=NODE, at=at(0))

    def count() -> int:
        with svc.db.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM lesson_events")).scalar()

    for stmt in ("UPDATE lesson_events SET kind = 'leave'", "UPDATE lesson_events SET payload = '{}'",
                 "DELETE FROM lesson_events"):
        with pytest.raises(Exception, match="append-only"):
            with svc.db.engine.begin() as conn:
                conn.execute(text(stmt))
    # through the ORM as well
    with pytest.raises(Exception, match="append-only"):
        with svc.db.session() as s:
            s.query(LessonEvent).one().kind = "leave"
    with pytest.raises(Exception, match="append-only"):
        with svc.db.session() as s:
            s.delete(s.query(LessonEvent).one())
    assert count() == 1
    with svc.db.session() as s:
        assert s.query(LessonEvent).one().kind == "join"


@pytest.mark.parametrize("kind", ["", "JOIN", "kick", "join "])
def test_unknown_kind_refused(svc, lesson, kind):
    with svc.db.session() as s:
        with pytest.raises(ValueError, match="kind"):
            append(s, lesson["lesson_id"], kind, user_id=lesson["stu1"], node_id=NODE, at=at(0))
        with pytest.raises(ValueError, match="kind"):
            eventlog.events(s, lesson["lesson_id"], kinds=[kind])
        assert eventlog.events(s, lesson["lesson_id"]) == []


@pytest.mark.parametrize("payload", [
    {"text": "x" * 9000},
    {"text": "汉" * 2800},  # 2,800 characters but 8,400 UTF-8 bytes
    {"when": datetime(2026, 1, 1)},
    {"bad": float("nan")},
    {"s": {1, 2}},
    ["not", "an", "object"],
])
def test_bad_or_oversize_payload_refused(svc, lesson, payload):
    with svc.db.session() as s:
        with pytest.raises(ValueError, match="payload"):
            append(s, lesson["lesson_id"], "chat", user_id=lesson["stu1"], node_id=NODE, payload=payload, at=at(0))
        assert eventlog.events(s, lesson["lesson_id"]) == []


def test_payload_at_the_limit_is_accepted(svc, lesson):
    payload = {"text": ""}
    payload["text"] = "x" * (eventlog.MAX_PAYLOAD_BYTES - len(eventlog.encode_payload(payload)))
    assert len(eventlog.encode_payload(payload)) == eventlog.MAX_PAYLOAD_BYTES
    with svc.db.session() as s:
        append(s, lesson["lesson_id"], "chat", user_id=lesson["stu1"], node_id=NODE, payload=payload, at=at(0))
    with svc.db.session() as s:
        assert eventlog.events(s, lesson["lesson_id"])[0].payload == payload


def test_migrations_match_the_models(database):
    """Autogenerate finds nothing to add for the lesson event log on either engine."""
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    ours = [d for d in diff if "lesson_events" in repr(d)]
    assert ours == []


# --------------------------------------------------------------------------- presence (pure)

def ev(kind: str, seconds: float, user_id: int | None = 1, session_id: str | None = "s1",
       role: str | None = "student") -> LessonEvent:
    return LessonEvent(lesson_id=1, kind=kind, at=at(seconds), user_id=user_id, role=role,
                       session_id=session_id, node_id=NODE, payload={})


def test_join_then_leave_closes_the_interval():
    p = presence([ev("join", 0), ev("leave", 100)])[1]
    assert p.intervals == [(at(0), at(100))]
    assert not p.online and p.sessions == frozenset()
    assert p.connected(at(1000)) == timedelta(seconds=100)
    assert online([ev("join", 0), ev("leave", 100)], visible_to_students=True) == []


def test_open_interval_while_connected():
    p = presence([ev("join", 0)])[1]
    assert p.intervals == [(at(0), None)] and p.online and p.sessions == {"s1"}
    assert p.connected(at(90)) == timedelta(seconds=90)


def test_reconnect_within_grace_is_one_interval_and_one_person():
    """Issue 3 §5: a student who drops and rejoins shows one reconnect, not a new person."""
    log = [ev("join", 0), ev("leave", 100), ev("reconnect", 110)]
    result = presence(log)
    assert list(result) == [1]
    p = result[1]
    assert p.intervals == [(at(0), None)] and p.online and p.reconnects == 1
    assert online(log, visible_to_students=True) == [1] and online_count(log, visible_to_students=True) == 1
    # exactly at the grace limit still counts as the same presence; a re-join of the same session too
    assert presence([ev("join", 0), ev("leave", 100), ev("join", 130)])[1].intervals == [(at(0), None)]
    # and then leaving again closes that one interval
    assert presence(log + [ev("leave", 500)])[1].intervals == [(at(0), at(500))]


def test_reconnect_after_grace_is_two_intervals():
    log = [ev("join", 0), ev("leave", 100), ev("reconnect", 131)]
    p = presence(log)[1]
    assert p.intervals == [(at(0), at(100)), (at(131), None)] and p.reconnects == 0
    assert online_count(log, visible_to_students=True) == 1  # still one person
    # the grace period is a parameter
    assert presence(log, grace=timedelta(seconds=60))[1].intervals == [(at(0), None)]
    assert presence([ev("join", 0), ev("leave", 100), ev("reconnect", 105)],
                    grace=timedelta(seconds=2))[1].intervals == [(at(0), at(100)), (at(105), None)]


def test_reconnect_without_a_logged_leave_keeps_the_interval():
    p = presence([ev("join", 0), ev("reconnect", 50), ev("join", 60)])[1]
    assert p.intervals == [(at(0), None)] and p.reconnects == 1


def test_two_overlapping_sessions_are_a_union():
    """Phone + a reloaded tab: one person, connected while either session is."""
    log = [ev("join", 0, session_id="phone"), ev("join", 50, session_id="tab"),
           ev("leave", 100, session_id="phone"), ev("leave", 200, session_id="tab")]
    p = presence(log)[1]
    assert p.intervals == [(at(0), at(200))] and not p.online
    assert p.connected(at(999)) == timedelta(seconds=200)
    # still connected on the tab after the phone left
    q = presence(log[:3])[1]
    assert q.intervals == [(at(0), None)] and q.sessions == {"tab"} and q.online
    assert online(log[:3], visible_to_students=True) == [1]
    # contained and disjoint sessions
    contained = [ev("join", 0, session_id="a"), ev("join", 10, session_id="b"),
                 ev("leave", 20, session_id="b"), ev("leave", 100, session_id="a")]
    assert presence(contained)[1].intervals == [(at(0), at(100))]
    disjoint = [ev("join", 0, session_id="a"), ev("leave", 10, session_id="a"),
                ev("join", 50, session_id="b"), ev("leave", 60, session_id="b")]
    assert presence(disjoint)[1].intervals == [(at(0), at(10)), (at(50), at(60))]
    # another session's join within the grace period is not a resume of the first one
    other = [ev("join", 0, session_id="a"), ev("leave", 10, session_id="a"), ev("join", 15, session_id="b")]
    assert presence(other)[1].intervals == [(at(0), at(10)), (at(15), None)]


def test_lesson_end_closes_everyone():
    log = [ev("join", 0), ev("join", 5, user_id=2, session_id="x"), ev("lesson_end", 3600, user_id=None,
                                                                         session_id=None, role=None)]
    result = presence(log)
    assert result[1].intervals == [(at(0), at(3600))] and result[2].intervals == [(at(5), at(3600))]
    assert online(log, visible_to_students=False) == []
    # a reconnect after the end starts afresh
    assert presence(log + [ev("reconnect", 3610)])[1].intervals == [(at(0), at(3600)), (at(3610), None)]


def test_other_events_and_anonymous_events_do_not_change_presence():
    log = [ev("join", 0), ev("chat", 1), ev("network_quality", 2), ev("leave", 3, user_id=None),
           ev("leave", 4, user_id=9), ev("hand_raise", 5)]
    result = presence(log)
    assert result[1].intervals == [(at(0), None)] and 9 not in result


def test_online_list_is_sorted_and_spectators_are_hidden_from_students():
    """SUP-4: a supervisor watches unseen; the students' list and count never include them."""
    log = [ev("join", 0, user_id=30, session_id="c"), ev("join", 1, user_id=10, session_id="a"),
           ev("join", 2, user_id=99, session_id="sup", role="supervisor"),
           ev("join", 3, user_id=20, session_id="b", role="lecturer"),
           ev("join", 4, user_id=40, session_id="d"), ev("leave", 5, user_id=40, session_id="d")]
    assert online(log, visible_to_students=True) == [10, 20, 30]
    assert online_count(log, visible_to_students=True) == 3
    assert 99 not in presence(log, visible_to_students=True)
    # the supervisor's own view (and attendance) sees everyone
    assert online(log, visible_to_students=False) == [10, 20, 30, 99]
    assert online_count(log, visible_to_students=False) == 4
    assert presence(log)[99].hidden and not presence(log)[10].hidden


def test_out_of_order_events_refused():
    with pytest.raises(ValueError, match="out of order"):
        presence([ev("join", 100), ev("leave", 50)])
    with pytest.raises(ValueError, match="out of order"):
        online([ev("join", 10), ev("chat", 20), ev("join", 19, user_id=2, session_id="x")],
               visible_to_students=True)
    # equal timestamps are fine; a small step back is tolerated only when asked for (several writers)
    assert presence([ev("join", 10), ev("leave", 10)])[1].intervals == [(at(10), at(10))]
    p = presence([ev("join", 10), ev("leave", 9.5)], max_skew=timedelta(seconds=1))[1]
    assert p.intervals == [(at(10), at(10))]
    with pytest.raises(ValueError, match="out of order"):
        presence([ev("join", 10), ev("leave", 5)], max_skew=timedelta(seconds=1))


def test_presence_accepts_mappings():
    log = [{"kind": "join", "at": at(0), "user_id": 1, "role": "student", "session_id": "s"},
           {"kind": "leave", "at": at(5), "user_id": 1, "role": "student", "session_id": "s"}]
    assert presence(log)[1].intervals == [(at(0), at(5))]



def test_latest_per_user_reads_each_users_last_event_of_a_kind(svc, lesson):
    lid = lesson["lesson_id"]
    with svc.db.session() as s:
        for t, who, verdict in ((1, "stu1", "match"), (2, "stu2", "absent"), (3, "stu1", "mismatch"),
                                (4, "stu2", "match")):
            append(s, lid, "face_check", user_id=lesson[who], role="student", node_id=NODE,
                   payload={"verdict": verdict}, at=at(t))
        append(s, lid, "chat", user_id=lesson["stu1"], role="student", node_id=NODE, payload={"text": "x"}, at=at(5))
    with svc.db.session() as s:
        last = eventlog.latest_per_user(s, lid, "face_check")
        assert {uid: ev.payload["verdict"] for uid, ev in last.items()} == {lesson["stu1"]: "mismatch",
                                                                              lesson["stu2"]: "match"}
        assert eventlog.latest_per_user(s, lid, "liveness") == {}
        with pytest.raises(ValueError):
            eventlog.latest_per_user(s, lid, "nonsense")

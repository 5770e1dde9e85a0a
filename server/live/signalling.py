"""The lesson WebSocket ``/ws/lessons/{lesson_id}``: join, room events; media negotiation is in negotiation.py.

Protocol (JSON text frames). The first frame must be ``{"type": "join", "token": ..., "session_id": ...}``
(the token is not put in the URL, where proxies log it). Then a client may send ``chat``,
``question``, ``answer``, ``hand_raise``, ``hand_lower``, ``floor_grant``, ``floor_revoke``,
``page_visibility``, ``ping`` and the media messages of negotiation.py. Every event is appended to
the lesson event log first (nothing is lost if this process dies), then published on the lesson
bus, from which every node delivers it.
Bad frames get ``{"type": "error", "error": {...}}`` with a bilingual reason; the room carries on.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
import uuid
from datetime import timedelta
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from models import StudentProfile, User
from server.auth.sessions import session_user
from server.errors import ApiError, Unauthorized
from server.live import assistance, eventlog, moderation, negotiation, roomwebhooks, spectatorlinks
from server.live.access import Admission, admit
from server.live.ice import ice_servers
from server.live.roomhub import Peer, RoomHub
from server.services import Services

log = logging.getLogger("qihang.live")
JOIN_TIMEOUT = 10.0
MAX_FRAME = 16 * 1024
MAX_TEXT = 500
RATE = (10, 10.0)  # at most 10 room messages (chat, hands…) per 10 s per connection
MEDIA_RATE = (60, 10.0)  # negotiation (offers, trickled candidates, watch lists) has its own budget
PRESENCE_DELAY = 0.5  # seconds: online lists are coalesced per lesson


def _error(code: str, zh: str, en: str, field: str | None = None, rule: str | None = None) -> dict:
    return {"type": "error", "error": {"code": code, "field": field, "message_zh": zh, "message_en": en, "rule": rule}}


def _api_error(exc: ApiError) -> dict:
    return {"type": "error", "error": exc.body()["error"]}


class LessonSocket:
    """One connected client: authentication, admission, then its message loop."""

    def __init__(self, ws: WebSocket, svc: Services, hub: RoomHub, node_id: str):
        self.ws, self.svc, self.hub, self.node_id = ws, svc, hub, node_id
        self.lesson_id = int(ws.path_params["lesson_id"])
        self.peer: Peer | None = None
        self._held: list[dict] | None = []  # room traffic that arrives before "joined" is sent
        self._tasks: set[asyncio.Task] = set()
        self.watch: set[int] = set()  # student cameras this (staff) peer chose to receive
        self.slots: set[str] = set()  # published slots (peer connections up to the SFU)
        self.media_recent: list[float] = []  # negotiation message times, for its rate limit
        self.entered = None  # when a hidden spectator's join was logged (SUP-6: exit records the stay)

    async def send(self, message: dict, text: str | None = None) -> None:
        await self.ws.send_text(text if text is not None else json.dumps(message, ensure_ascii=False, default=str))

    async def deliver(self, message: dict, text: str | None = None) -> None:
        """Room traffic from the hub (``text``: the same, serialised once for every recipient);
        held back until the client has its "joined" snapshot."""
        event = message.get("event") or {}
        if (event.get("kind") == "floor_revoke" and self.peer is not None
                and event.get("payload", {}).get("user_id") == self.peer.admission.user_id and "mic" in self.slots):
            self.slots.discard("mic")  # the floor is taken back: stop forwarding the microphone
            await self.media.unpublish(negotiation.publisher_key(self, "mic"))
        if self._held is not None:
            self._held.append(message)
        else:
            await self.send(message, text)

    async def run(self) -> None:
        await self.ws.accept()
        try:
            join = await asyncio.wait_for(self._frame(), JOIN_TIMEOUT)
            admission = await self._admit(join)
        except ApiError as exc:
            await self.send(_api_error(exc))
            await self.ws.close(code=4403 if exc.status in (401, 403, 404) else 4409)
            return
        except asyncio.TimeoutError:
            await self.send(_error("JOIN_TIMEOUT", "连接后须先发送 join", "Send join first", rule=None))
            await self.ws.close(code=4408)
            return
        except (WebSocketDisconnect, WebSocketDisconnected):
            return
        session_id = str(join.get("session_id") or "")[:64] or f"ws-{uuid.uuid4().hex}"
        self.conn = uuid.uuid4().hex[:16]
        self.peer = Peer(admission=admission, session_id=session_id, send=self.deliver)
        await self.hub.add(self.peer)
        try:
            joined = await self._append("join", {"room_role": admission.room_role, "conn": self.conn,
                                                  **({"link_id": admission.link_id} if admission.link_id else {})},
                                        also=self._audit_entry)
            # The newcomer hears "joined" (with itself online) before any room traffic.
            await self.send({"type": "joined", "you": _who(admission), **await self._state(),
                             "ice_servers": ice_servers(self.svc.settings, admission.user_id)})
            held, self._held = self._held, None
            for message in held:
                await self.send(message)
            # What this peer may receive (see visibility.py), in the background: the answer to the
            # SFU's offer arrives through this very message loop.
            self.hub.media_sinks[self.media_key] = self._media_event
            self._tasks.add(asyncio.ensure_future(negotiation.subscribe(self)))
            await self._publish(joined)
            self._presence_soon()
            while True:
                try:
                    frame = await self._frame()
                    await self._handle(frame)
                except ApiError as exc:
                    await self.send(_api_error(exc))
                except (WebSocketDisconnect, WebSocketDisconnected, asyncio.CancelledError):
                    raise
                except Exception:  # one bad message must not take the connection (or the room) down
                    log.exception("lesson %s: handling a message of user %s failed", self.lesson_id,
                                  admission.user_id)
                    await self.send(_error("INTERNAL", "服务器处理该消息时出错，已记录", "The server failed on this "
                                           "message; it has been logged"))
        except (WebSocketDisconnect, WebSocketDisconnected):
            pass
        finally:
            for task in self._tasks:
                task.cancel()
            # The leave (and a spectator's exit, SUP-6) must be recorded even when the server
            # cancels this handler as the client goes (uvicorn does not; some ASGI hosts and the
            # test client do): a shielded cancel scope lets the bookkeeping finish first.
            with anyio.CancelScope(shield=True):
                await self._close()

    async def _close(self) -> None:
        admission = self.peer.admission
        self.hub.media_sinks.pop(self.media_key, None)
        await self.media.unsubscribe(self.media_key)
        for slot in list(self.slots):
            await self.media.unpublish(negotiation.publisher_key(self, slot))
        await self.hub.remove(self.peer)
        try:
            await self._publish(await self._append("leave", {"conn": self.conn}, also=self._audit_exit))
            if not self.hub.local(self.lesson_id):
                await self._room_emptied()
            self._presence_soon()
        except Exception:  # the log write is what matters; a failed broadcast is not
            log.warning("could not record leave of user %s", admission.user_id, exc_info=True)

    # -- media (WebRTC negotiation with this node's SFU room)

    @property
    def media(self):
        return self.hub.media(self.lesson_id)

    @property
    def media_key(self) -> str:
        return f"{self.peer.admission.user_id}:{self.conn}"

    async def send_offer(self, sdp: str) -> None:
        await self.send({"type": "offer", "sdp": sdp, "tracks": self.media.tracks(self.media_key)})

    async def send_tracks(self, tracks: dict) -> None:
        await self.send({"type": "tracks", "tracks": tracks})

    async def _media_event(self, key: str, kind: str, payload: dict) -> None:
        try:
            await negotiation.on_media_event(self, key, kind, payload)
        except Exception:  # the socket may be closing; the media path must not care
            log.warning("media event %s for %s not delivered", kind, key, exc_info=True)

    # -- framing and admission

    async def _frame(self) -> dict:
        text = await self.ws.receive_text()
        if len(text) > MAX_FRAME:
            raise ApiError("FRAME_TOO_LARGE", "消息过大", f"Message larger than {MAX_FRAME} bytes", status=413)
        try:
            data = json.loads(text)
        except ValueError:
            raise ApiError("MALFORMED_JSON", "消息不是合法的 JSON", "Message is not valid JSON", status=400)
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise ApiError("MESSAGE_TYPE", "消息须为带 type 字段的 JSON 对象", "A message is a JSON object with a type",
                           field="type", status=400)
        return data

    async def _admit(self, join: dict) -> Admission:
        if join.get("type") != "join":
            raise ApiError("JOIN_FIRST", "连接后须先发送 join", "The first message must be join", field="type",
                           status=400)
        token = join.get("token") if isinstance(join.get("token"), str) else None
        spectate = join.get("spectate")

        def work() -> Admission:
            with self.svc.db.session() as s:
                now = self.svc.now()
                user = session_user(s, token, now) if token else None
                if spectate is not None:  # SUP-4: a spectator link, bound to its supervisor and lesson
                    from models import Lesson
                    if s.get(Lesson, self.lesson_id) is None:
                        raise ApiError("NOT_FOUND", "课次不存在", "No such lesson", status=404)
                    key = spectatorlinks.link_key(self.svc.settings.secret_key)
                    link, supervisor = spectatorlinks.verify(s, key, spectate, self.lesson_id, now, user)
                    return admit(s, self.lesson_id, supervisor, now, link=link)
                if user is None:
                    raise Unauthorized("SESSION_INVALID", "登录已失效，请重新登录", "Session expired or revoked; log in again",
                                       field="token")
                return admit(s, self.lesson_id, user, now)
        admission = await run_in_threadpool(work)
        if admission.room_role == "student":
            cap = await run_in_threadpool(self._student_cap)
            online = [p for p in self.hub.local(self.lesson_id) if p.admission.room_role == "student"]
            if len({p.admission.user_id for p in online} - {admission.user_id}) >= cap:
                raise ApiError("ROOM_FULL", f"直播间学员已满 {cap} 人", f"The room is full ({cap} students)", status=409,
                               rule="LIVE-2")
        return admission

    def _student_cap(self) -> int:
        from models import Lesson, TrainingClass
        with self.svc.db.session() as s:
            cls = s.get(TrainingClass, s.get(Lesson, self.lesson_id).class_id)
            return self.svc.profiles[cls.profile].live_room_max_students

    # -- events

    async def _record(self, kind: str, payload: dict, audience: Any = None) -> dict:
        """Append to the event log, then publish: the log is the truth, the bus only tells."""
        event = await self._append(kind, payload)
        await self._publish(event, audience)
        return event

    async def _publish(self, event: dict, audience: Any = None) -> None:
        if audience is None:
            audience = "staff" if self.peer.admission.hidden else "all"
        await self.hub.publish(self.lesson_id, {"type": "event", "event": event}, audience)

    async def _append(self, kind: str, payload: dict, also=None) -> dict:
        """Log one event of this peer; ``also(s, event)`` runs in the same transaction (a held
        message's warning row). Webhooks for room events are written here too (an outbox)."""
        a = self.peer.admission

        def work() -> dict:
            with self.svc.db.session() as s:
                now = self.svc.now()
                ev = eventlog.append(s, self.lesson_id, kind, user_id=a.user_id, role=a.room_role,
                                     session_id=self.peer.session_id, node_id=self.node_id, payload=payload, at=now)
                self._webhook(s, kind, payload, ev.id, now)
                if kind == "publish" and a.room_role == "lecturer" and payload.get("slot") == "main":
                    self._lesson_start(s, now)
                if also is not None:
                    also(s, ev)
                return {"id": ev.id, "kind": kind, "at": ev.at.isoformat(), "user_id": a.user_id,
                        "role": a.room_role, "display_name": a.display_name, "payload": payload}
        line = await run_in_threadpool(work)
        if kind in INTERACTION_KINDS:  # committed: a newcomer's snapshot reads it (_recent)
            self.hub.cache.pop(f"recent:{self.lesson_id}", None)
        return line

    def _webhook(self, s, kind: str, payload: dict, event_id: int, now) -> None:
        if kind in ("join", "leave", "lesson_start", "lesson_end"):
            a = self.peer.admission
            roomwebhooks.room_event(s, lesson_id=self.lesson_id, class_id=a.class_id, institution_id=a.institution_id,
                                    district_code=a.district_code, kind=kind, user_id=a.user_id, role=a.room_role,
                                    hidden=a.hidden, display_name=a.display_name, payload=payload,
                                    event_id=event_id, now=now)

    def _lesson_start(self, s, now) -> None:
        """The lecturer first goes live: the lesson has started (once, whichever node sees it)."""
        if eventlog.events(s, self.lesson_id, kinds=("lesson_start",), limit=1):
            return
        a = self.peer.admission
        ev = eventlog.append(s, self.lesson_id, "lesson_start", user_id=a.user_id, role=a.room_role,
                             session_id=self.peer.session_id, node_id=self.node_id, payload={}, at=now)
        self._webhook(s, "lesson_start", {}, ev.id, now)

    async def _room_emptied(self) -> None:
        """The last peer of this node left: if the lesson's time is over and nobody is in the room
        on any node, the lesson has ended (``lesson_end`` closes every presence; once)."""
        def work() -> None:
            from models import Lesson
            with self.svc.db.session() as s:
                now = self.svc.now()
                lesson = s.get(Lesson, self.lesson_id)
                if lesson is None or now < lesson.ends_at:
                    return
                last = eventlog.recent(s, self.lesson_id, ("lesson_end", "join"), 1)
                if last and last[-1].kind == "lesson_end":
                    return
                # a lesson_end closes every presence: only what came after the last one matters
                ended = eventlog.recent(s, self.lesson_id, ("lesson_end",), 1)
                found = eventlog.presence(eventlog.events(s, self.lesson_id, kinds=eventlog.PRESENCE_KINDS,
                                                          after_id=ended[-1].id if ended else None, limit=None),
                                          max_skew=_SKEW)
                if any(p.online for p in found.values()):
                    return
                ev = eventlog.append(s, self.lesson_id, "lesson_end", node_id=self.node_id,
                                     payload={"reason": "room_emptied"}, at=now)
                self._webhook(s, "lesson_end", {"reason": "room_emptied"}, ev.id, now)
        await run_in_threadpool(work)

    async def _online_recent(self) -> dict[str, list[dict]]:
        """The online lists for a newcomer's snapshot: computed from the log at most every
        PRESENCE_DELAY per lesson on this node (a class joining at once would otherwise re-read the
        whole presence log once per join), with the newcomer itself added."""
        key = f"online:{self.lesson_id}"
        cached = self.hub.cache.get(key)
        if cached is None or time.monotonic() - cached[0] > PRESENCE_DELAY:
            cached = (time.monotonic(), await run_in_threadpool(self._online))
            self.hub.cache[key] = cached
        online = cached[1]
        a = self.peer.admission
        if all(o["user_id"] != a.user_id for o in online["staff"]):
            me = {"user_id": a.user_id, "display_name": a.display_name, "room_role": a.room_role, "hidden": a.hidden}
            online = {"staff": sorted(online["staff"] + [me], key=lambda o: o["user_id"]),
                      "students": online["students"] if a.hidden else
                      sorted(online["students"] + [me], key=lambda o: o["user_id"])}
        return online

    async def _state(self) -> dict:
        online = await self._online_recent()
        staff = self.peer.staff
        hands = [p.admission.user_id for p in self.hub.local(self.lesson_id) if p.hand_raised]
        state = {"online": online["staff" if staff else "students"],
                 "count": len([o for o in online["students"] if o["room_role"] == "student"]),
                 "hands": hands, "lesson_id": self.lesson_id,
                 "recent": await self._recent()}
        if staff:  # the console: the whole roster, who holds the floor, whose camera is on
            state.update(await run_in_threadpool(self._console))
            state["cameras"] = sorted({p.user_id for p in self.media.publications
                                       if p.role == "student" and p.source == "camera"})
        return state

    async def _recent(self) -> list[dict]:
        """The room's last interaction lines this peer may see, so a late joiner (a supervisor
        walking in) reads the conversation so far (SUP-4). The lines are read from the log at most
        every PRESENCE_DELAY per lesson on this node (a class joining at once shares one read; a line
        logged here drops the cached copy) and filtered per peer."""
        key = f"recent:{self.lesson_id}"
        cached = self.hub.cache.get(key)
        if cached is None or time.monotonic() - cached[0] > PRESENCE_DELAY:
            cached = (time.monotonic(), await run_in_threadpool(self._recent_lines))
            self.hub.cache[key] = cached
        a = self.peer.admission
        staff = self.peer.staff
        out = []
        for line in cached[1]:
            p = line["payload"]
            if line["kind"] == "private" and a.user_id not in (line["user_id"], p.get("to")) and not a.hidden:
                continue
            if line["kind"] == "reminder" and not staff and p.get("user_id") != a.user_id:
                continue
            if p.get("held") and not staff:
                continue
            if line["role"] == "spectator" and not staff:
                continue
            out.append(line)
        return out[-RECENT_LINES:]

    def _recent_lines(self) -> list[dict]:
        """The lesson's last interaction lines, unfiltered (a few more than shown: some are private)."""
        with self.svc.db.session() as s:
            rows = eventlog.recent(s, self.lesson_id, INTERACTION_KINDS, RECENT_LINES * 3)
            names = _names(s, {ev.user_id for ev in rows if ev.user_id})
        return [{"id": ev.id, "kind": ev.kind, "at": ev.at.isoformat(), "user_id": ev.user_id, "role": ev.role,
                 "display_name": names.get(ev.user_id, ""), "payload": ev.payload or {}} for ev in rows]

    def _console(self) -> dict:
        from models import Enrolment
        a = self.peer.admission
        with self.svc.db.session() as s:
            rows = (s.query(Enrolment.student_user_id, StudentProfile.real_name, Enrolment.assistant_user_id)
                    .join(StudentProfile, StudentProfile.user_id == Enrolment.student_user_id)
                    .filter(Enrolment.class_id == a.class_id, Enrolment.status == "enrolled")
                    .order_by(Enrolment.id).all())
            floor: dict[int, bool] = {}
            for ev in eventlog.events(s, self.lesson_id, kinds=("floor_grant", "floor_revoke"), limit=None):
                uid = (ev.payload or {}).get("user_id")
                if isinstance(uid, int):
                    floor[uid] = ev.kind == "floor_grant"
            # ATT-1 live view: each student's latest face check and liveness verdict (not the history)
            faces = {uid: {"verdict": (ev.payload or {}).get("verdict"), "at": ev.at.isoformat(),
                           "distance": (ev.payload or {}).get("distance"), "faces": (ev.payload or {}).get("faces")}
                     for uid, ev in eventlog.latest_per_user(s, self.lesson_id, "face_check").items()}
            liveness = {uid: {"passed": (ev.payload or {}).get("passed"), "at": ev.at.isoformat(),
                              "reasons": (ev.payload or {}).get("reasons_zh") or []}
                        for uid, ev in eventlog.latest_per_user(s, self.lesson_id, "liveness").items()}
            # SUP-4 "how students are listening": their downstream quality and whether the page is in view
            quality = {str(uid): (ev.payload or {}).get("quality")
                       for uid, ev in eventlog.latest_per_user(s, self.lesson_id, "network_quality").items()}
            visible = {str(uid): (ev.payload or {}).get("visible")
                       for uid, ev in eventlog.latest_per_user(s, self.lesson_id, "page_visibility").items()}
        roster = [{"user_id": uid, "display_name": name, "assistant_id": asst} for uid, name, asst in rows]
        if a.room_role == "assistant":  # an assistant's console lists their own group first
            roster.sort(key=lambda r: r["assistant_id"] != a.user_id)
        return {"roster": roster, "floor": sorted(uid for uid, on in floor.items() if on),
                "faces": {str(uid): f for uid, f in faces.items()},
                "liveness": {str(uid): v for uid, v in liveness.items()}, "quality": quality, "visible": visible}

    def _roll_call_scope(self) -> tuple[float, list[int]]:
        """(share to check, the class's enrolled students) for a roll call (ATT-8)."""
        from models import Enrolment, Lesson, TrainingClass
        with self.svc.db.session() as s:
            cls = s.get(TrainingClass, s.get(Lesson, self.lesson_id).class_id)
            share = self.svc.profiles[cls.profile].roll_call_share or 0.5
            roster = [uid for (uid,) in s.query(Enrolment.student_user_id)
                      .filter(Enrolment.class_id == cls.id, Enrolment.status == "enrolled")]
        return share, roster

    def _online(self) -> dict[str, list[dict]]:
        """Online lists from the event log (one truth for every node); hidden spectators only for staff."""
        with self.svc.db.session() as s:
            events = eventlog.events(s, self.lesson_id, kinds=eventlog.PRESENCE_KINDS, limit=None)
            found = eventlog.presence(events, max_skew=_SKEW)
            ids = [uid for uid, p in found.items() if p.online]
            names = _names(s, set(ids))
        everyone = [{"user_id": uid, "display_name": names.get(uid, ""), "room_role": found[uid].role,
                     "hidden": found[uid].hidden} for uid in sorted(ids)]
        return {"staff": everyone, "students": [o for o in everyone if not o["hidden"]]}

    def _presence_soon(self) -> None:
        """Online lists go out at most every PRESENCE_DELAY per lesson: a class joining at once
        (200 in a few seconds) must not cost 200 × 200 list messages."""
        self.hub.coalesce(f"presence:{self.lesson_id}", PRESENCE_DELAY, self._broadcast_presence)

    async def _broadcast_presence(self) -> None:
        online = await run_in_threadpool(self._online)
        count = len([o for o in online["students"] if o["room_role"] == "student"])
        await self.hub.publish(self.lesson_id, {"type": "presence", "online": online["students"], "count": count},
                               "students")
        await self.hub.publish(self.lesson_id, {"type": "presence", "online": online["staff"], "count": count}, "staff")

    async def _handle(self, msg: dict) -> None:
        kind = msg["type"]
        handler = HANDLERS.get(kind)
        if handler is None:
            raise ApiError("UNKNOWN_MESSAGE", f"未知的消息类型：{kind}", f"Unknown message type: {kind}", field="type",
                           status=400)
        if kind != "ping":
            media = kind in negotiation.HANDLERS
            limit, window = MEDIA_RATE if media else RATE
            now = time.monotonic()
            recent = [t for t in (self.media_recent if media else self.peer.recent) if now - t < window]
            if len(recent) >= limit:
                raise ApiError("RATE_LIMITED", "发送过于频繁，请稍后再试", "Too many messages; slow down", status=429)
            recent.append(now)
            if media:
                self.media_recent = recent
            else:
                self.peer.recent = recent
        await handler(self, msg)

    def _has_floor(self) -> bool:
        """The floor is the latest grant or revoke for this student in the lesson's log (any node)."""
        uid = self.peer.admission.user_id
        with self.svc.db.session() as s:
            for ev in reversed(eventlog.events(s, self.lesson_id, kinds=("floor_grant", "floor_revoke"), limit=None)):
                if (ev.payload or {}).get("user_id") == uid:
                    return ev.kind == "floor_grant"
        return False

    def _require(self, *roles: str) -> None:
        if self.peer.admission.room_role not in roles:
            raise ApiError("ROOM_ROLE", "当前身份不能执行此操作", f"Only {', '.join(roles)} may do this", status=403,
                           rule="LIVE-1")

    # -- SUP-6: a hidden spectator's entry, exit and views are audited

    def _audit_entry(self, s, ev) -> None:
        a = self.peer.admission
        if a.hidden:
            self.entered = ev.at
            spectatorlinks.audit(s, actor=a.user_id, action="spectator.enter", lesson_id=self.lesson_id,
                                 class_id=a.class_id, now=ev.at, ip=self.ip, link_id=a.link_id, conn=self.conn,
                                 via="link" if a.link_id else "session")

    def _audit_exit(self, s, ev) -> None:
        a = self.peer.admission
        if a.hidden:
            seconds = round((ev.at - self.entered).total_seconds(), 1) if self.entered else None
            spectatorlinks.audit(s, actor=a.user_id, action="spectator.exit", lesson_id=self.lesson_id,
                                 class_id=a.class_id, now=ev.at, ip=self.ip, link_id=a.link_id, conn=self.conn,
                                 seconds=seconds)

    async def audit_view(self, what: str, **detail) -> None:
        """A hidden spectator looked at something in the room (a student's camera, a timeline)."""
        a = self.peer.admission
        if not a.hidden:
            return

        def work() -> None:
            with self.svc.db.session() as s:
                spectatorlinks.audit(s, actor=a.user_id, action=f"spectator.view.{what}", lesson_id=self.lesson_id,
                                     class_id=a.class_id, now=self.svc.now(), ip=self.ip, link_id=a.link_id,
                                     **detail)
        await run_in_threadpool(work)

    @property
    def ip(self) -> str | None:
        client = self.ws.client
        return client.host if client else None


_SKEW = timedelta(seconds=2)  # several nodes' clocks write one log
INTERACTION_KINDS = ("chat", "question", "answer", "private", "reminder")
RECENT_LINES = 50


def _names(s, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    names = {u.id: u.display_name for u in s.query(User).filter(User.id.in_(ids))}
    names.update({p.user_id: p.real_name for p in s.query(StudentProfile).filter(StudentProfile.user_id.in_(ids))})
    return names


def _who(a: Admission) -> dict:
    return {"user_id": a.user_id, "display_name": a.display_name, "room_role": a.room_role, "hidden": a.hidden,
            "assistant_id": a.assistant_id, "class_id": a.class_id}


def _text(msg: dict) -> str:
    text = msg.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ApiError("TEXT_REQUIRED", "内容不能为空", "text must be a non-empty string", field="text", status=422)
    if len(text) > MAX_TEXT:
        raise ApiError("TEXT_TOO_LONG", f"内容不超过 {MAX_TEXT} 字", f"text is limited to {MAX_TEXT} characters",
                       field="text", status=422)
    return text.strip()


def _target(msg: dict) -> int:
    uid = msg.get("user_id")
    if not isinstance(uid, int) or isinstance(uid, bool):
        raise ApiError("USER_ID_REQUIRED", "请指定学员", "user_id (integer) is required", field="user_id", status=422)
    return uid


async def on_ping(sock: LessonSocket, msg: dict) -> None:
    await sock.send({"type": "pong", "t": msg.get("t")})


async def on_chat(sock: LessonSocket, msg: dict) -> None:
    if not sock.peer.admission.can_chat:  # spectators watch unseen unless their link grants chat
        raise ApiError("SPECTATOR_SILENT", "旁听监管账号未获准发言", "This hidden spectator is not granted chat",
                       status=403, rule="SUP-4")
    await moderation.say(sock, "chat", {"text": _text(msg)})


async def on_question(sock: LessonSocket, msg: dict) -> None:
    sock._require("student")
    await moderation.say(sock, "question", {"text": _text(msg)})


async def on_answer(sock: LessonSocket, msg: dict) -> None:
    sock._require("lecturer", "assistant")
    qid = msg.get("question_id")
    if not isinstance(qid, int):
        raise ApiError("QUESTION_ID_REQUIRED", "请指定问题", "question_id (integer) is required", field="question_id",
                       status=422)
    await moderation.say(sock, "answer", {"question_id": qid, "text": _text(msg)})


async def on_hand(sock: LessonSocket, msg: dict) -> None:
    sock._require("student")
    raised = msg["type"] == "hand_raise"
    if sock.peer.hand_raised != raised:
        sock.peer.hand_raised = raised
        await sock._record(msg["type"], {})


async def on_floor(sock: LessonSocket, msg: dict) -> None:
    """The lecturer gives a student the floor (their microphone is forwarded) or takes it back."""
    sock._require("lecturer")
    uid = _target(msg)
    await sock._record(msg["type"], {"user_id": uid})


async def on_visibility(sock: LessonSocket, msg: dict) -> None:
    visible = msg.get("visible")
    if not isinstance(visible, bool):
        raise ApiError("VISIBLE_REQUIRED", "visible 须为布尔值", "visible must be true or false", field="visible",
                       status=422)
    await sock._record("page_visibility", {"visible": visible}, audience="staff")


async def on_roll_call(sock: LessonSocket, msg: dict) -> None:
    """ATT-8: a supervisor has a random share (the region's ``roll_call_share``, ≥ 50 %) of the
    class face-checked now. The selection, who asked and who could not be checked (no camera on)
    are logged; each result comes as a ``face_check`` carrying the roll call's id."""
    sock._require("spectator")
    faces = sock.hub.faces.lessons.get(sock.lesson_id) if sock.hub.faces is not None else None
    if faces is None:
        raise ApiError("FACE_ATTENDANCE_OFF", "本直播间未开启人脸考勤", "face attendance is off in this room",
                       status=409, rule="ATT-8")
    share, roster = await run_in_threadpool(sock._roll_call_scope)
    need = math.ceil(share * len(roster))
    present = [uid for uid in roster if uid in faces.sampler.sampling()]
    selected = sorted(random.sample(present, min(need, len(present))))
    event = await sock._record("roll_call", {"share": share, "roster": len(roster), "needed": need,
                                             "selected": selected, "short": max(0, need - len(selected))},
                               audience="staff")
    faces.roll_call(event["id"], selected)


async def on_liveness_check(sock: LessonSocket, msg: dict) -> None:
    """ATT-1: the lecturer, an assistant or a supervisor has one student take a liveness
    challenge now (e.g. a face that matches but never moves)."""
    sock._require("lecturer", "assistant", "spectator")
    faces = sock.hub.faces.lessons.get(sock.lesson_id) if sock.hub.faces is not None else None
    uid = _target(msg)
    if faces is None or uid not in faces.sampler.sampling():
        raise ApiError("NO_CAMERA", "该学员的摄像头未在本节点开启，无法进行活体检测",
                       "this student has no camera on here to check", field="user_id", status=409, rule="ATT-1")
    if uid in faces.challenging:
        raise ApiError("LIVENESS_BUSY", "该学员正在进行活体检测", "a liveness check of this student is under way",
                       field="user_id", status=409, rule="ATT-1")
    faces.start_liveness(uid, "staff", by=sock.peer.admission.user_id)


async def on_watch(sock: LessonSocket, msg: dict) -> None:
    """Staff choose student cameras to see (forwarded as sent, never transcoded); a hidden
    spectator's choice is a supervision act (SUP-6)."""
    before = set(sock.watch)
    await negotiation.on_watch(sock, msg)
    if sock.watch - before:
        await sock.audit_view("camera", user_ids=sorted(sock.watch - before))


HANDLERS = {
    **negotiation.HANDLERS, **assistance.HANDLERS, "watch": on_watch,
    "ping": on_ping, "chat": on_chat, "question": on_question, "answer": on_answer,
    "hand_raise": on_hand, "hand_lower": on_hand, "floor_grant": on_floor, "floor_revoke": on_floor,
    "page_visibility": on_visibility, "roll_call": on_roll_call, "liveness_check": on_liveness_check,
}

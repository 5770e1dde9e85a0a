"""Who receives whose media in a live room, and who may publish what (LIVE-1, LIVE-4, SUP-4).

- The lecturer's camera, microphone and screen go to everyone in the room.
- A student's microphone is published only while the lecturer gives them the floor; it then goes
  to everyone (the class hears the question).
- A student's camera exists for attendance (ATT): it is never forwarded to other students. Their
  own assistant receives it (one-to-one service); the lecturer, assistants and hidden supervisors
  receive the cameras they choose to watch (a bounded list), and the attendance sampler consumes
  it inside the server.
"""
from __future__ import annotations

from server.errors import ApiError
from server.live.access import Admission

MAX_WATCH = 30  # student cameras one staff member may watch at once (an assistant's group size)
STUDENT_CAMERA_MAX_BPS = 150_000  # ATT sampling needs no more; asked of the phone's encoder by REMB

# slot -> sources allowed in it, per publishing role. A slot is one peer connection.
SLOTS = {
    "lecturer": {"main": {"camera", "camera_low", "mic"}, "screen": {"screen", "screen_audio"}},
    "student": {"camera": {"camera"}, "mic": {"mic"}},
}
KIND_OF = {"camera": "video", "camera_low": "video", "screen": "video", "mic": "audio", "screen_audio": "audio"}


def wants(viewer: Admission, watch: set[int]):
    """The predicate a subscriber's downstream connection uses to pick publications."""
    def predicate(pub) -> bool:
        if pub.role != "student":
            return True
        if pub.source != "camera":
            return True  # a student's microphone, while they hold the floor
        if viewer.room_role == "student":
            return False
        if viewer.room_role == "assistant" and pub.tags.get("assistant_id") == viewer.user_id:
            return True
        return pub.user_id in watch
    return predicate


def check_watch(viewer: Admission, user_ids) -> set[int]:
    if viewer.room_role == "student":
        raise ApiError("ROOM_ROLE", "学员不能查看其他学员的画面", "Students do not receive other students' cameras",
                       status=403, rule="LIVE-1")
    if not isinstance(user_ids, list) or not all(isinstance(u, int) and not isinstance(u, bool) for u in user_ids):
        raise ApiError("USER_IDS_REQUIRED", "user_ids 须为学员编号列表", "user_ids must be a list of integers",
                       field="user_ids", status=422)
    if len(set(user_ids)) > MAX_WATCH:
        raise ApiError("WATCH_TOO_MANY", f"最多同时查看 {MAX_WATCH} 名学员的画面", f"Watch at most {MAX_WATCH} cameras at once",
                       field="user_ids", status=422)
    return set(user_ids)


def check_sources(role: str, slot: str, sections: list[tuple[str, str]], tracks: dict | None) -> dict[str, str]:
    """mid → source for a publish offer, checked against what this role may publish in this slot.

    ``sections``: (kind, mid) of each m-line of the offer. Without ``tracks`` the usual layout is
    assumed: first video = camera (screen in the screen slot), second video = camera_low, audio = mic.
    """
    allowed = SLOTS.get(role, {}).get(slot)
    if allowed is None:
        raise ApiError("SLOT_INVALID", f"不能在“{slot}”发布", f"A {role} cannot publish in slot {slot!r}", field="slot",
                       status=403, rule="LIVE-1")
    if tracks is not None and (not isinstance(tracks, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tracks.items())):
        raise ApiError("TRACKS_INVALID", "tracks 须为 mid → 来源 的对象", "tracks must map mids to sources", field="tracks",
                       status=422)
    out: dict[str, str] = {}
    videos = 0
    for kind, mid in sections:
        if tracks is not None and mid in tracks:
            source = tracks[mid]
        elif kind == "audio":
            source = "screen_audio" if slot == "screen" else "mic"
        else:
            source = "screen" if slot == "screen" else ("camera" if videos == 0 else "camera_low")
        videos += kind == "video"
        if source not in allowed:
            raise ApiError("SOURCE_NOT_ALLOWED", f"此处不能发布“{source}”", f"{source!r} may not be published in slot {slot!r}",
                           field="tracks", status=403, rule="LIVE-1")
        if KIND_OF[source] != kind:
            raise ApiError("SOURCE_KIND", f"“{source}”须为{'视频' if KIND_OF[source] == 'video' else '音频'}",
                           f"{source!r} must be a {KIND_OF[source]} track", field="tracks", status=422)
        if source in out.values():
            raise ApiError("SOURCE_TWICE", f"“{source}”重复发布", f"{source!r} appears twice in the offer",
                           field="tracks", status=422)
        out[mid] = source
    return out


def sdp_sections(sdp: str) -> list[tuple[str, str]]:
    """(kind, mid) of every audio/video m-line of an SDP (a rejected m-line, port 0, is skipped)."""
    sections: list[tuple[str, str]] = []
    kind = None
    mid = None
    rejected = False

    index = -1

    def flush():
        if kind in ("audio", "video") and not rejected:
            sections.append((kind, mid if mid is not None else str(index)))
    for line in sdp.splitlines():
        if line.startswith("m="):
            flush()
            index += 1
            parts = line[2:].split()
            kind, mid = (parts[0] if parts else None), None
            rejected = len(parts) > 1 and parts[1] == "0"
        elif line.startswith("a=mid:"):
            mid = line[6:].strip()
    flush()
    return sections

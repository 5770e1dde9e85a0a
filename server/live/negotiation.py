"""WebRTC negotiation over the lesson socket: publish, subscribe, trickle ICE, per-viewer controls.

Messages (client → server):
- ``publish`` {slot, sdp, tracks?}: an offer for one slot (a peer connection). The lecturer has
  ``main`` (camera, its low layer ``camera_low``, mic) and ``screen``; a student has ``camera``
  (the small attendance stream) and ``mic`` (only while holding the floor). ``tracks`` maps the
  offer's mids to sources. Answer: ``answer`` {slot, sdp}.
- ``unpublish`` {slot}: stop a slot (end of screen share, end of the live).
- ``sdp_answer`` {sdp}: the answer to the SFU's ``offer`` {sdp, tracks} for the downstream
  connection; ``tracks`` (mid → publication) also arrives alone when senders are reused.
- ``candidate`` {target: "subscribe" | slot, candidate: {candidate, sdpMid, sdpMLineIndex} | null}:
  trickle ICE; null ends the candidates.
- ``audio_only`` {on}, ``video_quality`` {preference: auto|high|low}: a viewer's own choices (LIVE-3).
- ``watch`` {user_ids}: staff choose which student cameras to receive (bounded; see visibility).

Media events from the SFU (layer switches, network quality, a peer lost to an ICE timeout) are
appended to the lesson log like everything else, for staff eyes only.
"""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from server.errors import ApiError
from server.live import visibility

MAX_SDP = 64 * 1024


def _sdp(msg: dict) -> str:
    sdp = msg.get("sdp")
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > MAX_SDP:
        raise ApiError("SDP_INVALID", "SDP 格式错误", "sdp must be a session description (v=0 …, ≤ 64 KB)", field="sdp",
                       status=422)
    return sdp


def _slot(sock, msg: dict) -> str:
    role = sock.peer.admission.room_role
    slot = msg.get("slot")
    if slot is None:  # clients before slots: the lecturer's main, a student's camera or microphone
        if role == "student":
            return "camera" if "\nm=video" in (msg.get("sdp") or "") else "mic"
        return "main"
    if not isinstance(slot, str) or slot not in visibility.SLOTS.get(role, {}):
        raise ApiError("SLOT_INVALID", "发布位置无效", f"slot must be one of {sorted(visibility.SLOTS.get(role, {}))}",
                       field="slot", status=422 if role in visibility.SLOTS else 403, rule="LIVE-1")
    return slot


def publisher_key(sock, slot: str) -> str:
    return f"{sock.media_key}/{slot}"


async def subscribe(sock) -> None:
    """The downstream connection: everything this peer may and wants to receive."""
    a = sock.peer.admission
    await sock.media.subscribe(sock.media_key, sock.send_offer, user_id=a.user_id,
                               wants=visibility.wants(a, sock.watch), send_tracks=sock.send_tracks)


async def on_publish(sock, msg: dict) -> None:
    sock._require("lecturer", "student")
    role = sock.peer.admission.room_role
    slot = _slot(sock, msg)
    sdp = _sdp(msg)
    sections = visibility.sdp_sections(sdp)
    if not sections:
        raise ApiError("SDP_NO_MEDIA", "发布的 SDP 不含音视频", "The offer has no audio or video section", field="sdp",
                       status=422)
    if role == "student" and slot == "mic" and any(kind == "video" for kind, _ in sections):
        raise ApiError("STUDENT_AUDIO_ONLY", "发言时只能发布麦克风", "A student's floor slot carries the microphone only",
                       field="sdp", status=403, rule="LIVE-1")
    sources = visibility.check_sources(role, slot, sections, msg.get("tracks"))
    if role == "student" and slot == "mic" and not await run_in_threadpool(sock._has_floor):
        raise ApiError("NO_FLOOR", "讲师尚未请你发言", "The lecturer has not given you the floor", status=403,
                       rule="LIVE-1")
    a = sock.peer.admission
    limits = {"camera": visibility.STUDENT_CAMERA_MAX_BPS} if role == "student" else None
    try:
        answer = await sock.media.publish(publisher_key(sock, slot), sdp, user_id=a.user_id, role=role,
                                          sources=sources, display_name=a.display_name, max_bitrate=limits,
                                          tags={"assistant_id": a.assistant_id})
    except ApiError:
        raise
    except Exception as exc:  # aiortc refuses malformed or unsupported SDP
        raise ApiError("SDP_REFUSED", "无法接受该 SDP", f"The SFU could not accept this offer: {exc}", field="sdp",
                       status=422)
    sock.slots.add(slot)
    await sock.send({"type": "answer", "slot": slot, "sdp": answer})
    await sock._record("publish", {"slot": slot, "sources": sorted(set(sources.values()))},
                       audience="staff" if slot == "camera" else None)


async def on_unpublish(sock, msg: dict) -> None:
    slot = _slot(sock, msg)
    if slot in sock.slots:
        sock.slots.discard(slot)
        await sock.media.unpublish(publisher_key(sock, slot))
        await sock._record("unpublish", {"slot": slot}, audience="staff" if slot == "camera" else None)


async def on_answer_sdp(sock, msg: dict) -> None:
    """A subscriber's answer to the SFU's offer."""
    try:
        await sock.media.answer(sock.media_key, _sdp(msg))
    except ApiError:
        raise
    except KeyError:
        raise ApiError("NO_OFFER", "没有待应答的 SDP offer", "There is no offer from the server to answer", field="sdp",
                       status=409)
    except Exception as exc:
        raise ApiError("SDP_REFUSED", "无法接受该 SDP", f"The SFU could not accept this answer: {exc}", field="sdp",
                       status=422)


async def on_candidate(sock, msg: dict) -> None:
    target = msg.get("target", "subscribe")
    candidate = msg.get("candidate")
    if candidate is not None and (not isinstance(candidate, dict) or not isinstance(candidate.get("candidate", ""), str)
                                  or len(candidate.get("candidate", "")) > 512):
        raise ApiError("CANDIDATE_INVALID", "ICE candidate 格式错误", "candidate must be {candidate, sdpMid, sdpMLineIndex}",
                       field="candidate", status=422)
    if target == "subscribe":
        key = sock.media_key
    elif isinstance(target, str) and target in sock.slots:
        key = publisher_key(sock, target)
    else:
        raise ApiError("CANDIDATE_TARGET", "ICE candidate 的目标连接不存在", "target must be 'subscribe' or a published slot",
                       field="target", status=409)
    try:
        await sock.media.add_candidate(key, candidate)
    except KeyError:
        raise ApiError("CANDIDATE_TARGET", "ICE candidate 的目标连接不存在", "No such connection (yet)", field="target",
                       status=409)
    except (ValueError, IndexError) as exc:
        raise ApiError("CANDIDATE_INVALID", "ICE candidate 格式错误", f"Unreadable candidate: {exc}", field="candidate",
                       status=422)


async def on_audio_only(sock, msg: dict) -> None:
    """A student on a weak network (or by choice) receives audio only; video resumes at a keyframe."""
    on = msg.get("on")
    if not isinstance(on, bool):
        raise ApiError("ON_REQUIRED", "on 须为布尔值", "on must be true or false", field="on", status=422)
    await sock.media.set_video(sock.media_key, not on)
    await sock.send({"type": "audio_only", "on": on})


async def on_video_quality(sock, msg: dict) -> None:
    """LIVE-3: follow the network (auto), or hold the high or the low camera layer."""
    preference = msg.get("preference")
    if preference not in ("auto", "high", "low"):
        raise ApiError("PREFERENCE_INVALID", "清晰度须为 auto、high 或 low", "preference must be auto, high or low",
                       field="preference", status=422, rule="LIVE-3")
    await sock.media.prefer_layer(sock.media_key, preference)
    await sock.send({"type": "video_quality", "preference": preference})


async def on_watch(sock, msg: dict) -> None:
    sock.watch.clear()
    sock.watch.update(visibility.check_watch(sock.peer.admission, msg.get("user_ids")))
    sock.media.refresh(sock.media_key)
    await sock.send({"type": "watching", "user_ids": sorted(sock.watch)})


async def on_media_event(sock, key: str, kind: str, payload: dict) -> None:
    """From the SFU about one of this socket's connections: log it (staff see it), and after an
    ICE timeout give a live socket a fresh connection."""
    if kind == "media_lost":
        slot = key.rsplit("/", 1)[1] if "/" in key else None
        if slot is not None:
            sock.slots.discard(slot)
        await sock._record("media_lost", {**payload, "slot": slot}, audience="staff")
        await sock.send({"type": "media_closed", "slot": slot, **payload})
        if slot is None:
            await subscribe(sock)
        return
    await sock._record(kind, payload, audience="staff")


HANDLERS = {
    "publish": on_publish, "unpublish": on_unpublish, "sdp_answer": on_answer_sdp, "candidate": on_candidate,
    "audio_only": on_audio_only, "video_quality": on_video_quality, "watch": on_watch,
}

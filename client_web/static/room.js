// 启航 Qihang — the live room. The lecturer publishes two camera layers + microphone (and a screen
// share); a student publishes a small camera stream for attendance, and a microphone only while
// holding the floor. Everyone receives the SFU's offer and plays what it forwards, placing each
// track by the SFU's mid → publication map. Room events arrive on the same WebSocket.
// No external URL of any kind (PLAT-2).
import { $, getToken, goLogin, h, query } from "/static/api.js";
import { renderConsole, setupConsole } from "/static/roomconsole.js";
import { showChallenge, showResult } from "/static/liveness.js";

const lessonId = Number(query("lesson"));
const spectate = query("spectate");
const state = {
  ws: null, you: null, sub: null, pubs: {}, streams: {}, tracks: {}, muted: false, hands: new Map(),
  ice: [], retry: 300, online: [], roster: [], floor: new Set(), cameras: new Set(), quality: new Map(), faces: new Map(), liveness: new Map(),
  watching: new Set(), visible: new Map(), privateTo: null,
};
window.qihangRoom = state; // for diagnostics and the browser tests
const sessionId = (() => {
  let id = sessionStorage.getItem("qihang.session");
  if (!id) { id = crypto.randomUUID(); sessionStorage.setItem("qihang.session", id); }
  return id;
})();

// The lecturer's two camera layers (LIVE-3) and the student's attendance stream (ATT, ≤ 320×240).
const LAYERS = { camera: { maxBitrate: 500_000 }, camera_low: { maxBitrate: 150_000, scaleResolutionDownBy: 2 } };
const STUDENT_CAMERA = { video: { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 10, max: 10 },
  facingMode: "user" }, audio: false };

function status(zh, en, s) {
  const el = $("#room-status");
  el.dataset.state = s;
  el.replaceChildren(zh, h("small", { class: "en" }, en));
}

function showError(err) {
  const box = $("#room-error");
  box.hidden = false;
  box.replaceChildren(err.message_zh || "", h("small", { class: "en" }, ` ${err.message_en || ""} (${err.code})`));
}

function send(msg) { if (state.ws?.readyState === 1) state.ws.send(JSON.stringify(msg)); }

/** Trickle ICE: descriptions go out at once, candidates follow as the browser finds them. */
function trickle(pc, target) {
  pc.onicecandidate = (e) => send({ type: "candidate", target, candidate: e.candidate ? e.candidate.toJSON() : null });
}

// ---------------------------------------------------------------- publishing

/** Publish ``tracks`` ([[source, track, encoding]]) as one slot (one peer connection). */
async function publish(slot, stream, tracks) {
  unpublish(slot, false, state.streams[slot] !== stream);  // a republish keeps its capture running
  const pc = new RTCPeerConnection({ iceServers: state.ice });
  state.pubs[slot] = pc;
  state.streams[slot] = stream;
  const sources = [];
  for (const [source, track, encoding] of tracks) {
    // LIVE-3: the lecturer's high layer keeps its 480p-class resolution when the CPU is busy
    // (the browser drops frame rate instead); the low layer and phones may scale down.
    if (slot === "main" && source === "camera") track.contentHint = "detail";
    const t = pc.addTransceiver(track, { direction: "sendonly", streams: [stream], sendEncodings: encoding ? [encoding] : undefined });
    sources.push([t, source]);
  }
  trickle(pc, slot);
  await pc.setLocalDescription(await pc.createOffer());
  send({ type: "publish", slot, sdp: pc.localDescription.sdp, tracks: Object.fromEntries(sources.map(([t, s]) => [t.mid, s])) });
}

function unpublish(slot, tell = true, stopCapture = true) {
  state.pubs[slot]?.close();
  delete state.pubs[slot];
  if (stopCapture) state.streams[slot]?.getTracks().forEach((t) => t.stop());
  delete state.streams[slot];
  if (tell) send({ type: "unpublish", slot });
}

async function goLive() {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 30 } }, audio: true });
  const [video] = stream.getVideoTracks();
  const low = video.clone();  // the same camera again, scaled down by the encoder: the low layer
  stream.addTrack(low);
  showLocal(new MediaStream([video]));
  await publish("main", stream, [["camera", video, LAYERS.camera], ["camera_low", low, LAYERS.camera_low],
    ...stream.getAudioTracks().map((a) => ["mic", a, null])]);
  $("#go-live").hidden = true;
  $("#end-live").hidden = false;
  $("#share-screen").hidden = false;
}

function showLocal(stream) {
  const video = $("#stage-video");
  video.srcObject = stream;
  video.play().catch(() => {});
}

async function shareScreen() {
  const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 5, max: 15 } }, audio: false });
  const [track] = stream.getVideoTracks();
  track.contentHint = "detail";  // slides and text: sharpness over motion
  track.addEventListener("ended", stopShare);
  await publish("screen", stream, [["screen", track, { maxBitrate: 1_000_000 }]]);
  $("#share-screen").hidden = true;
  $("#stop-share").hidden = false;
}

function stopShare() {
  unpublish("screen");
  $("#share-screen").hidden = state.you?.room_role !== "lecturer" || !state.pubs.main;
  $("#stop-share").hidden = true;
}

/** The attendance camera: small, slow, and never shown to other students (ATT, LIVE-1). */
async function startCamera() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia(STUDENT_CAMERA);
    const [track] = stream.getVideoTracks();
    await publish("camera", stream, [["camera", track, { maxBitrate: 150_000, maxFramerate: 10 }]]);
    $("#self-view").srcObject = stream;
    $("#self-view").play().catch(() => {});
    $("#camera-help").hidden = true;
    $("#camera-state").dataset.on = "true";
  } catch (err) {
    $("#camera-help").hidden = false;  // how to allow the camera in WeChat, iOS Safari, Android Chrome
    $("#camera-state").dataset.on = "false";
  }
}

/** A student with the floor publishes their microphone (LIVE-1 interaction). */
async function speak() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  await publish("mic", stream, [["mic", stream.getAudioTracks()[0], null]]);
}

// ---------------------------------------------------------------- receiving

async function onOffer(msg) {
  if (!state.sub) {
    const pc = new RTCPeerConnection({ iceServers: state.ice });
    state.sub = pc;
    trickle(pc, "subscribe");
    pc.ontrack = () => placeTracks();
  }
  const pc = state.sub;
  await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  send({ type: "sdp_answer", sdp: pc.localDescription.sdp });
  state.tracks = msg.tracks || {};
  placeTracks();
}

/** Put every received track where it belongs: the lecturer's camera or screen on the stage,
 *  voices in audio elements, watched student cameras in the grid. Idle senders are hidden. */
function placeTracks() {
  if (!state.sub) return;
  const live = new Set();
  let screen = null, camera = null;
  for (const t of state.sub.getTransceivers()) {
    const pub = state.tracks[t.mid];
    if (!pub || !t.receiver?.track) continue;
    live.add(pub.pid);
    const track = t.receiver.track;
    if (pub.kind === "audio") playAudio(pub.pid, track);
    else if (pub.role === "lecturer" && pub.source === "screen") screen = track;
    else if (pub.role === "lecturer") camera = track;
    else if (pub.source === "camera") thumbnail(pub, track);
  }
  if (state.you?.room_role !== "lecturer" || !state.pubs.main) {
    attach($("#stage-video"), screen || camera);
    attach($("#pip-video"), screen ? camera : null);
  }
  document.querySelectorAll("[data-pid]").forEach((el) => { if (!live.has(el.dataset.pid)) el.remove(); });
}

function attach(video, track) {
  video.hidden = !track;
  if (!track) { video.srcObject = null; return; }
  if (video.srcObject?.getTracks()[0] !== track) {
    video.srcObject = new MediaStream([track]);
    video.play().catch(() => {});
  }
}

function playAudio(pid, track) {
  let audio = document.querySelector(`audio[data-pid="${CSS.escape(pid)}"]`);
  if (audio && audio.srcObject?.getTracks()[0] === track) return;
  if (!audio) {
    audio = h("audio", { autoplay: true, "data-remote": pid, "data-pid": pid });
    document.body.append(audio);
  }
  audio.srcObject = new MediaStream([track]);
  // Autoplay with sound needs a tap on iOS Safari and WeChat: start muted, offer the button.
  audio.muted = state.muted;
  audio.play().catch(() => { audio.muted = true; state.muted = true; audio.play().catch(() => {}); $("#unmute").hidden = false; });
  if (state.muted) $("#unmute").hidden = false;
}

function thumbnail(pub, track) {
  let box = document.querySelector(`#watch-grid [data-pid="${CSS.escape(pub.pid)}"]`);
  if (!box) {
    box = h("figure", { "data-pid": pub.pid, "data-user": pub.user_id },
      h("video", { playsinline: true, autoplay: true, muted: true }), h("figcaption", {}, pub.display_name || `#${pub.user_id}`));
    $("#watch-grid").append(box);
  }
  attach(box.querySelector("video"), track);
  $("#watch-box").hidden = false;
}

// ---------------------------------------------------------------- room events

function nameOf(id) {
  return state.roster.find((r) => r.user_id === id)?.display_name || state.online.find((o) => o.user_id === id)?.display_name || `#${id}`;
}

/** One line of the room's conversation: chat, questions, answers, private lines (LIVE-4) and
 *  reminders; a line held by the screening (LIVE-5) reaches staff only, flagged. */
function chatLine(ev) {
  const name = ev.display_name || `#${ev.user_id}`;
  const p = ev.payload || {};
  const attrs = { "data-kind": ev.kind, "data-user": ev.user_id, "data-id": ev.id };
  if (p.held) attrs["data-held"] = "true";
  const flag = p.held ? h("span", { class: "held", title: (p.matches || []).map((m) => m.word).join("、") }, "⚠ 敏感内容已拦截 ") : "";
  if (ev.kind === "private") {
    const to = p.to === state.you?.user_id ? "我" : nameOf(p.to);
    return h("li", attrs, flag, h("b", {}, `🔒 ${name} → ${to}`), "：", p.text);
  }
  if (ev.kind === "reminder") return h("li", attrs, flag, h("b", {}, `🔔 ${name} → ${nameOf(p.user_id)}`), "：", p.text);
  return h("li", attrs, flag, h("b", {}, name), "：", p.text);
}

function appendChat(ev) {
  if (document.querySelector(`#chat-list [data-id="${ev.id}"]`)) return;
  $("#chat-list").append(chatLine(ev));
  $("#chat-list").lastChild.scrollIntoView({ block: "end" });
}

function onEvent(ev) {
  const name = ev.display_name || `#${ev.user_id}`;
  const me = state.you?.user_id;
  if (["chat", "question", "answer", "private", "reminder"].includes(ev.kind)) {
    appendChat(ev);
    if (ev.kind === "reminder" && ev.payload.user_id === me) showReminder(ev.payload);
  } else if (ev.kind === "page_visibility") {
    state.visible.set(ev.user_id, ev.payload.visible);
  } else if (ev.kind === "hand_raise") {
    state.hands.set(ev.user_id, [ev.user_id, name]);
  } else if (ev.kind === "hand_lower") {
    state.hands.delete(ev.user_id);
  } else if (ev.kind === "floor_grant") {
    state.hands.delete(ev.payload.user_id);
    state.floor.add(ev.payload.user_id);
    if (ev.payload.user_id === me) {
      $("#chat-list").append(h("li", { "data-kind": "floor" }, "讲师请你发言，麦克风已打开 · You have the floor; your microphone is on"));
      speak().catch((err) => showError({ code: "MICROPHONE", message_zh: "无法打开麦克风，请在浏览器设置中允许访问", message_en: String(err) }));
    }
  } else if (ev.kind === "floor_revoke") {
    state.floor.delete(ev.payload.user_id);
    if (ev.payload.user_id === me) {
      unpublish("mic", false);
      $("#chat-list").append(h("li", { "data-kind": "floor-end" }, "发言结束 · Your turn to speak has ended"));
    }
  } else if (ev.kind === "publish" && ev.payload.slot === "camera") {
    state.cameras.add(ev.user_id);
  } else if ((ev.kind === "unpublish" && ev.payload.slot === "camera") || (ev.kind === "media_lost" && ev.payload.slot === "camera")) {
    state.cameras.delete(ev.user_id);
  } else if (ev.kind === "network_quality") {
    state.quality.set(ev.user_id, ev.payload.quality);
  } else if (ev.kind === "face_check") {  // ATT-1 live view (staff only: the server sends it to staff)
    state.faces.set(ev.user_id, { verdict: ev.payload.verdict, at: ev.at, distance: ev.payload.distance });
  } else if (ev.kind === "liveness") {  // ATT-1: the student's own verdict, and the staff's view
    if (ev.user_id === me) showResult(ev.payload);
    state.liveness.set(ev.user_id, { passed: ev.payload.passed, at: ev.at, reasons: ev.payload.reasons_zh || [] });
  }
  renderConsole(state, send);
}

function onJoined(msg) {
  state.you = msg.you;
  state.ice = msg.ice_servers || [];  // the deployment's own STUN/TURN, time-limited credentials
  state.retry = 300;
  state.roster = msg.roster || [];
  state.floor = new Set(msg.floor || []);
  state.cameras = new Set(msg.cameras || []);
  state.faces = new Map(Object.entries(msg.faces || {}).map(([id, f]) => [Number(id), f]));
  state.liveness = new Map(Object.entries(msg.liveness || {}).map(([id, v]) => [Number(id), v]));
  state.quality = new Map(Object.entries(msg.quality || {}).map(([id, q]) => [Number(id), q]));
  state.visible = new Map(Object.entries(msg.visible || {}).map(([id, v]) => [Number(id), v]));
  $("#chat-list").replaceChildren();
  (msg.recent || []).forEach(appendChat);
  $("#private-student").hidden = !(msg.you.room_role === "student" && msg.you.assistant_id);
  state.hands = new Map((msg.hands || []).map((id) => [id, [id, `#${id}`]]));
  const role = msg.you.room_role;
  document.body.dataset.role = role;
  status("直播间已连接", "Connected", "live");
  renderOnline(msg.online, msg.count);
  $("#lecturer-actions").hidden = role !== "lecturer";
  $("#student-actions").hidden = role !== "student";
  $("#console").hidden = !["lecturer", "assistant", "spectator"].includes(role);
  if (role === "student" && !state.pubs.camera) {
    if (state.streams.camera) republish("camera"); else startCamera();
  }
  // After a reconnect, give the SFU this browser's streams again.
  if (role === "lecturer" && state.streams.main && !state.pubs.main) republish("main");
  if (state.watching.size) send({ type: "watch", user_ids: [...state.watching] });
  renderConsole(state, send);
}

function republish(slot) {
  const stream = state.streams[slot];
  if (!stream) return;
  if (slot === "main") {
    const [video, low] = stream.getVideoTracks();
    publish("main", stream, [["camera", video, LAYERS.camera], ["camera_low", low, LAYERS.camera_low],
      ...stream.getAudioTracks().map((a) => ["mic", a, null])]).catch(showError);
  } else if (slot === "screen") {
    publish("screen", stream, [["screen", stream.getVideoTracks()[0], { maxBitrate: 1_000_000 }]]).catch(showError);
  } else if (slot === "camera") {
    publish("camera", stream, [["camera", stream.getVideoTracks()[0], { maxBitrate: 150_000, maxFramerate: 10 }]]).catch(showError);
  }
}

function renderOnline(list, count) {
  state.online = list;
  $("#online-count").textContent = String(count);
  $("#online-count").dataset.count = String(count);
  $("#online-list").replaceChildren(...list.map((o) => h("li", { "data-user": o.user_id, "data-role": o.room_role },
    o.display_name || `#${o.user_id}`, o.room_role === "lecturer" ? "（讲师）" : "", o.hidden ? "（监管旁听）" : "")));
  renderConsole(state, send);
}

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/lessons/${lessonId}`);
  state.ws = ws;
  // SUP-4: a spectator link opens the room by itself (bound to its supervisor and this lesson).
  ws.onopen = () => send({ type: "join", token: getToken() || undefined, spectate: spectate || undefined, session_id: sessionId });
  ws.onmessage = async (e) => {
    const msg = JSON.parse(e.data);
    try {
      if (msg.type === "joined") onJoined(msg);
      else if (msg.type === "presence") renderOnline(msg.online, msg.count);
      else if (msg.type === "event") onEvent(msg.event);
      else if (msg.type === "offer") await onOffer(msg);
      else if (msg.type === "tracks") { state.tracks = msg.tracks; placeTracks(); }
      else if (msg.type === "answer") await state.pubs[msg.slot || "main"]?.setRemoteDescription({ type: "answer", sdp: msg.sdp });
      else if (msg.type === "audio_only") $("#audio-only").setAttribute("aria-pressed", String(msg.on));
      else if (msg.type === "video_quality") document.querySelectorAll("#quality button").forEach((b) => b.setAttribute("aria-pressed", String(b.value === msg.preference)));
      else if (msg.type === "watching") state.watching = new Set(msg.user_ids);
      else if (msg.type === "media_closed") onMediaClosed(msg);
      else if (msg.type === "liveness") showChallenge(msg.challenge);
      else if (msg.type === "held") appendChat({ id: `held-${msg.event_id}`, kind: "held", user_id: state.you?.user_id,
        display_name: "系统 System", payload: { text: `${msg.message_zh}（${msg.text}）` } });
      else if (msg.type === "error") showError(msg.error);
    } catch (err) {
      console.error(err);
    }
  };
  ws.onclose = (e) => {
    if (e.code === 4403 || e.code === 4409) { status("无法进入直播间", "Cannot enter the room", "closed"); return; }
    status("连接已断开，正在重连…", "Disconnected, reconnecting…", "connecting");
    if (state.sub) { state.sub.close(); state.sub = null; }
    for (const slot of Object.keys(state.pubs)) { state.pubs[slot].close(); delete state.pubs[slot]; }  // streams kept
    // Back quickly after a network blip (media again within ~1 s), then back off.
    setTimeout(connect, state.retry);
    state.retry = Math.min(state.retry * 2, 5000);
  };
}

/** The SFU closed one of our connections (no ICE answer for a while): open it again. */
function onMediaClosed(msg) {
  if (!msg.slot) {  // downstream: the server sends a fresh offer by itself
    state.sub?.close();
    state.sub = null;
    return;
  }
  state.pubs[msg.slot]?.close();
  delete state.pubs[msg.slot];
  republish(msg.slot);
}

function main() {
  if (!getToken() && !spectate) { goLogin(); return; }
  if (!lessonId) { showError({ code: "LESSON_REQUIRED", message_zh: "缺少课次编号", message_en: "No lesson given" }); return; }
  $("#go-live").addEventListener("click", () => goLive().catch((err) => showError({
    code: "CAMERA", message_zh: "无法打开摄像头或麦克风，请在浏览器设置中允许访问", message_en: String(err) })));
  $("#end-live").addEventListener("click", () => {
    stopShare();
    unpublish("main");
    $("#stage-video").srcObject = null;
    $("#go-live").hidden = false; $("#end-live").hidden = true; $("#share-screen").hidden = true;
  });
  $("#share-screen").addEventListener("click", () => shareScreen().catch((err) => showError({
    code: "SCREEN", message_zh: "未能共享屏幕", message_en: String(err) })));
  $("#stop-share").addEventListener("click", stopShare);
  $("#raise-hand").addEventListener("click", () => send({ type: "hand_raise" }));
  $("#audio-only").addEventListener("click", () => {
    const on = $("#audio-only").getAttribute("aria-pressed") !== "true";
    send({ type: "audio_only", on });  // saves the phone's data: the SFU stops forwarding video
  });
  document.querySelectorAll("#quality button").forEach((b) => b.addEventListener("click", () => send({ type: "video_quality", preference: b.value })));
  $("#camera-retry").addEventListener("click", () => startCamera());
  $("#unmute").addEventListener("click", () => {
    state.muted = false;
    document.querySelectorAll("audio[data-remote]").forEach((a) => { a.muted = false; a.play().catch(() => {}); });
    $("#unmute").hidden = true;
  });
  $("#chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("#chat-input").value.trim();
    if (!text) return;
    if (state.privateTo) send({ type: "private", to: state.privateTo, text });
    else if (state.you?.room_role === "student" && $("#private-student input").checked) send({ type: "private", text });
    else send({ type: "chat", text });
    $("#chat-input").value = "";
  });
  document.addEventListener("visibilitychange", () => {
    if (state.you?.room_role === "student") send({ type: "page_visibility", visible: !document.hidden });
  });
  setupConsole(state, send);
  connect();
}

/** LIVE-4: a reminder from the assistant or lecturer, on top of the stage until tapped. */
function showReminder(p) {
  const box = $("#reminder");
  box.hidden = false;
  box.replaceChildren("🔔 ", p.text, h("small", { class: "en" }, ` ${p.text_en || ""}`));
  clearTimeout(state.reminderTimer);
  state.reminderTimer = setTimeout(() => { box.hidden = true; }, 15000);
}

main();

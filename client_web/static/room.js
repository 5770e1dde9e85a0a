// 启航 Qihang — the live room. The lecturer publishes camera + microphone; everyone else receives
// the SFU's offer and plays what it forwards. Room events (chat, hands, presence) arrive on the
// same WebSocket. No external URL of any kind (PLAT-2).
import { $, getToken, goLogin, h, query } from "/static/api.js";

const lessonId = Number(query("lesson"));
const state = { ws: null, you: null, pub: null, sub: null, local: null, muted: false, hands: new Map(), ice: [], retry: 300 };
window.qihangRoom = state; // for diagnostics and the browser tests
const sessionId = (() => {
  let id = sessionStorage.getItem("qihang.session");
  if (!id) { id = crypto.randomUUID(); sessionStorage.setItem("qihang.session", id); }
  return id;
})();

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

function send(msg) { state.ws.send(JSON.stringify(msg)); }

/** aiortc does not trickle: send a description once every candidate is in it. */
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", check); resolve(); } };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(resolve, 3000);
  });
}

async function goLive() {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 30 } }, audio: true });
  const video = $("#stage-video");
  video.srcObject = stream;
  await video.play().catch(() => {});
  await publish(stream);
  $("#go-live").hidden = true;
  $("#end-live").hidden = false;
}

/** A student with the floor publishes their microphone (LIVE-1 interaction). */
async function speak() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  await publish(stream);
}

async function publish(stream) {
  stopPublishing();
  const pc = new RTCPeerConnection({ iceServers: state.ice });
  state.pub = pc;
  state.local = stream;
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  send({ type: "publish", sdp: pc.localDescription.sdp });
}

function stopPublishing() {
  state.pub?.close();
  state.pub = null;
  state.local?.getTracks().forEach((t) => t.stop());
  state.local = null;
}

async function onOffer(sdp) {
  if (!state.sub) {
    const pc = new RTCPeerConnection({ iceServers: state.ice });
    state.sub = pc;
    pc.ontrack = (ev) => {
      if (ev.track.kind === "video") {
        const video = $("#stage-video");
        video.srcObject = new MediaStream([ev.track]);
        video.play().catch(() => {});
        return;
      }
      // Each voice (the lecturer, a student with the floor) plays in its own element. Autoplay
      // with sound needs a tap on iOS Safari and WeChat: start muted, offer the unmute button.
      const audio = h("audio", { autoplay: true, "data-remote": ev.track.id });
      audio.srcObject = new MediaStream([ev.track]);
      audio.muted = state.muted;
      document.body.append(audio);
      audio.play().catch(() => { audio.muted = true; state.muted = true; audio.play().catch(() => {}); });
      if (state.muted) $("#unmute").hidden = false;
    };
  }
  const pc = state.sub;
  await pc.setRemoteDescription({ type: "offer", sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  send({ type: "sdp_answer", sdp: pc.localDescription.sdp });
}

function renderOnline(list, count) {
  $("#online-count").textContent = String(count);
  $("#online-count").dataset.count = String(count);
  $("#online-list").replaceChildren(...list.map((o) => h("li", { "data-user": o.user_id, "data-role": o.room_role },
    o.display_name || `#${o.user_id}`, o.room_role === "lecturer" ? "（讲师）" : "", o.hidden ? "（监管旁听）" : "")));
}

function renderHands() {
  const box = $("#hands-box");
  box.hidden = state.you?.room_role !== "lecturer" || state.hands.size === 0;
  $("#hands-list").replaceChildren(...[...state.hands.values()].map(([id, name]) => h("li", { "data-user": id }, name,
    h("button", { class: "button small", "data-testid": "grant", onclick: () => send({ type: "floor_grant", user_id: id }) },
      "请发言 Give floor"))));
}

function onEvent(ev) {
  const name = ev.display_name || `#${ev.user_id}`;
  if (ev.kind === "chat" || ev.kind === "question" || ev.kind === "answer") {
    $("#chat-list").append(h("li", { "data-kind": ev.kind, "data-user": ev.user_id }, h("b", {}, name), "：", ev.payload.text));
    $("#chat-list").lastChild.scrollIntoView({ block: "end" });
  } else if (ev.kind === "hand_raise") {
    handsMap.set(ev.user_id, [ev.user_id, name]);
  } else if (ev.kind === "hand_lower") {
    handsMap.delete(ev.user_id);
  } else if (ev.kind === "floor_grant" && ev.payload.user_id === state.you?.user_id) {
    $("#chat-list").append(h("li", { "data-kind": "floor" }, "讲师请你发言，麦克风已打开 · You have the floor; your microphone is on"));
    handsMap.delete(ev.payload.user_id);
    speak().catch((err) => showError({ code: "MICROPHONE", message_zh: "无法打开麦克风，请在浏览器设置中允许访问", message_en: String(err) }));
  } else if (ev.kind === "floor_grant") {
    handsMap.delete(ev.payload.user_id);
  } else if (ev.kind === "floor_revoke" && ev.payload.user_id === state.you?.user_id) {
    stopPublishing();
    $("#chat-list").append(h("li", { "data-kind": "floor-end" }, "发言结束 · Your turn to speak has ended"));
  }
  state.hands = handsMap;
  renderHands();
}
const handsMap = new Map();

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/lessons/${lessonId}`);
  state.ws = ws;
  ws.onopen = () => send({ type: "join", token: getToken(), session_id: sessionId });
  ws.onmessage = async (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === "joined") {
      state.you = msg.you;
      state.ice = msg.ice_servers || [];
      state.retry = 300;  // the deployment's own STUN/TURN, time-limited credentials
      document.body.dataset.role = msg.you.room_role;
      status("直播间已连接", "Connected", "live");
      renderOnline(msg.online, msg.count);
      $("#lecturer-actions").hidden = msg.you.room_role !== "lecturer";
      $("#student-actions").hidden = msg.you.room_role !== "student";
    } else if (msg.type === "presence") renderOnline(msg.online, msg.count);
    else if (msg.type === "event") onEvent(msg.event);
    else if (msg.type === "offer") await onOffer(msg.sdp);
    else if (msg.type === "answer" && state.pub) await state.pub.setRemoteDescription({ type: "answer", sdp: msg.sdp });
    else if (msg.type === "audio_only") $("#audio-only").setAttribute("aria-pressed", String(msg.on));
    else if (msg.type === "error") showError(msg.error);
  };
  ws.onclose = (e) => {
    if (e.code === 4403 || e.code === 4409) { status("无法进入直播间", "Cannot enter the room", "closed"); return; }
    status("连接已断开，正在重连…", "Disconnected, reconnecting…", "connecting");
    if (state.sub) { state.sub.close(); state.sub = null; }
    // Back quickly after a network blip (media again within ~1 s), then back off.
    setTimeout(connect, state.retry);
    state.retry = Math.min(state.retry * 2, 5000);
  };
}

function main() {
  if (!getToken()) { goLogin(); return; }
  if (!lessonId) { showError({ code: "LESSON_REQUIRED", message_zh: "缺少课次编号", message_en: "No lesson given" }); return; }
  $("#go-live").addEventListener("click", () => goLive().catch((err) => showError({
    code: "CAMERA", message_zh: "无法打开摄像头或麦克风，请在浏览器设置中允许访问", message_en: String(err) })));
  $("#end-live").addEventListener("click", () => { stopPublishing(); $("#go-live").hidden = false; $("#end-live").hidden = true; });
  $("#raise-hand").addEventListener("click", () => send({ type: "hand_raise" }));
  $("#audio-only").addEventListener("click", () => {
    const on = $("#audio-only").getAttribute("aria-pressed") !== "true";
    send({ type: "audio_only", on });  // saves the phone's data: the SFU stops forwarding video
  });
  $("#unmute").addEventListener("click", () => {
    state.muted = false;
    document.querySelectorAll("audio[data-remote]").forEach((a) => { a.muted = false; a.play().catch(() => {}); });
    $("#unmute").hidden = true;
  });
  $("#chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("#chat-input").value.trim();
    if (text) { send({ type: "chat", text }); $("#chat-input").value = ""; }
  });
  document.addEventListener("visibilitychange", () => {
    if (state.ws?.readyState === 1 && state.you?.room_role === "student") send({ type: "page_visibility", visible: !document.hidden });
  });
  connect();
}

main();

// 启航 Qihang — the staff console of the live room: the class roster with who is online, whose
// attendance camera is on, how their network is, raised hands with grant/revoke of the floor
// (lecturer), and which student cameras to watch (lecturer, assistants, hidden supervisors).
import { $, h } from "/static/api.js";

const QUALITY = { good: ["良好", "good"], fair: ["一般", "fair"], poor: ["较差", "poor"], unknown: ["—", "—"] };
const MAX_WATCH = 30;

export function setupConsole(state, send) {
  $("#private-to").addEventListener("click", () => { state.privateTo = null; renderPrivateTo(state); });
  $("#roster-filter").addEventListener("input", () => renderConsole(state, send));
  // ATT-8: a hidden supervisor has a random ≥ 50 % of the class face-checked now.
  $("#roll-call").addEventListener("click", () => send({ type: "roll_call" }));
}

function floorButton(state, send, id) {
  if (state.you?.room_role !== "lecturer") return null;
  return state.floor.has(id)
    ? h("button", { class: "button small", "data-testid": "revoke", onclick: () => send({ type: "floor_revoke", user_id: id }) },
      "结束发言", h("small", { class: "en" }, "Revoke"))
    : h("button", { class: "button small", "data-testid": "grant", onclick: () => send({ type: "floor_grant", user_id: id }) },
      "请发言", h("small", { class: "en" }, "Give floor"));
}

function watchBox(state, send, id) {
  const box = h("input", { type: "checkbox", "data-testid": "watch", title: "查看画面 Watch camera" });
  box.checked = state.watching.has(id);
  box.addEventListener("change", () => {
    const next = new Set(state.watching);
    if (box.checked) next.add(id); else next.delete(id);
    if (next.size > MAX_WATCH) { box.checked = false; return; }
    state.watching = next;
    send({ type: "watch", user_ids: [...next] });
  });
  return h("label", { class: "watch" }, box, "看");
}

export function renderConsole(state, send) {
  const role = state.you?.room_role;
  renderHands(state, send);
  $("#roll-call").hidden = role !== "spectator";
  if (!["lecturer", "assistant", "spectator"].includes(role)) return;
  const online = new Set(state.online.map((o) => o.user_id));
  const filter = $("#roster-filter").value.trim();
  const rows = state.roster.filter((r) => !filter || r.display_name.includes(filter));
  $("#roster-summary").replaceChildren(
    `在线 ${state.roster.filter((r) => online.has(r.user_id)).length} / ${state.roster.length} 人 · 摄像头 ${state.cameras.size}`,
    h("small", { class: "en" }, ` online / roster · cameras on`));
  $("#roster-body").replaceChildren(...rows.map((r) => {
    const id = r.user_id;
    const q = state.quality.get(id) || "unknown";
    return h("tr", { "data-user": id, "data-online": String(online.has(id)), "data-camera": String(state.cameras.has(id)) },
      h("td", {}, r.display_name, role === "assistant" && r.assistant_id === state.you.user_id ? h("small", {}, "（本组）") : ""),
      h("td", { class: "dot" }, online.has(id) ? "● 在线" : "○ 离线"),
      h("td", {}, state.cameras.has(id) ? "📷" : "—"),
      faceCell(state.faces.get(id), state.liveness.get(id)),
      h("td", { "data-quality": q, "data-visible": String(state.visible.get(id) !== false) }, QUALITY[q][0],
        state.visible.get(id) === false ? h("small", { title: "学员切到了其他页面 The student left the page" }, " · 离开页面") : ""),
      h("td", {}, state.hands.has(id) ? "✋" : "", state.floor.has(id) ? "🎤" : ""),
      h("td", { class: "actions" }, floorButton(state, send, id) || "", livenessButton(state, send, id),
        serviceButtons(state, send, r), watchBox(state, send, id)));
  }));
}

// ATT-1: the latest face check of each student, as the staff see it live.
const FACE = {
  match: ["✔ 本人", "the registered student"], mismatch: ["⚠ 非本人", "another person"],
  several: ["⚠ 多人", "several faces"], absent: ["✖ 无人", "nobody in front of the camera"],
  poor_quality: ["◐ 不清晰", "face not clear enough"], no_template: ["? 未采集", "no enrolled photo"],
  no_sample: ["… 无画面", "no picture from the camera"], undecodable: ["… 无画面", "no picture from the camera"],
};

function faceCell(face, live) {
  if (!face) return h("td", { "data-face": "none" }, "—");
  const [zh, en] = FACE[face.verdict] || [face.verdict, face.verdict];
  const at = face.at ? new Date(face.at).toLocaleTimeString("zh-CN", { hour12: false }) : "";
  const attrs = { "data-face": face.verdict, title: `${en} · ${at}` };
  if (live) attrs["data-live"] = String(live.passed);
  return h("td", attrs, zh, h("small", {}, ` ${at}`),
    live ? h("small", { "data-testid": "live", title: live.reasons.join("；") }, live.passed ? " · 活体✔" : " · 活体✖") : "");
}

// ATT-1: have one student take a liveness challenge now (their camera must be on).
function livenessButton(state, send, id) {
  if (!state.cameras.has(id)) return "";
  return h("button", { class: "button small", "data-testid": "liveness-check", title: "活体检测 Liveness check",
    onclick: () => send({ type: "liveness_check", user_id: id }) }, "活体");
}

function renderHands(state, send) {
  const box = $("#hands-box");
  box.hidden = state.you?.room_role !== "lecturer" || state.hands.size === 0;
  const names = new Map(state.roster.map((r) => [r.user_id, r.display_name]));
  $("#hands-list").replaceChildren(...[...state.hands.values()].map(([id, name]) => h("li", { "data-user": id },
    names.get(id) || name, floorButton(state, send, id) || "")));
}

// LIVE-4: the assistant (their own group) and the lecturer (anyone) write privately and nudge.
function mayServe(state, r) {
  const you = state.you || {};
  return you.room_role === "lecturer" || (you.room_role === "assistant" && r.assistant_id === you.user_id);
}

function serviceButtons(state, send, r) {
  if (!mayServe(state, r)) return "";
  return h("span", { class: "service" },
    h("button", { class: "button small", "data-testid": "private", title: "私信 Private message",
      onclick: () => { state.privateTo = r.user_id; renderPrivateTo(state); document.querySelector("#chat-input").focus(); } }, "私信"),
    h("button", { class: "button small", "data-testid": "remind", title: "提醒正对摄像头 Remind: face the camera",
      onclick: () => send({ type: "remind", user_id: r.user_id, preset: "face_camera" }) }, "提醒"));
}

export function renderPrivateTo(state) {
  const chip = $("#private-to");
  chip.hidden = !state.privateTo;
  const name = state.roster.find((r) => r.user_id === state.privateTo)?.display_name || `#${state.privateTo}`;
  if (state.privateTo) chip.replaceChildren(`🔒 私信 ${name} ✕`);
}

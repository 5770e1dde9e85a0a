// 启航 Qihang — a live lesson's replay (CLS-8): the recording's segments played end to end on one
// lesson timeline, the screen share beside the camera when the segment has one, the chat and Q&A
// beside (the messages near the playhead lit, a tap seeks there). Two camera <video>s take turns so
// the next segment is already loaded when the current one ends. A student's page reports the ranges
// watched every ~15 s and on pause or leaving (make-up study). No external URL of any kind (PLAT-2).
import { $, api, getToken, h, query, requireLogin, showError } from "/static/api.js";

const lessonId = Number(query("lesson"));
const spotItem = Number(query("spotcheck")) || null;  // SUP-5: a supervisor watching a spot-checked lesson
const KIND = { chat: ["聊天", "chat"], question: ["提问", "question"], answer: ["解答", "answer"] };
const NEAR_S = 8;  // messages this close to the playhead are lit
const state = {
  info: null, segs: [], total: 0, idx: -1, active: null, spare: null, spareIdx: -1, playing: false, dragging: false,
  open: null, closed: [], lastPos: null, reports: 0, watched: 0, current: null, session: randomId(),
};
window.qihangReplay = state; // for diagnostics and the browser tests
const screen = () => $("#screen");

function randomId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const en = (text) => h("small", { class: "en" }, text);
const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));
function clock(s) {
  s = Math.max(0, Math.floor(s || 0));
  const hh = Math.floor(s / 3600), mm = String(Math.floor(s / 60) % 60).padStart(2, "0"), ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

// ---------------------------------------------------------------- the lesson timeline

/** Where the playhead is, in seconds of the lesson's recording. */
function pos() {
  const seg = state.segs[state.idx];
  if (!seg || !state.active) return 0;
  return seg.offset_s + clamp(state.active.currentTime || 0, 0, seg.duration_s);
}
state.position = pos;

function segAt(t) {
  let i = 0;
  while (i + 1 < state.segs.length && t >= state.segs[i + 1].offset_s) i += 1;
  return i;
}

const mainUrl = (seg) => (seg.main || seg.screen).url;  // a segment with only a screen share plays it in the main box
const sideUrl = (seg) => (seg.main && seg.screen ? seg.screen.url : null);

function at(el, t) {  // currentTime once the element knows its length
  if (el.readyState >= 1) el.currentTime = t;
  else el.addEventListener("loadedmetadata", () => { el.currentTime = t; }, { once: true });
}

/** Show segment ``i`` from ``off`` seconds into it: the preloaded element if it holds it. */
function show(i, off, play) {
  const seg = state.segs[i];
  const old = state.active;
  let el = old;
  if (state.spareIdx === i && state.spare) {
    el = state.spare;
    state.spare = old;
  } else {
    el.src = mainUrl(seg);
  }
  state.active = el;
  state.idx = i;
  state.spareIdx = -1;
  if (old !== el) {
    old.pause();
    old.hidden = true;
    old.setAttribute("aria-hidden", "true");
  }
  el.hidden = false;
  el.removeAttribute("aria-hidden");
  at(el, off);
  const side = sideUrl(seg);
  $("#screen-box").hidden = !side;
  if (side) {
    if (screen().dataset.src !== side) {
      screen().src = side;
      screen().dataset.src = side;
    }
    at(screen(), off);
  } else if (screen().dataset.src) {
    screen().pause();
    screen().removeAttribute("src");
    delete screen().dataset.src;
    screen().load();
  }
  if (play) start();
  preload(i + 1);
  renderSegments();
}

function preload(j) {
  const seg = state.segs[j];
  if (!seg || state.spareIdx === j) return;
  state.spare.preload = "auto";
  state.spare.src = mainUrl(seg);
  state.spare.load();
  state.spareIdx = j;
}

/** Seek the lesson timeline: the segment that holds ``t`` and the offset into it. */
function seek(t, play = state.playing) {
  t = clamp(t, 0, Math.max(0, state.total - 0.05));
  track();
  breakRange();
  const i = segAt(t);
  const off = t - state.segs[i].offset_s;
  if (i === state.idx) {
    state.active.currentTime = off;
    if (sideUrl(state.segs[i])) screen().currentTime = off;
    if (play && !state.playing) start();
  } else {
    show(i, off, play);
  }
  update();
}
state.seek = seek;

function start() {
  if (!state.playing) {  // the tap on play: watching starts here (a segment change keeps the range going)
    breakRange();
    state.open = [pos(), pos()];
    state.lastPos = pos();
  }
  state.playing = true;
  state.active.play().catch(() => {});
  if (!$("#screen-box").hidden) screen().play().catch(() => {});
  renderButton();
}

function stop(reason = "pause") {
  track();
  state.playing = false;
  state.active.pause();
  screen().pause();
  renderButton();
  breakRange();
  report(reason);
}

function renderButton() {
  $("#play").replaceChildren(state.playing ? "❚❚" : "▶", en(state.playing ? "Pause" : "Play"));
  $("#play").setAttribute("aria-label", state.playing ? "暂停 Pause" : "播放 Play");
}

function onEnded(ev) {
  if (ev.target !== state.active) return;
  if (state.idx + 1 < state.segs.length) {
    show(state.idx + 1, 0, state.playing);
  } else {
    stop("ended");
  }
}

// ---------------------------------------------------------------- each tick

function update() {
  const p = pos();
  if (!state.dragging) $("#seek").value = String(p);
  $("#time").textContent = `${clock(p)} / ${clock(state.total)}`;
  highlight(p);
}

function onTime(ev) {
  if (ev.target !== state.active) return;
  track();
  update();
  const side = screen();
  if (!$("#screen-box").hidden && side.readyState >= 1) {  // the screen share follows the camera
    if (Math.abs(side.currentTime - state.active.currentTime) > 0.35) side.currentTime = state.active.currentTime;
    if (state.playing && side.paused && !side.ended) side.play().catch(() => {});
  }
}

// ---------------------------------------------------------------- watched ranges (students)

/** Extend the range being watched while the playhead moves on (across a segment's end too); a
 * jump starts a new one. A stalled video does not move the playhead, so it earns nothing. */
function track() {
  if (!state.playing) {
    state.lastPos = null;
    return;
  }
  const p = pos();
  if (state.open && state.lastPos !== null && p >= state.lastPos - 0.05 && p - state.lastPos < 3) state.open[1] = p;
  else {
    breakRange();
    state.open = [p, p];
  }
  state.lastPos = p;
}

function breakRange() {
  if (state.open && state.open[1] - state.open[0] >= 0.5) state.closed.push(state.open);
  state.open = null;
  state.lastPos = null;
}

/** Where the watched ranges go: a student's make-up (CLS-8), or a supervisor's spot check (SUP-5). */
function reportsTo() {
  if (!state.info) return null;
  if (state.info.progress.report) return `/api/lessons/${lessonId}/replay/progress`;
  return spotItem ? `/api/spot-checks/items/${spotItem}/watched` : null;
}

function report(reason, leaving = false) {
  const path = reportsTo();
  if (!path) return;
  const ranges = state.closed.splice(0);
  if (state.open && state.open[1] - state.open[0] >= 0.5) {
    ranges.push([state.open[0], state.open[1]]);
    state.open = [state.open[1], state.open[1]];
  }
  if (!ranges.length) return;
  const body = { ranges: ranges.slice(-state.info.progress.max_ranges).map(([a, b]) => [+a.toFixed(3), +Math.min(b, state.total).toFixed(3)]) };
  if (state.info.progress.report) Object.assign(body, { reason, session_id: state.session });
  if (leaving) {  // the page is going away: a request that outlives it
    fetch(path, { method: "POST", keepalive: true, body: JSON.stringify(body),
                  headers: { "Content-Type": "application/json", Authorization: `Bearer ${getToken()}` } }).catch(() => {});
    return;
  }
  api(path, { method: "POST", json: body }).then((r) => {
    state.reports += 1;
    state.watched = r.watched_seconds;
    renderWatched();
  }).catch((err) => {
    if (!err.status) state.closed.unshift(...ranges);  // offline for a moment: send them with the next report
    else showError($("#page-error"), err);
  });
}

function renderWatched() {
  const box = $("#watched");
  if (!reportsTo()) return;
  box.hidden = false;
  if (!state.info.progress.report) {
    box.replaceChildren(`抽查已观看 ${clock(state.watched)}`, en(`Spot check: ${clock(state.watched)} watched (SUP-5)`));
    return;
  }
  const counts = state.info.replay_counts_as_study;
  box.replaceChildren(`已观看 ${clock(state.watched)}（${counts ? "计入补课学时" : "本地区不计入学时"}）`,
    en(`Watched ${clock(state.watched)} (${counts ? "counts as make-up study" : "does not count as study here"}, CLS-8)`));
}

// ---------------------------------------------------------------- chat and Q&A

function renderChat() {
  const msgs = state.info.messages;
  $("#chat-empty").hidden = msgs.length > 0;
  $("#chat").replaceChildren(...msgs.map((m) => {
    const [zh, enKind] = KIND[m.kind] || [m.kind, m.kind];
    const li = h("li", { class: `msg msg-${m.kind}`, "data-testid": "message", "data-id": m.id, "data-kind": m.kind,
      "data-position": m.position_s, tabindex: 0, role: "button", title: "跳到此处 Seek here" },
      h("span", { class: "msg-time" }, clock(m.position_s)), h("span", { class: "msg-kind" }, zh, " ", enKind),
      h("strong", {}, m.display_name || "—"), h("span", { class: "msg-text" }, m.text));
    const go = () => seek(Math.max(0, m.position_s - 1), true);
    li.addEventListener("click", go);
    li.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); go(); } });
    return li;
  }));
}

function highlight(p) {
  const items = $("#chat").children;
  let current = null;
  for (const li of items) {
    const t = Number(li.dataset.position);
    li.classList.toggle("near", Math.abs(t - p) <= NEAR_S);
    if (t <= p + 0.5) current = li;
  }
  if (current !== state.current) {
    state.current?.classList.remove("current");
    current?.classList.add("current");
    state.current = current;
    const list = $("#chat");
    if (current && list.scrollHeight > list.clientHeight) list.scrollTop = current.offsetTop - list.offsetTop - list.clientHeight / 3;
  }
}

function renderSegments() {
  $("#segbar").replaceChildren(...state.segs.map((s, i) => h("span", { style: `flex-grow:${s.duration_s}`,
    "data-screen": String(!!s.screen), class: i === state.idx ? "current" : "" })));
  const seg = state.segs[state.idx];
  if (!seg) return;
  const share = seg.screen ? "，含屏幕共享" : "";
  $("#seg-line").replaceChildren(`第 ${state.idx + 1}/${state.segs.length} 段${share}`,
    en(`Segment ${state.idx + 1} of ${state.segs.length}${seg.screen ? ", with the screen share" : ""}`));
}

// ---------------------------------------------------------------- start

async function mediaError(ev) {  // a segment that cannot play: the server's reason, in words
  const el = ev.target;
  if (!el.src || (el !== state.active && el !== screen())) return;
  try {
    const r = await fetch(el.src, { headers: { Range: "bytes=0-0" } });
    if (!r.ok) showError($("#page-error"), (await r.json()).error);
  } catch { /* the network: the element retries */ }
}

async function main() {
  await requireLogin();
  if (!lessonId) throw { code: "NO_LESSON", message_zh: "地址缺少课次编号（?lesson=）", message_en: "The address lacks ?lesson=ID" };
  const info = await api(`/api/lessons/${lessonId}/replay`);
  Object.assign(state, { info, segs: info.segments, total: info.duration_s, watched: info.watched_seconds || 0 });
  document.title = `${info.lesson.title} · 回放 · 启航 Qihang`;
  $("#lesson-title").replaceChildren(info.lesson.title, en(`Replay · ${info.class.name}`));
  $("#class-line").replaceChildren(`${info.class.name} · 录像 ${clock(info.duration_s)}`,
    en(`Recording ${clock(info.duration_s)} · positions in the recorded lesson`));
  const download = $("#download");
  download.href = info.download.url;
  download.hidden = false;
  $("#seek").max = String(info.duration_s);
  const [a, b] = [$("#main-a"), $("#main-b")];
  state.active = a;
  state.spare = b;
  for (const el of [a, b]) {
    el.addEventListener("timeupdate", onTime);
    el.addEventListener("ended", onEnded);
    el.addEventListener("error", mediaError);
  }
  screen().addEventListener("error", mediaError);
  $("#play").addEventListener("click", () => (state.playing ? stop("pause") : start()));
  $("#seek").addEventListener("input", () => {
    state.dragging = true;
    $("#time").textContent = `${clock(Number($("#seek").value))} / ${clock(state.total)}`;
  });
  $("#seek").addEventListener("change", () => {
    state.dragging = false;
    seek(Number($("#seek").value));
  });
  $("#player").hidden = false;
  renderChat();
  if (info.progress.report) renderWatched();
  show(0, 0, false);
  update();
  if (reportsTo()) {
    setInterval(() => report("tick"), info.progress.every_s * 1000);
    window.addEventListener("pagehide", () => { breakRange(); report("leave", true); });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") { breakRange(); report("leave", true); }
    });
  }
}

main().catch((err) => showError($("#page-error"), err));

// 启航 Qihang — the timed final exam on the student's phone (EXAM-1). Every answer change is saved at
// once (short text after a pause in typing). A save that cannot reach the server waits in a queue in
// localStorage, keyed by the attempt, and is retried with backoff, on the `online` event and
// periodically; a reload restores it. The countdown runs from the server's remaining seconds, never
// from the phone's wall clock. Submitting flushes the queue first and is refused while answers are
// unsynced. No external URL of any kind (PLAT-2).
import { $, api, fmtTime, getToken, getUser, goLogin, h, hideBox, query, requireLogin, showError } from "/static/api.js";

const RETRY_MS = [1000, 2000, 4000, 8000, 15000];  // backoff after a failed save; the last repeats
const PERIODIC_MS = 20000;  // a safety net when no event arrives
const TEXT_PAUSE_MS = 800;  // short answers: save after this pause in typing
const WARN_SECONDS = 300;
const KIND = {
  single: ["单选题", "Single choice"], multiple: ["多选题", "Multiple choice"],
  truefalse: ["判断题", "True / false"], short: ["简答题", "Short answer"],
};
const SAVE = {
  idle: ["未作答", "Not answered"], saved: ["已保存", "Saved"], saving: ["保存中", "Saving"],
  pending: ["未同步", "Pending"], refused: ["未能保存", "Not saved"],
};

const state = {
  user: null, phase: "loading", attempt: null, fromCache: false,
  responses: {}, queue: {}, seq: 0, inflight: null, refused: {},
  reachable: true, flushing: null, retryIndex: 0, retryTimer: null, periodic: null, textTimers: {},
  endsAt: 0, ticker: null, refreshTimer: null, closing: false,
};
window.qihangExam = state;  // for diagnostics and the browser tests

const en = (text) => h("small", { class: "en" }, text);
const bi = ([zh, e]) => [zh, en(e)];
const errBox = () => $("#page-error");

// ---------------------------------------------------------------- local storage (per attempt)

const storeKey = (id, what) => `qihang.exam.${id}.${what}`;

function readLocal(id, what) {
  try { return JSON.parse(localStorage.getItem(storeKey(id, what)) || "null"); } catch { return null; }
}

function writeLocal(id, what, value) {
  try { localStorage.setItem(storeKey(id, what), JSON.stringify(value)); } catch { /* full or disabled */ }
}

function dropLocal(id) {
  for (const what of ["queue", "attempt"]) {
    try { localStorage.removeItem(storeKey(id, what)); } catch { /* nothing to drop */ }
  }
}

function persistQueue() {
  writeLocal(state.attempt.id, "queue", { seq: state.seq, items: state.queue });
}

/** The attempt as last confirmed by the server, with the remaining seconds and when they were read. */
function persistAttempt(remaining) {
  const a = state.attempt;
  const prev = readLocal(a.id, "attempt");
  const left = remaining ?? (prev ? cachedRemaining(prev) : a.remaining_seconds);
  writeLocal(a.id, "attempt", { attempt: a, remaining: left, at: Date.now() });
}

/** Seconds left by the server's count when cached, less the time elapsed since (no clock offset). */
function cachedRemaining(cached) {
  return Math.max(0, cached.remaining - Math.max(0, (Date.now() - cached.at) / 1000));
}

// ---------------------------------------------------------------- answers

const isAnswered = (r) => r !== null && r !== undefined && !(Array.isArray(r) && !r.length)
  && !(typeof r === "string" && !r.trim());
const questionEl = (qid) => document.querySelector(`.question[data-qid="${qid}"]`);
const questionOf = (qid) => state.attempt.questions.find((q) => q.id === qid);

function readResponse(q) {
  const el = questionEl(q.id);
  if (q.kind === "short") return el.querySelector("textarea").value;
  const checked = [...el.querySelectorAll("input:checked")].map((i) => i.value);
  if (q.kind === "multiple") return checked.length ? checked.sort() : null;
  if (q.kind === "truefalse") return checked.length ? checked[0] === "true" : null;
  return checked[0] ?? null;
}

function applyResponse(q, r) {
  const el = questionEl(q.id);
  if (q.kind === "short") {
    el.querySelector("textarea").value = r ?? "";
    countChars(q);
    return;
  }
  const picked = q.kind === "multiple" ? (r || []) : r === null || r === undefined ? [] : [String(r)];
  el.querySelectorAll("input").forEach((i) => { i.checked = picked.includes(i.value); });
  el.querySelectorAll("label.choice").forEach((l) => l.classList.toggle("on", l.querySelector("input").checked));
}

function countChars(q) {
  const el = questionEl(q.id);
  el.querySelector(".chars").textContent = `${el.querySelector("textarea").value.length} / 5000`;
}

/** A change by the student: keep it locally first, then send it (text after a pause). */
function changed(q, { typing = false } = {}) {
  if (state.phase !== "exam" || state.closing) return;
  const r = readResponse(q);
  state.responses[q.id] = r;
  state.seq += 1;
  state.queue[q.id] = { response: r, seq: state.seq };
  delete state.refused[q.id];
  persistQueue();
  paint(q.id);
  clearTimeout(state.textTimers[q.id]);
  if (typing) state.textTimers[q.id] = setTimeout(flush, TEXT_PAUSE_MS);
  else flush();
}

// ---------------------------------------------------------------- the save queue

const pendingCount = () => Object.keys(state.queue).length;

/** Send every queued answer, oldest change first; stops at the first network failure. */
function flush() {
  if (state.flushing) return state.flushing;
  if (state.phase !== "exam" || !pendingCount()) return Promise.resolve();
  clearTimeout(state.retryTimer);
  state.flushing = (async () => {
    try {
      for (;;) {
        if (state.phase !== "exam") break;
        const next = Object.entries(state.queue).sort((a, b) => a[1].seq - b[1].seq)[0];
        if (!next) break;
        const qid = Number(next[0]);
        const item = next[1];
        state.inflight = qid;
        paint(qid);
        let res;
        try {
          res = await api(`/api/exam-attempts/${state.attempt.id}/answers/${qid}`,
                          { method: "PUT", json: { response: item.response } });
        } catch (err) {
          state.inflight = null;
          paint(qid);
          if (err.status === 0 || err.status === 408 || err.status === 429 || err.status >= 500) {
            setReachable(false);
            scheduleRetry();
            break;
          }
          if (err.status === 409) {  // the deadline passed or the paper is submitted: the server decides
            await refresh();
            break;
          }
          delete state.queue[qid];  // refused as it is (should not happen): show it, let the others go
          state.refused[qid] = err;
          persistQueue();
          paint(qid);
          showError(errBox(), err);
          continue;
        }
        state.inflight = null;
        state.retryIndex = 0;
        if (state.queue[qid] && state.queue[qid].seq === item.seq) delete state.queue[qid];
        persistQueue();
        const q = questionOf(qid);
        if (q) q.response = res.response;
        syncClock(res.remaining_seconds);
        persistAttempt(res.remaining_seconds);
        setReachable(true);
        paint(qid);
      }
    } finally {
      state.flushing = null;
      paintTotals();
    }
  })();
  return state.flushing;
}

function scheduleRetry() {
  clearTimeout(state.retryTimer);
  const wait = RETRY_MS[Math.min(state.retryIndex, RETRY_MS.length - 1)];
  state.retryIndex += 1;
  state.retryTimer = setTimeout(() => { flush(); if (state.fromCache) refresh(); }, wait);
}

function setReachable(ok) {
  state.reachable = ok;
  if (ok && state.fromCache) refresh();  // back in touch after an offline reload: re-read the clock
  paintTotals();
}

function backOnline() {
  state.retryIndex = 0;
  if (state.phase === "exam") {
    flush();
    if (state.fromCache) refresh();
  } else if (state.phase === "expired") {
    refresh();
  }
  paintTotals();
}

// ---------------------------------------------------------------- painting

function paint(qid) {
  const el = questionEl(qid);
  if (!el) return;
  const s = state.refused[qid] ? "refused" : state.inflight === qid ? "saving"
    : state.queue[qid] ? "pending" : isAnswered(state.responses[qid]) ? "saved" : "idle";
  el.dataset.save = s;
  el.dataset.answered = String(isAnswered(state.responses[qid]));
  const badge = el.querySelector(".save-state");
  badge.dataset.state = s;
  badge.replaceChildren(...bi(SAVE[s]));
  paintTotals();
}

function paintTotals() {
  const pending = pendingCount();
  const offline = !navigator.onLine || !state.reachable;
  const banner = $("#net-banner");
  const showBanner = state.phase === "exam" || state.phase === "expired" ? offline : false;
  banner.dataset.state = showBanner ? "offline" : "online";
  banner.dataset.pending = String(pending);
  banner.hidden = !showBanner;
  if (showBanner) {
    banner.replaceChildren(
      h("strong", {}, "网络已断开", en("You are offline")),
      h("span", {}, pending ? `${pending} 个答案暂存在本手机，恢复网络后自动上传，请勿清除浏览器数据。`
        : "已作答的答案都已保存。恢复网络后可继续保存新答案。",
        en(pending ? `${pending} answer(s) wait on this phone and upload when you are back online; do not clear the browser's data.`
          : "Every answer so far is saved. New answers upload when you are back online.")));
  }
  const exam = $("#exam");
  exam.dataset.pending = String(pending + (state.inflight && !state.queue[state.inflight] ? 1 : 0));
  if (!state.attempt || state.phase !== "exam") return;
  const qs = state.attempt.questions;
  const answered = qs.filter((q) => isAnswered(state.responses[q.id])).length;
  const progress = $("#progress");
  progress.dataset.answered = String(answered);
  progress.replaceChildren(`已答 ${answered}/${qs.length}`, pending ? ` · 未同步 ${pending}` : "",
                           en(`${answered} of ${qs.length} answered${pending ? ` · ${pending} pending` : ""}`));
}

function choice(q, type, value, letter, text) {
  const input = h("input", { type, name: `q${q.id}`, value });
  const label = h("label", { class: "choice", "data-value": value, "data-testid": "choice" },
                  input, h("span", { class: "letter" }, letter), h("span", { class: "text" }, text));
  input.addEventListener("change", () => {
    label.parentElement.querySelectorAll("label.choice").forEach((l) => l.classList.toggle("on", l.querySelector("input").checked));
    changed(q);
  });
  return label;
}

function questionNode(q) {
  let body;
  if (q.kind === "short") {
    const area = h("textarea", { rows: "5", maxlength: "5000", "data-testid": "short-answer",
                                 placeholder: "请在此作答 · Write your answer here" });
    area.addEventListener("input", () => { countChars(q); changed(q, { typing: true }); });
    area.addEventListener("blur", () => { if (state.queue[q.id]) flush(); });
    body = h("div", { class: "short" }, area, h("div", { class: "chars" }, "0 / 5000"));
  } else if (q.kind === "truefalse") {
    body = h("div", { class: "choices two" }, choice(q, "radio", "true", "√", "正确 True"),
             choice(q, "radio", "false", "×", "错误 False"));
  } else {
    const type = q.kind === "multiple" ? "checkbox" : "radio";
    body = h("div", { class: "choices" }, ...q.options.map((o) => choice(q, type, o.label, o.label, o.text)));
  }
  return h("li", { class: "question", id: `q-${q.id}`, "data-qid": q.id, "data-kind": q.kind, "data-testid": "question" },
    h("div", { class: "q-head" },
      h("span", { class: "q-no" }, `第 ${q.no} 题`),
      h("span", { class: "q-kind" }, ...bi(KIND[q.kind])),
      h("span", { class: "q-points" }, `${q.points} 分`),
      h("span", { class: "save-state", "data-testid": "save-state", "data-state": "idle", "aria-live": "polite" })),
    h("p", { class: "q-stem" }, q.stem),
    q.kind === "multiple" ? h("p", { class: "q-hint" }, "可选多项", en("Choose all that apply")) : null,
    body);
}

function show(section) {
  for (const id of ["papers", "exam", "result"]) $(`#${id}`).hidden = id !== section;
  $("#loading").hidden = true;
  $("#exam-bar").hidden = section !== "exam";
}

// ---------------------------------------------------------------- the countdown (server time)

function syncClock(remaining) {
  if (remaining === undefined || remaining === null) return;
  const ends = performance.now() + remaining * 1000;
  // the server rounds down to whole seconds: follow it only when it differs by more than that
  if (!state.endsAt || Math.abs(ends - state.endsAt) > 2000) state.endsAt = ends;
}

function tick() {
  if (state.phase !== "exam") return;
  const left = Math.max(0, Math.ceil((state.endsAt - performance.now()) / 1000));
  const hh = Math.floor(left / 3600), mm = Math.floor((left % 3600) / 60), ss = left % 60;
  const two = (n) => String(n).padStart(2, "0");
  $("#clock").textContent = hh ? `${hh}:${two(mm)}:${two(ss)}` : `${two(mm)}:${two(ss)}`;
  const timer = $("#timer");
  timer.dataset.left = String(left);
  timer.dataset.state = left === 0 ? "over" : left <= WARN_SECONDS ? "warning" : "running";
  if (left === 0 && !state.closing) timeUp();
}

/** The deadline passed: the server submits by itself; send what is left, then ask for the outcome. */
async function timeUp() {
  state.closing = true;
  document.querySelectorAll("#questions input, #questions textarea, #submit").forEach((n) => { n.disabled = true; });
  const box = $("#submit-error");
  box.hidden = false;
  box.className = "notice-box warn";
  box.dataset.code = "TIME_UP";
  box.replaceChildren(h("p", { class: "zh" }, "考试时间到，系统正在按截止时间自动交卷…"),
                      h("p", { class: "en" }, "Time is up: the system submits your exam at the deadline…"));
  await flush();  // the server still takes answers until its own deadline
  if (state.phase !== "exam") return;
  state.phase = "expired";
  await refresh();
}

// ---------------------------------------------------------------- attempts

/** Re-read the attempt from the server: resync the clock, or show the result once it is submitted. */
async function refresh() {
  clearTimeout(state.refreshTimer);
  let a;
  try {
    a = await api(`/api/exam-attempts/${state.attempt.id}`);
  } catch (err) {
    if (err.status === 0 || err.status >= 500) {
      state.reachable = false;
      paintTotals();
      if (state.phase === "expired") state.refreshTimer = setTimeout(refresh, 5000);
      return;
    }
    showError(errBox(), err);
    return;
  }
  state.reachable = true;
  if (a.status !== "in_progress") {
    finish(a);
    return;
  }
  if (a.remaining_seconds === 0) {  // a moment before the server's deadline: ask again shortly
    state.refreshTimer = setTimeout(refresh, 1500);
    return;
  }
  state.fromCache = false;
  state.endsAt = 0;
  syncClock(a.remaining_seconds);
  for (const q of a.questions) {  // answers saved elsewhere (another tab) where nothing waits here
    const mine = state.attempt.questions.find((x) => x.id === q.id);
    if (mine && !state.queue[q.id] && JSON.stringify(q.response) !== JSON.stringify(state.responses[q.id])) {
      state.responses[q.id] = q.response;
      mine.response = q.response;
      applyResponse(mine, q.response);
      paint(q.id);
    }
  }
  if (state.phase === "expired") {
    state.phase = "exam";
    state.closing = false;
    document.querySelectorAll("#questions input, #questions textarea, #submit").forEach((n) => { n.disabled = false; });
    hideBox($("#submit-error"));
  }
  persistAttempt(a.remaining_seconds);
  paintTotals();
}

function enter(a, { fromCache = false, remaining } = {}) {
  state.attempt = a;
  state.fromCache = fromCache;
  state.closing = false;
  history.replaceState(null, "", `/exam?attempt=${a.id}`);
  const saved = readLocal(a.id, "queue");
  state.queue = (saved && saved.items) || {};
  state.seq = (saved && saved.seq) || 0;
  if (a.status !== "in_progress") {
    finish(a);
    return;
  }
  $("#exam-title").replaceChildren(a.title, en("Final exam"));
  $("#questions").replaceChildren(...a.questions.map(questionNode));
  state.phase = "exam";
  for (const q of a.questions) {
    const waiting = state.queue[q.id];
    state.responses[q.id] = waiting ? waiting.response : q.response;
    applyResponse(q, state.responses[q.id]);
    paint(q.id);
  }
  show("exam");
  state.endsAt = 0;
  syncClock(fromCache ? remaining : a.remaining_seconds);
  if (!fromCache) persistAttempt(a.remaining_seconds);
  clearInterval(state.ticker);
  state.ticker = setInterval(tick, 500);
  clearInterval(state.periodic);
  state.periodic = setInterval(() => { if (pendingCount()) flush(); else if (state.fromCache) refresh(); }, PERIODIC_MS);
  tick();
  paintTotals();
  if (fromCache) scheduleRetry();
  flush();
}

async function openAttempt(id) {
  let a;
  try {
    a = await api(`/api/exam-attempts/${id}`);
  } catch (err) {
    const cached = readLocal(id, "attempt");
    if (err.status === 0 && cached) {  // reloaded without a connection: the copy kept on this phone
      state.reachable = false;
      enter(cached.attempt, { fromCache: true, remaining: cachedRemaining(cached) });
      return;
    }
    $("#loading").hidden = true;
    showError(errBox(), err);
    return;
  }
  enter(a);
}

async function start(paper, button) {
  button.disabled = true;
  try {
    enter(await api(`/api/exam-papers/${paper.id}/attempts`, { method: "POST", json: {} }));
  } catch (err) {
    showError(errBox(), err);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- submitting and the result

function openConfirm() {
  if (state.phase !== "exam" || state.closing) return;
  const qs = state.attempt.questions;
  const answered = qs.filter((q) => isAnswered(state.responses[q.id])).length;
  const pending = pendingCount();
  $("#confirm-text").replaceChildren(
    `已答 ${answered} 题，未答 ${qs.length - answered} 题。`, pending ? `还有 ${pending} 个答案未同步，将先上传。` : "",
    en(`${answered} answered, ${qs.length - answered} blank.${pending ? ` ${pending} answer(s) will upload first.` : ""}`));
  $("#confirm").hidden = false;
  $("#confirm-ok").focus();
}

async function submit() {
  $("#confirm").hidden = true;
  const button = $("#submit");
  const box = $("#submit-error");
  hideBox(box);
  button.disabled = true;
  button.classList.add("busy");
  try {
    Object.values(state.textTimers).forEach(clearTimeout);
    await flush();
    if (pendingCount() || state.inflight) {
      box.dataset.code = "UNSYNCED";
      showError(box, { code: "EXAM_UNSYNCED", rule: "EXAM-1",
        message_zh: `还有 ${pendingCount()} 个答案未同步到服务器，暂不能交卷。请检查网络，答案全部显示“已保存”后再交卷。`,
        message_en: `${pendingCount()} answer(s) have not reached the server yet, so the exam cannot be submitted. Check your connection and submit once every answer shows “Saved”.` });
      box.dataset.code = "EXAM_UNSYNCED";
      box.scrollIntoView({ block: "nearest" });
      return;
    }
    if (state.phase !== "exam") return;
    let done;
    try {
      done = await api(`/api/exam-attempts/${state.attempt.id}/submit`, { method: "POST", json: {} });
    } catch (err) {
      if (err.status === 409) { await refresh(); return; }
      if (err.status === 0) setReachable(false);
      showError(box, err);
      return;
    }
    finish(done);
  } finally {
    button.disabled = state.phase !== "exam";
    button.classList.remove("busy");
  }
}

function shown(q, r) {
  if (!isAnswered(r)) return "未作答 · blank";
  if (q.kind === "truefalse") return r ? "正确 True" : "错误 False";
  if (q.kind === "multiple") return r.join("、");
  return String(r);
}

/** The submitted attempt: the score when graded, else that short answers await the grader. */
function finish(a) {
  const lost = pendingCount();
  state.phase = "result";
  state.attempt = a;
  [state.ticker, state.periodic].forEach(clearInterval);
  [state.retryTimer, state.refreshTimer, ...Object.values(state.textTimers)].forEach(clearTimeout);
  dropLocal(a.id);
  state.queue = {};
  paintTotals();
  const box = $("#result");
  box.dataset.status = a.status;
  box.dataset.submittedBy = a.submitted_by || "";
  box.dataset.score = a.score === null || a.score === undefined ? "" : String(a.score);
  box.dataset.passed = a.passed === null || a.passed === undefined ? "" : String(a.passed);
  const parts = [h("h2", {}, a.title)];
  if (a.submitted_by === "deadline") {
    parts.push(h("div", { class: "notice-box warn", "data-testid": "auto-submitted" },
      h("p", { class: "zh" }, `考试时间到，系统已于 ${fmtTime(a.deadline)} 自动交卷。`),
      h("p", { class: "en" }, `Time ran out: the system submitted your exam at the deadline, ${fmtTime(a.deadline)}.`)));
  }
  if (lost) {
    parts.push(h("div", { class: "error-box", "data-testid": "lost-answers" },
      h("p", { class: "zh" }, `有 ${lost} 个答案未能在交卷前上传到服务器。`),
      h("p", { class: "en" }, `${lost} answer(s) did not reach the server before the exam was submitted.`)));
  }
  if (a.status === "graded") {
    parts.push(h("div", { class: `score ${a.passed ? "pass" : "fail"}`, "data-testid": "score" },
      h("div", { class: "big" }, String(a.score), h("span", {}, ` / ${a.total_points} 分`)),
      h("div", { class: "verdict" }, a.passed ? "合格" : "不合格", en(a.passed ? "Passed" : "Not passed")),
      h("div", { class: "mark" }, `合格线：总分的 ${a.pass_mark}%`, en(`Pass mark: ${a.pass_mark}% of the total`))));
  } else {
    parts.push(h("div", { class: "score waiting", "data-testid": "awaiting" },
      h("div", { class: "verdict" }, "已交卷", en("Submitted")),
      h("p", {}, `交卷时间 ${fmtTime(a.submitted_at)}。简答题待老师批改，批改完成后显示成绩。`,
        en("Short answers await the teacher's grading; your score appears once they are graded."))));
  }
  parts.push(h("ol", { class: "answers" }, ...a.questions.map((q) => h("li", { "data-qid": q.id },
    h("p", { class: "q-stem" }, q.stem),
    h("p", { class: "mine" }, "我的答案：", shown(q, q.response)),
    a.status === "graded" && q.awarded !== undefined ? h("p", { class: "awarded" },
      `得分 ${q.awarded ?? 0} / ${q.points}`, q.comment ? ` · 评语：${q.comment}` : "") : null))));
  parts.push(h("p", {}, h("a", { href: "/exam", class: "button secondary", "data-testid": "back" }, "返回我的考试", en("Back to my exams"))));
  box.replaceChildren(...parts);
  show("result");
}

// ---------------------------------------------------------------- the list of papers

const WINDOW = { upcoming: ["未开放", "Not open yet"], open: ["开放中", "Open"], closed: ["已关闭", "Closed"] };
const ATTEMPT = { in_progress: ["作答中", "In progress"], submitted: ["已交卷 待批改", "Submitted, awaiting grading"],
                  graded: ["已出成绩", "Graded"] };

async function showList() {
  let data;
  try {
    data = await api("/api/me/exam-papers");
  } catch (err) {
    $("#loading").hidden = true;
    showError(errBox(), err);
    return;
  }
  state.phase = "list";
  const list = $("#paper-list");
  if (!data.items.length) {
    list.replaceChildren(h("p", { class: "empty", "data-testid": "no-papers" }, "暂无考试", en("No exams for your classes yet")));
  } else {
    list.replaceChildren(...data.items.map(paperCard));
  }
  show("papers");
}

function paperCard(p) {
  const a = p.attempt;
  let action;
  if (a && a.status !== "in_progress") {
    action = h("a", { class: "button secondary big", href: `/exam?attempt=${a.id}`, "data-testid": "start" },
               "查看结果", en("See the result"));
  } else if (a || p.window === "open") {
    action = h("button", { type: "button", class: "big", "data-testid": "start" },
               ...(a ? bi(["继续作答", "Resume"]) : bi(["开始考试", "Start the exam"])));
    action.addEventListener("click", () => start(p, action));
  } else {
    action = h("button", { type: "button", class: "big", disabled: true, "data-testid": "start" }, ...bi(WINDOW[p.window]));
  }
  const status = a ? ATTEMPT[a.status] : WINDOW[p.window];
  return h("article", { class: "paper-card", "data-testid": "paper", "data-paper-id": p.id, "data-window": p.window,
                        "data-attempt-status": a ? a.status : "" },
    h("h3", {}, p.title),
    h("p", { class: "meta" }, p.class_name || ""),
    h("dl", { class: "kv" },
      h("dt", {}, "开放时间", en("Window")), h("dd", {}, `${fmtTime(p.opens_at)} – ${fmtTime(p.closes_at)}`),
      h("dt", {}, "考试时长", en("Duration")), h("dd", {}, `${p.duration_minutes} 分钟 min`),
      h("dt", {}, "题量 / 总分", en("Questions / points")), h("dd", {}, `${p.question_count} 题 · ${p.total_points} 分`),
      h("dt", {}, "状态", en("Status")), h("dd", { "data-testid": "paper-status" }, ...bi(status),
        a && a.status === "graded" ? ` · ${a.score} 分 ${a.passed ? "合格" : "不合格"}` : "")),
    action);
}

// ---------------------------------------------------------------- start

/** The logged-in student; after an offline reload, the user remembered in this tab. */
async function whoAmI() {
  try {
    return await requireLogin(["student"]);
  } catch (err) {
    const user = getUser();
    if (err.status === 0 && getToken() && user && user.role === "student") return user;
    throw err;
  }
}

async function init() {
  if (!getToken()) { goLogin(); return; }
  // the page itself survives a reload without network (static/exam-sw.js); answers wait in localStorage
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/exam-sw.js", { scope: "/exam" }).catch(() => {});
  window.addEventListener("online", backOnline);
  window.addEventListener("offline", paintTotals);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible" && pendingCount()) flush(); });
  $("#submit").addEventListener("click", openConfirm);
  $("#confirm-cancel").addEventListener("click", () => { $("#confirm").hidden = true; });
  $("#confirm-ok").addEventListener("click", submit);
  try {
    state.user = await whoAmI();
  } catch (err) {
    $("#loading").hidden = true;
    showError(errBox(), err);
    return;
  }
  const id = Number(query("attempt"));
  if (id > 0) await openAttempt(id);
  else await showList();
}

init();

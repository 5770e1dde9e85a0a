// 启航 Qihang — a recorded lesson on the phone (ATT-5): play the course video, report heartbeats,
// answer the human-machine prompts the server chooses to ask and, at some of them, take a camera
// snapshot for a face check. The page cannot know when the next prompt comes: the server decides
// at random and sends it in a heartbeat's answer. No external URL of any kind (PLAT-2).
// A lesson that plays a course package gets its videos as parts: the page plays them one after the
// other in the same <video> and reports the position on the lesson's joined timeline
// (server/study/material.py), so the step from one part to the next is continuous play.
import { $, api, h, postForm, query, requireLogin, showError } from "/static/api.js";

const lessonId = Number(query("lesson"));
const state = {
  info: null, prompt: null, deadline: 0, countdown: null, beatTimer: null, every: 10, stalled: false,
  pausedForPrompt: false, stream: null, busy: false, snapping: false, seekTimer: null, beats: 0,
  parts: [], part: 0, switching: false,
};
window.qihangStudy = state; // for diagnostics and the browser tests
const sessionId = randomId();
const video = () => $("#video");

function randomId() {  // crypto.randomUUID needs a secure context; getRandomValues does not
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const en = (text) => h("small", { class: "en" }, text);
const isPlaying = () => !video().paused && !video().ended && !state.stalled && !state.switching;
const currentPart = () => state.parts[state.part];

/** Where the lesson is, on its joined timeline (one video: simply the video's time). */
function position() {
  const p = currentPart();
  const t = video().currentTime || 0;
  if (!p) return t;
  return p.offset + Math.min(Math.max(t - p.start, 0), p.end - p.start);
}

/** Show part ``index`` from ``at`` seconds into its own stretch; keeps playing if it was. */
function loadPart(index, at = 0, { play = false } = {}) {
  const p = state.parts[index];
  if (!p) return;
  const v = video();
  state.part = index;
  state.switching = true;
  document.body.dataset.part = String(index);
  $("#part-title").hidden = state.parts.length < 2;
  $("#part-title").replaceChildren(`第 ${index + 1} / ${state.parts.length} 段：${p.title}`,
                                   en(`part ${index + 1} of ${state.parts.length}`));
  v.addEventListener("loadedmetadata", () => {
    v.currentTime = p.start + at;
    state.switching = false;
    if (play && !state.prompt) v.play().catch(() => {});
  }, { once: true });
  v.src = p.url;
}

/** The current part's stretch is over: on to the next part, or the lesson's end. */
function partEnded() {
  if (state.switching) return false;
  if (state.part + 1 < state.parts.length) {
    loadPart(state.part + 1, 0, { play: true });
    return true;
  }
  return false;
}
const isVisible = () => document.visibilityState === "visible";

// ---------------------------------------------------------------- heartbeats

/** Tell the server where the video is; its answer may carry a prompt to show now. */
async function beat(reason, { leaving = false } = {}) {
  const body = { session_id: sessionId, position: position(), playing: isPlaying(),
                 visible: isVisible(), reason };
  const path = `/api/lessons/${lessonId}/study/heartbeat`;
  if (leaving) {  // the page is going away: a request that outlives it
    const token = sessionStorage.getItem("qihang.token");
    fetch(path, { method: "POST", keepalive: true, body: JSON.stringify(body),
                  headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` } }).catch(() => {});
    return;
  }
  try {
    const resp = await api(path, { method: "POST", json: body });
    state.beats += 1;
    state.every = resp.heartbeat_seconds || state.every;
    if (resp.prompt) showPrompt(resp.prompt);
  } catch (err) {
    if (err.status) showError($("#page-error"), err);  // a network blip (status 0) waits for the next beat
  }
}

function scheduleBeats() {
  clearTimeout(state.beatTimer);
  state.beatTimer = setTimeout(async () => {
    await beat("tick");
    scheduleBeats();
  }, state.every * 1000);
}

// ---------------------------------------------------------------- prompts

function setResult(outcome, zh, enText) {
  const box = $("#prompt-result");
  box.dataset.outcome = outcome || "";
  box.replaceChildren(zh, en(enText));
}

function setFace(s, zh, enText) {
  const el = $("#face-state");
  el.dataset.state = s;
  el.replaceChildren(zh, en(enText));
}

function renderPrompt(p) {
  const box = $("#prompt");
  box.dataset.promptId = String(p.id);
  $("#prompt-question").replaceChildren(p.question_zh, en(p.question_en));
  const choices = $("#prompt-choices");
  choices.dataset.count = String(p.choices.length);
  choices.replaceChildren(...p.choices.map((c) => {
    const b = h("button", { type: "button", "data-choice": c }, c);
    b.disabled = p.answered;
    b.addEventListener("click", () => answer(c));
    return b;
  }));
  setResult("", "", "");
  if (p.answered && p.outcome === "correct") setResult("correct", "回答正确", "Correct");
  $("#prompt-camera").hidden = !p.snapshot;
  $("#retake").hidden = true;
  $("#camera-help").hidden = true;
  if (p.snapshot) {
    if (p.face_ok) setFace("match", "人脸核验通过", "Face verified");
    else setFace("waiting", "正在打开摄像头拍照核验…", "Opening the camera for a face check…");
  }
}

function showPrompt(p) {
  const same = state.prompt && state.prompt.id === p.id;
  state.prompt = Object.assign(same ? state.prompt : {}, p);
  state.deadline = performance.now() + p.expires_in * 1000;
  if (!same) renderPrompt(p);
  $("#prompt").hidden = false;
  if (!video().paused) {  // the video waits under the prompt (the server credits nothing meanwhile)
    state.pausedForPrompt = true;
    video().pause();
  }
  clearInterval(state.countdown);
  state.countdown = setInterval(tick, 250);
  tick();
  if (!same && needsPhoto(state.prompt)) snapshot();
}

const needsPhoto = (p) => p && p.snapshot && !p.face_ok && p.snapshots_left > 0;

function tick() {
  const p = state.prompt;
  if (!p) return;
  const left = Math.max(0, Math.ceil((state.deadline - performance.now()) / 1000));
  const timer = $("#prompt-timer");
  timer.dataset.late = String(left === 0);
  if (left > 0) {
    timer.replaceChildren(`剩余 ${left} 秒`, en(`${left} s left`));
    return;
  }
  if (p.answered && p.outcome === "correct") return closePrompt();  // the photo's time is over
  timer.replaceChildren("已超时，计时暂停；请稍候回答新的题目", en("Time is up and your study time is paused; a new question follows"));
  $("#prompt-choices").querySelectorAll("button").forEach((b) => { b.disabled = true; });
}

async function answer(choice) {
  const p = state.prompt;
  if (!p || state.busy || p.answered) return;
  state.busy = true;
  $("#prompt-choices").querySelectorAll("button").forEach((b) => { b.disabled = true; });
  try {
    const r = await api(`/api/lessons/${lessonId}/study/answer`, { method: "POST",
      json: { prompt_id: p.id, answer: choice, session_id: sessionId } });
    if (r.correct) {
      Object.assign(p, r.answered);
      setResult("correct", "回答正确", "Correct");
      maybeClose();
      refreshProgress();
    } else {
      showPrompt(r.prompt);
      if (r.outcome === "late") setResult("late", "上一题已超时，请回答这道新题", "The last question timed out; answer this new one");
      else setResult("wrong", "回答错误，计时暂停；请回答这道新题", "Wrong answer: study time is paused until you answer this one");
    }
  } catch (err) {
    if (err.code === "PROMPT_CLOSED") beat("prompt");  // a newer prompt exists: fetch it
    else showError($("#page-error"), err);
  } finally {
    state.busy = false;
  }
}

function maybeClose() {
  const p = state.prompt;
  if (!p || !p.answered || p.outcome !== "correct") return;
  if (needsPhoto(p) && performance.now() < state.deadline) return;
  closePrompt();
}

function closePrompt() {
  clearInterval(state.countdown);
  state.prompt = null;
  $("#prompt").hidden = true;
  stopCamera();
  if (state.pausedForPrompt) {
    state.pausedForPrompt = false;
    video().play().catch(() => {});
  }
}

// ---------------------------------------------------------------- the face snapshot

function stopCamera() {
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
}

function grab(cam) {
  const scale = Math.min(1, 640 / (cam.videoWidth || 640));
  const canvas = $("#snapshot");
  canvas.width = Math.round((cam.videoWidth || 640) * scale);
  canvas.height = Math.round((cam.videoHeight || 480) * scale);
  canvas.getContext("2d").drawImage(cam, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("snapshot failed"))),
                                                        "image/jpeg", 0.9));
}

async function snapshot() {
  const p = state.prompt;
  if (!p || state.snapping) return;
  state.snapping = true;
  $("#retake").hidden = true;
  try {
    if (!navigator.mediaDevices?.getUserMedia) throw Object.assign(new Error("no camera API"), { name: "NotSupportedError" });
    if (!state.stream) {
      state.stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    }
    const cam = $("#camera");
    cam.srcObject = state.stream;
    await cam.play().catch(() => {});
    for (let i = 0; i < 50 && !cam.videoWidth; i++) await sleep(100);
    setFace("waiting", "请正对摄像头，正在拍照核验…", "Face the camera: taking the photo…");
    await sleep(1000);  // a moment for the camera's exposure
    const form = new FormData();
    form.append("prompt_id", String(p.id));
    form.append("photo", await grab(cam), "snapshot.jpg");
    const r = await postForm(`/api/lessons/${lessonId}/study/snapshot`, form);
    if (state.prompt !== p) return;  // a newer prompt took its place meanwhile
    Object.assign(p, { face_ok: r.prompt.face_ok, face: r.verdict, snapshots_left: r.prompt.snapshots_left });
    setFace(r.passed ? "match" : "failed", r.message_zh, r.message_en);
    if (r.passed) maybeClose();
    else $("#retake").hidden = r.prompt.snapshots_left <= 0;
  } catch (err) {
    if (["NotAllowedError", "NotFoundError", "NotSupportedError", "SecurityError"].includes(err.name)) {
      setFace("failed", "无法使用摄像头，人脸核验未完成", "The camera is not available: the face check is not done");
      $("#camera-help").hidden = false;
      $("#retake").hidden = false;
    } else {
      setFace("failed", err.error?.message_zh || "拍照上传失败，请重拍", err.error?.message_en || "The photo could not be sent; retake it");
      $("#retake").hidden = err.code === "SNAPSHOT_LIMIT" || err.code === "PROMPT_CLOSED";
    }
  } finally {
    state.snapping = false;
    if (state.prompt && state.prompt.id !== p.id && needsPhoto(state.prompt)) snapshot();  // a retry came meanwhile
  }
}

// ---------------------------------------------------------------- the page

function minutes(seconds) {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)} 分 ${s % 60} 秒`;
}

function renderProgress(p) {
  $("#progress").hidden = false;
  $("#credited").replaceChildren(minutes(p.study_seconds), en(`${p.study_seconds} s`));
  const pct = p.completion == null ? "—" : `${Math.floor(p.completion * 100)}%`;
  $("#covered").replaceChildren(`${minutes(p.covered_seconds)}（${pct}）`,
                                en(`${Math.round(p.covered_seconds)} s of ${Math.round(p.video_seconds || 0)} s`));
  $("#checks").replaceChildren(`${p.prompts_passed} / ${p.prompts_due}`,
                               en(`face checks ${p.faces_passed} / ${p.faces_due}`));
}

async function refreshProgress() {
  try {
    const info = await api(`/api/lessons/${lessonId}/study`);
    state.info = Object.assign(state.info || {}, { video: info.video });
    refreshUrls(info.video);
    renderProgress(info.progress);
  } catch { /* the figures wait for the next refresh */ }
}

/** Fresh signed URLs (the ticket expires) for the same parts. */
function refreshUrls(v) {
  (v?.parts || []).forEach((p, i) => { if (state.parts[i]) state.parts[i].url = p.url; });
}

function wireVideo() {
  const v = video();
  v.addEventListener("play", () => {
    if (state.prompt) { v.pause(); return; }  // answer first
    beat("play");
  });
  v.addEventListener("pause", () => {
    if (v.ended || state.switching) return;
    beat(state.prompt ? "prompt" : "pause");
    if (!state.prompt) refreshProgress();
  });
  v.addEventListener("seeked", () => {  // dragging fires many: report where it settled
    const p = currentPart();  // a lesson's share of a package starts inside its file: stay within it
    if (p && !state.switching && v.currentTime < p.start - 0.5) { v.currentTime = p.start; return; }
    clearTimeout(state.seekTimer);
    state.seekTimer = setTimeout(() => beat("seeked"), 250);
  });
  v.addEventListener("waiting", () => { state.stalled = true; beat("waiting"); });
  v.addEventListener("playing", () => {
    state.reloads = 0;
    if (state.stalled) { state.stalled = false; beat("play"); }
  });
  v.addEventListener("timeupdate", () => {  // a part that stops inside its file (a lesson's share of a package)
    const p = currentPart();
    if (p && !state.switching && v.currentTime >= p.end - 0.05 && state.part + 1 < state.parts.length) partEnded();
  });
  v.addEventListener("ended", () => {
    if (partEnded()) return;
    beat("ended");
    refreshProgress();
  });
  v.addEventListener("ratechange", () => { if (v.playbackRate !== 1) v.playbackRate = 1; });  // 45 min of play = 1 class-hour
  v.addEventListener("error", async () => {  // an expired video link: fetch a fresh one, keep the place
    const p = currentPart();
    const at = p ? Math.max(0, (v.currentTime || 0) - p.start) : 0;
    state.reloads = (state.reloads || 0) + 1;
    if (state.reloads > 3) {  // not an expired link: the file itself cannot be played here
      showError($("#page-error"), { code: "VIDEO_ERROR", message_zh: "视频无法播放，请稍后重试或联系培训机构",
                                    message_en: "The video cannot be played; try again later or contact your institution" });
      return;
    }
    try {
      refreshUrls((await api(`/api/lessons/${lessonId}/study`)).video);
      loadPart(state.part, at);
    } catch (err) { showError($("#page-error"), err); }
  });
  document.addEventListener("visibilitychange", () => beat("visibility"));
  window.addEventListener("pagehide", () => beat("leave", { leaving: true }));
  $("#retake").addEventListener("click", () => snapshot());
}

async function main() {
  await requireLogin(["student"]);
  if (!lessonId) {
    showError($("#page-error"), { code: "NO_LESSON", message_zh: "缺少课次参数 ?lesson=", message_en: "Missing ?lesson= in the address" });
    return;
  }
  const info = await api(`/api/lessons/${lessonId}/study`);
  state.info = info;
  state.every = info.heartbeat_seconds;
  $("#lesson-title").replaceChildren(info.lesson.title, en(`${info.lesson.class_hours} 课时 class-hours · 录播 recorded`));
  $("#class-line").replaceChildren(info.class.name, en("随机人机验证与人脸核验 · random human and face checks (ATT-5)"));
  renderProgress(info.progress);
  state.parts = info.video.parts;
  loadPart(0);
  $("#player").hidden = false;
  wireVideo();
  await beat("start");
  if (info.prompt) showPrompt(info.prompt);
  scheduleBeats();
}

main().catch((err) => showError($("#page-error"), err));

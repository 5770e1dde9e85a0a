// 启航 Qihang — the student's liveness challenge (ATT-1): the server sends a random head turn and
// a blink in a random order; this page only shows the steps at their times, over a large mirrored
// view of the student's own camera. The judging is the server's, from the stream itself.
import { $, h } from "/static/api.js";

const ARROW = { turn_left: "⬅", turn_right: "➡", blink: "😉" };
let timers = [];
let usual = null;  // the camera's constraints before a challenge raised its frame rate

function restoreCamera() {
  if (usual) selfTrack()?.applyConstraints(usual).catch(() => {});
  usual = null;
}

function selfTrack() {
  return $("#self-view").srcObject?.getVideoTracks?.()[0];
}

/** Show the challenge's steps at their offsets (seconds after it arrived). */
export function showChallenge(challenge) {
  timers.forEach(clearTimeout);
  timers = [];
  const box = $("#liveness");
  const preview = $("#liveness-view");
  preview.srcObject = $("#self-view").srcObject;
  preview.play().catch(() => {});
  const track = selfTrack();
  // more frames while the check runs (a blink lasts a fifth of a second); applyConstraints replaces
  // the whole set, so the camera's size constraints go along or it would jump to 640×480
  if (!usual) usual = track?.getConstraints() || null;
  track?.applyConstraints({ ...(usual || {}), frameRate: { ideal: 15, max: 15 } }).catch(() => {});
  box.hidden = false;
  box.dataset.state = "ready";
  const say = (zh, en, action) => $("#liveness-step").replaceChildren(
    action ? h("span", { class: "arrow", "data-action": action }, ARROW[action]) : "",
    h("b", {}, zh), h("small", { class: "en" }, en));
  say("活体检测：请正对屏幕", "Liveness check: look at the screen", null);
  for (const step of challenge.steps) {
    timers.push(setTimeout(() => { box.dataset.state = step.action; say(step.zh, step.en, step.action); },
      step.start * 1000));
  }
  timers.push(setTimeout(() => {
    box.dataset.state = "judging";
    say("正在核验…", "Checking…", null);
    restoreCamera();
  }, challenge.seconds * 1000));
}

/** The server's verdict on this student's challenge. */
export function showResult(payload) {
  timers.forEach(clearTimeout);
  timers = [];
  restoreCamera();
  const box = $("#liveness");
  box.hidden = false;
  box.dataset.state = payload.passed ? "passed" : "failed";
  $("#liveness-step").replaceChildren(payload.passed
    ? h("b", {}, "✔ 验证通过", h("small", { class: "en" }, "Passed"))
    : h("b", {}, "✖ 未通过：" + (payload.reasons_zh || []).join("；"),
      h("small", { class: "en" }, payload.attempt === 1 ? "Not passed; another check follows shortly" : "Not passed")));
  timers.push(setTimeout(() => { box.hidden = true; }, payload.passed ? 2500 : 5000));
}

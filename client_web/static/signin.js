// 启航 Qihang — offline-lesson sign-in on the phone (ATT-6, CLS-6): the camera preview, the phone's
// location, one snapshot posted with the fix; the server judges the face, the distance to the venue
// and the time window, and records every attempt. No external URL of any kind (PLAT-2).
import { runChallenge } from "/static/livenessclip.js";
import { $, ApiFailure, api, bi, fmtTime, h, postForm, query, requireLogin, showError } from "/static/api.js";

const lessonId = Number(query("lesson"));
const state = { info: null, fix: null, stream: null, busy: false, watch: null, last: null };
window.qihangSignIn = state; // for diagnostics and the browser tests
const MAX_WIDTH = 640; // the snapshot: enough for a face at arm's length, small on a mobile network

const ACTION_ZH = { sign_in: ["签到", "Sign in"], sign_out: ["签退", "Sign out"] };
const REASON_ZH = {
  outside_window: ["不在签到时间内", "outside the time window"],
  not_signed_in: ["尚未签到", "not signed in"],
  location_imprecise: ["定位精度不足", "location too imprecise"],
  outside_radius: ["超出签到范围", "outside the venue radius"],
  photo_invalid: ["照片无效", "photo not usable"],
  face_absent: ["未检测到人脸", "no face"],
  face_several: ["多张人脸", "several faces"],
  face_poor_quality: ["人脸不清晰", "face not clear"],
  face_mismatch: ["人脸与报名照片不符", "face does not match"],
  face_no_template: ["无人脸底模", "no enrolled face"],
  face_undecodable: ["照片无法读取", "unreadable photo"],
};
const VERDICT_ZH = { match: "本人", mismatch: "非本人", absent: "无人脸", several: "多人", poor_quality: "不清晰",
                     no_template: "无底模", undecodable: "无法读取" };

function setState(el, s, zh, en) {
  el.dataset.state = s;
  el.replaceChildren(zh, h("small", { class: "en" }, en));
}

/** Great-circle metres (the server's formula), for the hint shown before signing in. */
function haversine(lat1, lon1, lat2, lon2) {
  const r = (d) => (d * Math.PI) / 180;
  const a = Math.sin(r(lat2 - lat1) / 2) ** 2 + Math.cos(r(lat1)) * Math.cos(r(lat2)) * Math.sin(r(lon2 - lon1) / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(a)));
}

// ---------------------------------------------------------------- the lesson

function renderInfo(info) {
  state.info = info;
  const { lesson, venue, window: win } = info;
  $("#class-line").replaceChildren(info.class.name, h("small", { class: "en" }, "人脸识别 + 位置签到 · face + location sign-in (ATT-6)"));
  $("#lesson-title").replaceChildren(lesson.title);
  const rows = [
    ["上课时间", "Time", `${fmtTime(lesson.starts_at)} – ${fmtTime(lesson.ends_at).slice(11)}`],
    ["上课地点", "Venue", venue ? venue.name : "未设置 not set", { id: "venue-name" }],
    venue?.address && ["地址", "Address", venue.address],
    venue && ["签到范围", "Sign-in radius", `${venue.radius_m} 米 m`, { id: "venue-radius" }],
    ["签到时间", "Sign-in window", `${fmtTime(win.sign_in_opens)} – ${fmtTime(win.sign_in_closes).slice(11)}`],
    ["签退截止", "Sign-out until", fmtTime(win.sign_out_closes)],
  ].filter(Boolean);
  $("#lesson-facts").replaceChildren(...rows.flatMap(([zh, en, value, attrs]) => [
    h("dt", {}, ...bi(zh, en)), h("dd", attrs || {}, value)]));
  const signed = $("#signed-state");
  signed.dataset.signed = String(info.signed_in);
  signed.replaceChildren(...(info.signed_in ? bi("✓ 已签到，离开时请签退", "Signed in; sign out when you leave")
                                             : bi("尚未签到", "Not signed in yet")));
  $("#sign-in").className = info.signed_in ? "secondary" : "";
  $("#sign-out").className = info.signed_in ? "" : "secondary";
  $("#lesson-card").hidden = false;
  renderHistory(info.attempts);
  if (!info.class.open) {
    showError($("#page-error"), { code: "CLASS_NOT_OPEN", message_zh: "班期尚未开班，暂不能签到", message_en: "The class is not open yet" });
  } else if (!venue) {
    showError($("#page-error"), { code: "VENUE_MISSING", rule: "CLS-6", message_zh: "本课次未设置上课地点，请联系培训机构",
                                  message_en: "This lesson has no venue; contact your institution" });
  }
  updateButtons();
}

function renderHistory(attempts) {
  $("#history-card").hidden = !attempts.length;
  $("#history").replaceChildren(...attempts.slice().reverse().map((a) => {
    const [zh, en] = ACTION_ZH[a.action] || [a.action, a.action];
    const reason = REASON_ZH[a.reason] || [a.reason || "", ""];
    return h("li", { "data-testid": "attempt", "data-accepted": String(a.accepted) },
      h("time", {}, fmtTime(a.at).slice(11)),
      h("span", {}, `${zh} ${en}`),
      h("span", { class: a.accepted ? "ok" : "bad" }, a.accepted ? "✓ 通过" : `✗ ${reason[0]}`),
      a.distance_m != null ? h("span", { class: "muted" }, `${Math.round(a.distance_m)} 米`) : null);
  }));
}

// ---------------------------------------------------------------- camera and location

async function startCamera() {
  $("#camera-help").hidden = true;
  setState($("#camera-state"), "waiting", "正在打开摄像头…", "Opening the camera…");
  if (!navigator.mediaDevices?.getUserMedia) {
    setState($("#camera-state"), "bad", "此浏览器不能使用摄像头，请用手机浏览器打开", "This browser has no camera access; use your phone's browser");
    return;
  }
  try {
    state.stream?.getTracks().forEach((t) => t.stop());
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    const video = $("#preview");
    video.srcObject = state.stream;
    await video.play().catch(() => {});
    setState($("#camera-state"), "ok", "摄像头已打开：请正对镜头，脸在框内", "Camera on: face the camera, inside the oval");
  } catch (err) {
    state.stream = null;
    setState($("#camera-state"), "bad", "无法使用摄像头", `No camera: ${err.name || err}`);
    $("#camera-help").hidden = false;
  }
  updateButtons();
}

function onFix(pos) {
  const { latitude, longitude, accuracy } = pos.coords;
  state.fix = { latitude, longitude, accuracy };
  $("#location-help").hidden = true;
  const venue = state.info?.venue;
  let zh = `已定位，精度 ±${Math.round(accuracy)} 米`, en = `Located, ±${Math.round(accuracy)} m`;
  let far = !!venue && accuracy > venue.radius_m;
  if (venue && venue.datum === "wgs84") { // a hint only: the server measures (and handles GCJ-02 venues)
    const d = Math.round(haversine(latitude, longitude, venue.latitude, venue.longitude));
    zh += `，距场地约 ${d} 米（范围 ${venue.radius_m} 米）`;
    en += `, about ${d} m from the venue (radius ${venue.radius_m} m)`;
    far = far || d > venue.radius_m;
  }
  setState($("#location-state"), far ? "bad" : "ok", zh, en);
  updateButtons();
}

function onFixError(err) {
  const msg = { 1: ["未允许获取位置", "Location permission denied"], 2: ["暂时无法定位", "Position unavailable"],
                3: ["定位超时", "Location timed out"] }[err.code] || ["无法定位", String(err.message || err)];
  if (!state.fix) setState($("#location-state"), "bad", msg[0], msg[1]);
  $("#location-help").hidden = !!state.fix;
  updateButtons();
}

function startLocation() {
  if (!navigator.geolocation) {
    setState($("#location-state"), "bad", "此浏览器不能定位", "This browser cannot give a location");
    return;
  }
  setState($("#location-state"), "waiting", "正在获取位置…", "Getting your location…");
  if (state.watch != null) navigator.geolocation.clearWatch(state.watch);
  state.watch = navigator.geolocation.watchPosition(onFix, onFixError,
    { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 });
}

function updateButtons() {
  const ready = !!(state.stream && state.fix && state.info?.venue && state.info.class.open) && !state.busy;
  $("#sign-in").disabled = !ready;
  $("#sign-out").disabled = !ready;
}

// ---------------------------------------------------------------- signing in

function snapshot() {
  const video = $("#preview");
  const scale = Math.min(1, MAX_WIDTH / (video.videoWidth || MAX_WIDTH));
  const canvas = $("#snapshot");
  canvas.width = Math.round((video.videoWidth || 640) * scale);
  canvas.height = Math.round((video.videoHeight || 480) * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("snapshot failed"))),
                                                        "image/jpeg", 0.9));
}

function showResult(rec, error) {
  const box = $("#result");
  const accepted = !error;
  const [azh, aen] = ACTION_ZH[rec.action] || ["签到", "Sign-in"];
  box.dataset.accepted = String(accepted);
  box.dataset.reason = rec.reason || "";
  const facts = [];
  if (rec.distance_m != null) {
    facts.push(h("p", { id: "result-distance", "data-distance": rec.distance_m },
      "距场地 ", h("b", {}, `${Math.round(rec.distance_m)} 米`), `（签到范围 ${rec.radius_m} 米，定位精度 ±${Math.round(rec.accuracy_m)} 米）`,
      h("small", { class: "en" }, `${Math.round(rec.distance_m)} m from the venue (radius ${rec.radius_m} m, accuracy ±${Math.round(rec.accuracy_m)} m)`)));
  }
  if (rec.verdict) {
    facts.push(h("p", { id: "result-face", "data-verdict": rec.verdict }, `人脸核验：${VERDICT_ZH[rec.verdict] || rec.verdict}`,
      h("small", { class: "en" }, `Face check: ${rec.verdict}`)));
  }
  box.replaceChildren(...[
    h("div", { class: "mark", "aria-hidden": "true" }, accepted ? "✓" : "✗"),
    h("h2", {}, accepted ? `${azh}成功` : `${azh}未通过`, h("small", { class: "en" }, accepted ? `${aen}: accepted` : `${aen}: refused`)),
    error && h("p", { class: "reason", id: "result-reason" }, error.message_zh, h("small", { class: "en" }, error.message_en)),
    h("div", { class: "facts" }, ...facts),
    h("p", { class: "muted" }, `${fmtTime(rec.at)} · 记录号 record #${rec.event_id}`)].filter(Boolean));
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

const ARROW = { turn_left: "⬅", turn_right: "➡", blink: "😉" };

function showStep(zh, en, action) {
  const el = $("#liveness-step");
  el.hidden = false;
  el.dataset.action = action || "";
  el.replaceChildren(action ? h("span", { class: "arrow" }, ARROW[action]) : "", h("b", {}, zh), h("small", { class: "en" }, en));
}

function showLiveness(verdict) {
  const box = $("#result");
  box.dataset.accepted = "false";
  box.dataset.reason = "liveness_failed";
  box.replaceChildren(h("div", { class: "mark", "aria-hidden": "true" }, "✗"),
    h("h2", {}, "活体检测未通过", h("small", { class: "en" }, "Liveness check not passed")),
    h("p", { class: "reason", id: "result-reason" }, (verdict.reasons_zh || []).join("；"),
      h("small", { class: "en" }, (verdict.reasons_en || []).join("; "))),
    h("p", { class: "muted" }, "请正对摄像头，按提示转头、眨眼后重新签到 · Face the camera, do as asked and try again"));
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

async function submit(action) {
  if (state.busy || !state.fix) return;
  state.busy = true;
  updateButtons();
  const button = action === "sign_in" ? $("#sign-in") : $("#sign-out");
  button.classList.add("busy");
  $("#page-error").hidden = true;
  try {
    const form = new FormData();
    form.append("action", action);
    form.append("latitude", String(state.fix.latitude));
    form.append("longitude", String(state.fix.longitude));
    form.append("accuracy", String(state.fix.accuracy));
    if (action === "sign_in" && state.info.liveness_required) {  // a photo matches; it cannot turn and blink
      const verdict = await runChallenge(lessonId, state.stream, showStep, "sign_in");
      $("#liveness-step").hidden = true;
      if (!verdict.passed) {
        showLiveness(verdict);
        return;
      }
    }
    form.append("photo", await snapshot(), "signin.jpg");
    try {
      state.last = await postForm(`/api/lessons/${lessonId}/offline-sign-in`, form);
      showResult(state.last, null);
    } catch (err) {
      const details = err instanceof ApiFailure ? err.error.details : null;
      if (details && details.event_id) { // a judged and recorded refusal (ATT-6)
        state.last = details;
        showResult(details, err.error);
      } else {
        showError($("#page-error"), err);
      }
    }
    renderInfo(await api(`/api/lessons/${lessonId}/offline-sign-in`));
  } catch (err) {
    showError($("#page-error"), err);
  } finally {
    state.busy = false;
    button.classList.remove("busy");
    updateButtons();
  }
}

async function main() {
  if (!Number.isInteger(lessonId) || lessonId <= 0) {
    showError($("#page-error"), { code: "NO_LESSON", message_zh: "链接缺少课次编号（?lesson=）", message_en: "The link has no lesson number (?lesson=)" });
    return;
  }
  await requireLogin(["student"]);
  renderInfo(await api(`/api/lessons/${lessonId}/offline-sign-in`));
  $("#capture").hidden = false;
  $("#sign-in").addEventListener("click", () => submit("sign_in"));
  $("#sign-out").addEventListener("click", () => submit("sign_out"));
  $("#camera-retry").addEventListener("click", startCamera);
  $("#location-retry").addEventListener("click", startLocation);
  startLocation();
  await startCamera();
}

main().catch((err) => showError($("#page-error"), err));

// 启航 Qihang — a liveness challenge answered by upload (ATT-1), for pages without a live stream
// (offline sign-in, recorded study): ask the server for a challenge, record the camera while the
// steps show (MediaRecorder; time 0 of the clip is the prompt), upload the clip, get the verdict.
import { api } from "/static/api.js";

function recorderType() {
  for (const t of ["video/webm;codecs=vp8", "video/webm", "video/mp4"]) {
    if (window.MediaRecorder?.isTypeSupported?.(t)) return t;
  }
  return "";
}

/** Run one challenge on ``stream``; ``show(zh, en, action)`` displays each step. Resolves to the
 *  server's verdict ({passed, reasons, reasons_zh, reasons_en, ...}). */
export async function runChallenge(lessonId, stream, show, reason = "sign_in") {
  if (!window.MediaRecorder) throw new Error("MediaRecorder unavailable");
  const { challenge } = await api(`/api/lessons/${lessonId}/liveness`, { json: { reason } });
  const type = recorderType();
  const recorder = new MediaRecorder(stream, type ? { mimeType: type, videoBitsPerSecond: 400_000 } : {});
  const chunks = [];
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  const timers = [];
  recorder.start(1000);
  show("活体检测：请正对屏幕", "Liveness check: look at the screen", null);
  for (const step of challenge.steps) timers.push(setTimeout(() => show(step.zh, step.en, step.action), step.start * 1000));
  await new Promise((resolve) => setTimeout(resolve, challenge.seconds * 1000));
  timers.forEach(clearTimeout);
  recorder.stop();
  await stopped;
  show("正在核验…", "Checking…", null);
  const form = new FormData();
  const blob = new Blob(chunks, { type: recorder.mimeType || type || "video/webm" });
  form.append("clip", blob, blob.type.includes("mp4") ? "clip.mp4" : "clip.webm");
  return api(`/api/lessons/${lessonId}/liveness/${challenge.id}`, { form });
}

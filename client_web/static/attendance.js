// Attendance (ATT-2/3/4/7/8, SUP-1): "every figure must be explainable". Staff and supervisors get a
// class's table (sortable, misses in red, CSV export in the browser) and the ATT-8 roll-call windows;
// a student's detail shows, per lesson, a bar of the timeline that produced the figures (credited in
// green, each reason its own colour, legend zh/en), the face checks, liveness results, offline sign-ins
// and the ATT-7 days with the study photo. Students open their own: /attendance?class=ID&student=ID.
import {
  bi, COURSE_TYPES, fmtTime, get, getToken, h, hideBox, LESSON_MODES, query, renderTopbar, requireLogin, showError,
} from "/static/api.js";

const $ = (id) => document.getElementById(id);
const state = { me: null, classId: null, table: null, sort: { key: "name", dir: 1 }, photos: [] };
const LIVE_REASONS = ["not_connected", "lecturer_not_live", "page_hidden", "camera_off", "face_unverified", "liveness_failed"];
const STATUS = {
  present: ["出勤", "present"], absent: ["缺勤", "absent"], leave: ["请假", "on leave"], pending: ["未结束", "not over"],
  not_held: ["未开课", "not held"], not_judged: ["另计", "counted elsewhere"],
};
const HALF = { am: ["上午", "morning"], pm: ["下午", "afternoon"] };

// ---------------------------------------------------------------- formatting

const pct = (x) => (x == null ? "—" : `${Math.round(x * 1000) / 10}%`);
const mins = (s) => (s == null ? "—" : String(Math.round(s / 6) / 10));
/** "2025-10-13T08:30:30+08:00" → "08:30" (or "08:30:30") in Beijing time. */
function clock(iso, seconds = false) {
  if (!iso) return "—";
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t + 8 * 3600e3).toISOString().slice(11, seconds ? 19 : 16);
}
function span(seconds) {
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  return m ? `${m} 分${s ? ` ${s} 秒` : ""}` : `${s} 秒`;
}
const studentLink = (sid) => `/attendance?class=${state.classId}&student=${sid}`;

// ---------------------------------------------------------------- choosing a class

async function showPicker(me) {
  const { items } = await get("/api/classes");
  $("picker-card").hidden = false;
  $("picker").replaceChildren(...(items.length ? items.map((c) => h("li", {},
    h("a", { href: me.role === "student" ? `/attendance?class=${c.id}&student=${me.id}` : `/attendance?class=${c.id}`,
             "data-testid": "pick-class", "data-class-id": c.id },
      c.name, h("small", { class: "en" }, `${COURSE_TYPES[c.course_type] || c.course_type} · ${c.status}`)))) :
    [h("li", { class: "empty" }, ...bi("暂无班期", "No classes"))]));
}

// ---------------------------------------------------------------- the class table

async function loadClass() {
  const data = await get(`/api/classes/${state.classId}/attendance`);
  state.table = data;
  $("class-card").hidden = false;
  $("class-title").replaceChildren(data.class_name, h("small", { class: "en" },
    `班期 #${data.class_id} · ${data.course_type} · ${data.profile} · 已开始 ${data.lessons_started}/${data.lessons_total} 课次 lessons started`));
  const t = data.thresholds;
  $("class-thresholds").replaceChildren(
    `学时比例 ≥ ${pct(t.live_time_ATT3)}（ATT-3），出勤率 ≥ ${pct(t.attendance_ATT4)}（ATT-4）` +
    (t.max_absences_CLS7 != null ? `，缺勤＋请假 ≤ ${t.max_absences_CLS7} 次（CLS-7）` : "") + `；截至 ${fmtTime(data.as_of)}`,
    h("small", { class: "en" }, `Study ratio ≥ ${pct(t.live_time_ATT3)} (ATT-3), rate ≥ ${pct(t.attendance_ATT4)} (ATT-4)` +
      (t.max_absences_CLS7 != null ? `, absences + leaves ≤ ${t.max_absences_CLS7} (CLS-7)` : "") + "; red: not met"));
  renderTable();
}

function sorted(items) {
  const { key, dir } = state.sort;
  const val = (r) => (key === "name" ? r.student_name : key === "ratio" ? r.study_ratio ?? -1 : r.attendance_rate ?? -1);
  return items.slice().sort((a, b) => {
    const x = val(a), y = val(b);
    return (typeof x === "string" ? x.localeCompare(y, "zh-CN") : x - y) * dir || a.student_id - b.student_id;
  });
}

function renderTable() {
  for (const b of document.querySelectorAll("#att-table .sort")) {
    b.dataset.active = b.dataset.sort === state.sort.key ? (state.sort.dir > 0 ? "asc" : "desc") : "";
  }
  const items = sorted(state.table.items);
  const body = document.querySelector("#att-table tbody");
  body.replaceChildren(...(items.length ? items.map((r) => {
    const tr = h("tr", { class: "clickable", tabindex: 0, "data-testid": "att-row", "data-student-id": r.student_id },
      h("td", {}, h("a", { href: studentLink(r.student_id) }, r.student_name)),
      h("td", { class: "num" }, `${mins(r.study_seconds)} / ${mins(r.live_seconds)}`),
      h("td", { class: `num ${r.meets_live_time_ATT3 ? "" : "miss"}`, "data-col": "ratio" }, pct(r.study_ratio)),
      h("td", { class: "num" }, `${r.checks_passed} / ${r.checks_due}`),
      h("td", { class: `num ${r.meets_attendance_ATT4 ? "" : "miss"}`, "data-col": "rate" }, pct(r.attendance_rate)),
      h("td", { class: `num ${r.barred_from_exam ? "miss" : ""}`, title: r.explanation.zh }, `${r.absences} / ${r.leaves}`),
      h("td", { class: `num ${r.liveness_failed ? "warn" : ""}` }, `${r.liveness_passed} / ${r.liveness_failed}`));
    const open = (ev) => {
      if (ev.target.closest("a") && (ev.ctrlKey || ev.metaKey)) return;
      ev.preventDefault();
      history.pushState(null, "", studentLink(r.student_id));
      openStudent(r.student_id);
    };
    tr.addEventListener("click", open);
    tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(ev); });
    tr.classList.toggle("selected", String(r.student_id) === query("student"));
    return tr;
  }) : [h("tr", {}, h("td", { colspan: 7, class: "empty" }, ...bi("花名册为空", "The roster is empty")))]));
}

const CSV_COLUMNS = ["student_id", "student_name", "study_seconds", "live_seconds", "study_ratio", "meets_live_time_ATT3",
  "checks_passed", "checks_due", "attendance_rate", "meets_attendance_ATT4", "absences", "leaves", "barred_from_exam",
  "liveness_passed", "liveness_failed", "recorded_study_seconds"];

function exportCsv() {
  const cell = (v) => {
    const s = v == null ? "" : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [CSV_COLUMNS.join(","), ...sorted(state.table.items).map((r) => CSV_COLUMNS.map((c) => cell(r[c])).join(","))];
  const blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
  const a = h("a", { href: URL.createObjectURL(blob), download: `attendance-class-${state.classId}.csv` });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// ---------------------------------------------------------------- ATT-8 roll calls

async function loadRollCalls() {
  $("rollcall-card").hidden = false;
  try {
    const r = await get(`/api/classes/${state.classId}/roll-calls`);
    const windows = r.windows.map((w) => h("li", { class: "window", "data-ok": String(w.ok), "data-taught": String(w.taught),
      "data-testid": "rollcall-window" },
      h("strong", {}, `${w.from.slice(5)} – ${w.to.slice(5)}`),
      w.roll_calls.length ? h("span", {}, ...bi(`已点名 ${w.roll_calls.length} 次`, `${w.roll_calls.length} roll call(s)`)) :
      w.taught ? h("span", {}, ...bi("未点名", "no roll call")) : h("span", {}, ...bi("无课", "no lessons"))));
    const calls = r.roll_calls.map((c) => h("tr", {}, h("td", {}, fmtTime(c.at)), h("td", {}, c.by_name || `#${c.by}`),
      h("td", { class: "num" }, `${(c.selected || []).length} / ${c.needed ?? "—"}`),
      h("td", { class: "num" }, `${c.passed} / ${c.checked}`)));
    $("rollcalls").replaceChildren(
      h("p", { class: r.compliant ? "checks-ok" : "miss-line", "data-testid": "rollcall-compliant", "data-ok": String(r.compliant) },
        ...(r.compliant ? bi(`每 ${r.every_days} 天均已点名`, `Roll-called every ${r.every_days} days`)
                        : bi(`有授课的 ${r.every_days} 天窗口中缺少点名`, `Some ${r.every_days}-day windows with lessons had no roll call`))),
      h("p", { class: "muted" }, ...bi(`每次随机抽查至少 ${pct(r.share)} 的学员（ATT-8）`, `Each roll call checks a random ≥ ${pct(r.share)} of the class`)),
      h("ul", { class: "windows" }, ...windows),
      calls.length ? h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, ...[["时间", "When"], ["督导", "By"], ["抽查 / 应抽", "Selected / needed"],
          ["通过 / 已核验", "Passed / checked"]].map(([zh, en]) => h("th", {}, ...bi(zh, en))))),
        h("tbody", {}, ...calls))) : null);
  } catch (err) {
    showError($("rollcall-error"), err);
  }
}

// ---------------------------------------------------------------- one student

async function openStudent(studentId) {
  const box = $("student-detail");
  box.hidden = false;
  box.replaceChildren(h("section", { class: "card" }, h("p", { class: "empty" }, "加载中… Loading…")));
  for (const url of state.photos) URL.revokeObjectURL(url);
  state.photos = [];
  if (state.table) renderTable();
  let d;
  try {
    d = await get(`/api/classes/${state.classId}/attendance/${studentId}`);
  } catch (err) {
    const e = h("div", {});
    box.replaceChildren(h("section", { class: "card" }, e));
    showError(e, err);
    return;
  }
  const started = d.lessons.filter((l) => l.started);
  const later = d.lessons.length - started.length;
  box.replaceChildren(
    summaryCard(d), legendCard(d, started),
    h("section", { class: "card", id: "lessons-card" }, h("h3", {}, ...bi("每节课的时间线", "Each lesson's timeline")),
      ...(started.length ? started.map((l) => lessonBlock(l, d)) : [h("p", { class: "empty" }, ...bi("还没有已开始的课次", "No lesson has started yet"))]),
      later ? h("p", { class: "muted" }, ...bi(`另有 ${later} 个课次尚未开始`, `${later} more lesson(s) not started yet`)) : null),
    daysCard(d));
  if (state.me.role !== "student") box.scrollIntoView({ block: "start" });
}

function summaryCard(d) {
  const s = d.summary, t = d.thresholds;
  const fig = (zh, en, value, ok, attrs = {}) => [h("dt", {}, ...bi(zh, en)),
    h("dd", { class: ok === false ? "miss" : "", ...attrs }, value)];
  const back = state.me.role !== "student" && state.table ? h("a", { href: `/attendance?class=${state.classId}`, class: "button secondary small",
    onclick: (ev) => { ev.preventDefault(); history.pushState(null, "", `/attendance?class=${state.classId}`); closeStudent(); } },
  ...bi("返回班级", "Back to the class")) : null;
  return h("section", { class: "card", id: "student-summary", "data-student-id": d.student_id },
    h("div", { class: "section-title" }, h("h2", { id: "student-name" }, d.student_name,
      h("small", { class: "en" }, `${d.class_name} · 截至 as of ${fmtTime(d.as_of)}`)), h("span", { class: "spacer" }), back),
    h("dl", { class: "kv" },
      ...fig("学时 / 直播", "Study / live", `${mins(s.study_seconds)} / ${mins(s.live_seconds)} 分钟 min`),
      ...fig("学时比例", "Study ratio (ATT-3)", `${pct(s.study_ratio)}（要求 ≥ ${pct(t.live_time_ATT3)}）`, s.meets_live_time_ATT3,
        { "data-testid": "summary-ratio" }),
      ...fig("人脸核验", "Checks passed / due", `${s.checks_passed} / ${s.checks_due}`),
      ...fig("出勤率", "Attendance rate (ATT-4)", `${pct(s.attendance_rate)}（要求 ≥ ${pct(t.attendance_ATT4)}）`, s.meets_attendance_ATT4),
      ...fig("活体检测", "Liveness passed / failed", `${s.liveness_passed} / ${s.liveness_failed}`, s.liveness_failed ? false : null),
      ...fig("缺勤与请假", "Absences and leaves (CLS-7)", [s.explanation.zh, h("small", { class: "en" }, s.explanation.en)],
        s.barred_from_exam ? false : null),
      s.recorded_study_seconds ? fig("录播学习", "Recorded study (ATT-5)", `${mins(s.recorded_study_seconds)} 分钟 min`) : []));
}

function legendCard(d, lessons) {
  const seen = new Set(lessons.flatMap((l) => l.timeline.map((s) => s.reason || "credited")));
  const codes = ["credited", ...LIVE_REASONS, ...Object.keys(d.reasons).filter((c) => c !== "credited" && !LIVE_REASONS.includes(c) && seen.has(c))];
  return h("section", { class: "card", id: "legend-card" }, h("h3", {}, ...bi("图例", "Legend")),
    h("ul", { class: "legend", id: "legend", "data-testid": "legend" }, ...codes.map((c) => h("li", { "data-reason": c },
      h("span", { class: "swatch seg", "data-reason": c }), h("span", {}, d.reasons[c].zh, h("small", { class: "en" }, d.reasons[c].en)),
      h("small", { class: "rule" }, d.reasons[c].rule)))),
    h("p", { class: "muted" }, ...bi("每段时间按第一条未满足的规则着色：在线 → 讲师直播 → 页面在前台 → 摄像头 → 人脸 → 活体。",
      "Each stretch takes the colour of the first rule it failed: connected → lecturer live → page visible → camera → face → liveness.")));
}

function timelineBar(l) {
  const caption = h("p", { class: "seg-caption muted", "aria-live": "polite" }, ...bi("点按色段查看原因", "Tap a stretch to see why"));
  const describe = (s) => `${clock(s.start)}–${clock(s.end)} · ${span(s.seconds)} · ${s.reason_zh}`;
  const bar = h("div", { class: "timeline-bar", "data-testid": "timeline", "data-lesson-id": l.lesson_id, role: "list" },
    ...l.timeline.map((s) => {
      const seg = h("span", { class: "seg", role: "listitem", tabindex: 0, "data-testid": "segment",
        "data-reason": s.reason || "credited", "data-start": s.start, "data-end": s.end, style: `flex-grow:${s.seconds}`,
        title: `${describe(s)} ${s.reason_en}`, "aria-label": `${describe(s)} ${s.reason_en}` });
      const show = () => caption.replaceChildren(describe(s), h("small", { class: "en" }, s.reason_en));
      seg.addEventListener("click", show);
      seg.addEventListener("focus", show);
      return seg;
    }));
  const first = l.timeline[0], last = l.timeline[l.timeline.length - 1];
  return [bar, h("div", { class: "axis" }, h("span", {}, clock(first?.start)), h("span", {}, clock(last?.end))), caption];
}

function table(heads, rows) {
  return h("div", { class: "table-wrap" }, h("table", { class: "compact" },
    h("thead", {}, h("tr", {}, ...heads.map(([zh, en]) => h("th", {}, ...bi(zh, en))))), h("tbody", {}, ...rows)));
}

function lessonBlock(l) {
  const [zh, en] = STATUS[l.status_CLS7] || [l.status_CLS7 || "—", ""];
  const fails = l.face_checks.filter((c) => c.verdict !== "match").length;
  return h("article", { class: "lesson-att", "data-testid": "lesson", "data-lesson-id": l.lesson_id },
    h("div", { class: "lesson-head" }, h("strong", {}, l.title),
      h("span", { class: "muted" }, `${fmtTime(l.starts_at)}–${clock(l.ends_at)} · ${LESSON_MODES[l.mode] || l.mode} ${l.mode} · ${l.class_hours} 课时`),
      h("span", { class: `badge att-${l.status_CLS7}`, "data-status": l.status_CLS7 }, zh, h("small", { class: "en" }, en)),
      l.mode === "live" ? h("a", { class: "att-link", href: `/replay?lesson=${l.lesson_id}`, "data-testid": "replay-link" }, ...bi("回放", "Replay")) : null),
    h("p", { class: "lesson-figures" },
      h("span", { class: l.meets_live_time_ATT3 ? "" : "miss" }, `学时 ${mins(l.study_seconds)}/${mins(l.live_seconds)} 分（${pct(l.study_ratio)}）`),
      h("span", { class: l.meets_attendance_ATT4 ? "" : "miss" }, `核验 ${l.checks_passed}/${l.checks_due}（${pct(l.attendance_rate)}）`),
      l.reconnects ? h("span", {}, `重连 ${l.reconnects} 次`) : null,
      h("small", { class: "en" }, `study ${mins(l.study_seconds)} of ${mins(l.live_seconds)} live min · checks passed ${l.checks_passed} of ${l.checks_due}`)),
    ...timelineBar(l),
    h("details", { class: "att-more" }, h("summary", {}, ...bi(`时间段 ${l.timeline.length}`, "Stretches")),
      table([["开始", "From"], ["结束", "To"], ["时长", "Length"], ["原因", "Why"]], l.timeline.map((s) => h("tr", { "data-reason": s.reason || "credited" },
        h("td", {}, clock(s.start, true)), h("td", {}, clock(s.end, true)), h("td", { class: "num" }, span(s.seconds)),
        h("td", {}, h("span", { class: "swatch seg", "data-reason": s.reason || "credited" }), s.reason_zh, h("small", { class: "en" }, s.reason_en)))))),
    l.face_checks.length ? h("details", { class: "att-more", "data-testid": "face-checks" },
      h("summary", {}, ...bi(`人脸核验 ${l.face_checks.length} 次${fails ? `，未匹配 ${fails} 次` : ""}`, `Face checks (${fails} not matching)`)),
      table([["时间", "Time"], ["结果", "Verdict"], ["距离", "Distance"], ["来源", "Source"]], l.face_checks.map((c) => h("tr", { class: c.verdict === "match" ? "" : "miss" },
        h("td", {}, clock(c.at, true)), h("td", {}, c.verdict_zh, h("small", { class: "en" }, c.verdict)),
        h("td", { class: "num" }, c.distance == null ? "—" : Number(c.distance).toFixed(3)),
        h("td", {}, c.roll_call ? "督导点名 roll call" : c.source))))) : null,
    l.liveness.length ? h("div", { class: "att-list", "data-testid": "liveness" }, h("h4", {}, ...bi("活体检测", "Liveness checks")),
      h("ul", {}, ...l.liveness.map((v) => h("li", { class: v.passed ? "pass" : "miss", "data-passed": String(v.passed) },
        `${clock(v.at, true)} ${v.passed ? "✓ 通过 passed" : "✗ 未通过 failed"}`,
        v.reasons_zh.length ? `：${v.reasons_zh.join("、")}` : "", v.trigger ? h("small", { class: "en" }, `${v.trigger}${v.attempt ? ` · attempt ${v.attempt}` : ""}${v.reasons.length ? ` · ${v.reasons.join(", ")}` : ""}`) : null)))) : null,
    l.offline_sign_ins.length ? h("div", { class: "att-list", "data-testid": "offline-sign-ins" }, h("h4", {}, ...bi("线下签到", "Offline sign-ins (ATT-6)")),
      h("ul", {}, ...l.offline_sign_ins.map((x) => h("li", { class: x.accepted ? "pass" : "miss" },
        `${clock(x.at, true)} ${x.action === "sign_out" ? "签退 sign-out" : "签到 sign-in"} ${x.accepted ? "✓" : `✗ ${x.reason || ""}`}`,
        h("small", { class: "en" }, `距离 distance ${x.distance_m ?? "—"} m / 半径 radius ${x.radius_m ?? "—"} m · 精度 accuracy ${x.accuracy_m ?? "—"} m · face ${x.verdict || "—"}`))))) : null);
}

function daysCard(d) {
  const threshold = d.thresholds.daily_study_ATT7;
  const halfCell = (half) => (half ? `${clock(half.sign_in)} / ${clock(half.sign_out)}` : "—");
  const rows = d.days.map((day) => {
    const photo = h("td", {});
    if (day.study_photo_file_id) loadPhoto(photo, day.study_photo_file_id);
    else photo.append(h("span", { class: "muted" }, "—"));
    return h("tr", { "data-testid": "day", "data-day": day.day },
      h("td", {}, day.day), h("td", {}, halfCell(day.halves.am)), h("td", {}, halfCell(day.halves.pm)),
      h("td", { class: `num ${day.meets_daily_ATT7 === false ? "miss" : ""}` }, `${day.study_minutes} / ${day.planned_minutes}`),
      photo);
  });
  return h("section", { class: "card", id: "days-card" }, h("h3", {}, ...bi("每日签到与学习照片", "Each day: sign-in / sign-out and study photo (ATT-7)")),
    h("p", { class: "muted" }, ...bi(`半天的签到、签退取本人人脸首次与末次核验通过的时间（线下课取签到记录）${threshold != null ? `；每日学时须 ≥ 计划的 ${pct(threshold)}` : ""}。`,
      `Each half-day's sign-in and sign-out are the first and last matching face checks (offline: the sign-ins)${threshold != null ? `; daily study ≥ ${pct(threshold)} of the plan` : ""}.`)),
    d.days.length ? table([["日期", "Day"], [HALF.am[0] + " 签到/签退", `${HALF.am[1]} in / out`], [HALF.pm[0] + " 签到/签退", `${HALF.pm[1]} in / out`],
      ["学习 / 计划（分）", "Study / plan min"], ["学习照片", "Study photo"]], rows) : h("p", { class: "empty" }, ...bi("暂无", "None yet")));
}

/** The photo is served only with the bearer token, so it is fetched and shown from a blob URL. */
async function loadPhoto(cell, fileId) {
  try {
    const resp = await fetch(`/api/classes/${state.classId}/study-photos/${fileId}`, {
      headers: { Authorization: `Bearer ${getToken()}` }, cache: "no-store" });
    if (!resp.ok) throw new Error(String(resp.status));
    const url = URL.createObjectURL(await resp.blob());
    state.photos.push(url);
    const img = h("img", { src: url, alt: "学习照片 study photo", class: "study-photo", "data-testid": "study-photo", loading: "lazy" });
    img.addEventListener("click", () => img.classList.toggle("big"));
    cell.replaceChildren(img);
  } catch {
    cell.replaceChildren(h("span", { class: "muted" }, "照片不可用 unavailable"));
  }
}

function closeStudent() {
  $("student-detail").hidden = true;
  $("student-detail").replaceChildren();
  if (state.table) renderTable();
  $("class-card").scrollIntoView({ block: "start" });
}

// ---------------------------------------------------------------- start

async function main() {
  const me = await requireLogin(["student", "institution_admin", "lecturer", "assistant", "supervisor", "platform_admin"]);
  state.me = me;
  renderTopbar(me, "/attendance");
  const cls = query("class");
  if (!cls || !/^\d+$/.test(cls)) {
    await showPicker(me);
    return;
  }
  state.classId = Number(cls);
  const student = query("student");
  if (me.role === "student") {  // a student's own view: no class table, no roll calls
    await openStudent(student && /^\d+$/.test(student) ? student : me.id);
    return;
  }
  for (const b of document.querySelectorAll("#att-table .sort")) {
    b.addEventListener("click", (ev) => {
      ev.stopPropagation();
      state.sort = { key: b.dataset.sort, dir: state.sort.key === b.dataset.sort ? -state.sort.dir : b.dataset.sort === "name" ? 1 : -1 };
      renderTable();
    });
  }
  $("export-csv").addEventListener("click", exportCsv);
  window.addEventListener("popstate", () => {
    const s = query("student");
    if (s && /^\d+$/.test(s)) openStudent(s); else closeStudent();
  });
  try {
    await loadClass();
  } catch (err) {
    $("class-card").hidden = false;
    showError($("class-error"), err);
  }
  const detail = student && /^\d+$/.test(student) ? openStudent(student) : null;
  await Promise.all([loadRollCalls(), detail]);
  hideBox($("page-error"));
}

main().catch((err) => showError($("page-error"), err));

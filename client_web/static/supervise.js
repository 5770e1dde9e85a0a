// Supervision dashboard (SUP-1/2/3, SUP-4 entry, PLAT-3) for a desktop screen: the region overview,
// the classes (a 「进入旁听」 button on live lessons), the institutions, and one class in tabs — roster
// (masked by the server), teachers and certificates, schedule and progress, attendance, exams,
// certificates — with the ATT-9 daily summaries and LIVE-5 content warnings beside it. Every table
// comes from the server as {columns, items} and downloads as CSV or XLSX from the same endpoint
// (?format=), with the bearer token, under the server's Chinese file name. Nothing external (PLAT-2).
import {
  ApiFailure, bi, COURSE_TYPES, DELIVERY_MODES, fmtTime, get, getToken, h, hideBox, LEVEL_ZH, post, query,
  renderTopbar, requireLogin, showError, STATUS_ZH, statusBadge,
} from "/static/api.js";

const $ = (id) => document.getElementById(id);
const ROLES = ["supervisor", "platform_admin", "institution_admin"];
const SPECTATORS = ["supervisor", "platform_admin"];  // who may make a spectator link (server/api/spectatorlinks.py)
const state = { me: null, classes: null, detail: null, classId: null, tab: "roster" };
const TABS = [
  ["roster", "花名册", "Roster"], ["teachers", "师资与证书", "Teachers"], ["lessons", "课表与进度", "Schedule & progress"],
  ["attendance", "考勤", "Attendance"], ["exams", "考试", "Exams"], ["certificates", "证书", "Certificates"],
  ["eligibility", "结业资格", "Eligibility"], ["subsidy", "补贴花名册", "Subsidy roster"],
];
// Tabs read from their own endpoints when opened (they judge the whole course: a second or two).
const LAZY_TABS = {
  eligibility: { path: (id) => `/api/classes/${id}/eligibility`, zh: "结业资格（EXAM-3、CLS-7）",
    en: "Certificate eligibility: live time, attendance, plan, exam, absences", empty: ["暂无学员", "No students"] },
  subsidy: { path: (id) => `/api/classes/${id}/subsidy/roster`, zh: "补贴花名册（SUB-1、REG-4）",
    en: "Subsidy roster: amounts, supplements, duplicates", empty: ["暂无学员", "No students"] },
};
const LESSON_STATUS_CLASS = { planned: "", live: "live", in_progress: "live", done: "ok", not_held: "bad", cancelled: "muted" };

// ---------------------------------------------------------------- cells and tables

const GRADED = /^(meets_|valid_)/;
const BAD_WHEN_TRUE = new Set(["barred_from_exam", "blacklisted"]);
const pct = (x) => (x == null ? "—" : `${Math.round(x * 1000) / 10}%`);

function cell(col, row) {
  const v = row[col.key];
  if (v === null || v === undefined || v === "") return h("td", { class: /int|float|pct/.test(col.kind) ? "num" : "" }, "—");
  switch (col.kind) {
    case "int": case "float": return h("td", { class: "num" }, String(v));
    case "pct": return h("td", { class: "num" }, pct(v));
    case "bool": {  // green when it is good news: met, valid; red when it is not; barred / blacklisted the other way
      const good = BAD_WHEN_TRUE.has(col.key) ? !v : v;
      return h("td", { class: GRADED.test(col.key) || BAD_WHEN_TRUE.has(col.key) ? (good ? "yes" : "no") : "" }, v ? "是 ✓" : "否 ✗");
    }
    case "time": return h("td", { class: "nowrap" }, fmtTime(v));
    default: break;
  }
  if (col.key === "status_zh" && row.status_en) {  // a lesson's status (SUP-2)
    return h("td", {}, h("span", { class: `badge lesson-status ${LESSON_STATUS_CLASS[row.status] || ""}`, "data-status": row.status },
      v, h("small", { class: "en" }, row.status_en)));
  }
  if (col.key === "status_zh" && row.course_type && STATUS_ZH[row.status]) return h("td", {}, statusBadge(row.status));
  return h("td", {}, String(v));
}

/** A table from the server's column spec; `extra` adds trailing columns [{zh, en, render(row)}]. */
function table(spec, { extra = [], rowAttrs = () => ({}), empty = ["暂无数据", "No rows"], testid } = {}) {
  const cols = spec.columns;
  const head = h("tr", {}, ...cols.map((c) => h("th", { class: /int|float|pct/.test(c.kind) ? "num" : "" }, ...bi(c.zh, c.en))),
    ...extra.map((x) => h("th", {}, ...bi(x.zh, x.en))));
  const rows = spec.items.length ? spec.items.map((r) => h("tr", rowAttrs(r), ...cols.map((c) => cell(c, r)),
    ...extra.map((x) => h("td", { class: "nowrap" }, x.render(r))))) :
    [h("tr", {}, h("td", { colspan: cols.length + extra.length, class: "empty" }, ...bi(...empty)))];
  return h("div", { class: "table-wrap" }, h("table", { "data-testid": testid || null }, h("thead", {}, head), h("tbody", {}, ...rows)));
}

// ---------------------------------------------------------------- downloads (CSV / XLSX)

function filenameOf(resp, fallback) {
  const cd = resp.headers.get("content-disposition") || "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(cd);
  if (star) { try { return decodeURIComponent(star[1]); } catch { /* fall through */ } }
  const plain = /filename="([^"]+)"/i.exec(cd);
  return plain ? plain[1] : fallback;
}

async function download(path, fmt, box) {
  const url = `${path}${path.includes("?") ? "&" : "?"}format=${fmt}`;
  let resp;
  try {
    resp = await fetch(url, { headers: { Authorization: `Bearer ${getToken()}` }, cache: "no-store" });
  } catch {
    showError(box, new ApiFailure(0, { code: "NETWORK", message_zh: "网络连接失败", message_en: "Network error" }));
    return;
  }
  if (!resp.ok) {
    let error = { code: `HTTP_${resp.status}`, message_zh: `导出失败（HTTP ${resp.status}）`, message_en: `Export failed (HTTP ${resp.status})` };
    try { error = (await resp.json()).error || error; } catch { /* not JSON */ }
    showError(box, new ApiFailure(resp.status, error));
    return;
  }
  const blob = await resp.blob();
  const a = h("a", { href: URL.createObjectURL(blob), download: filenameOf(resp, `export.${fmt}`) });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

function exportButtons(path, box, name) {
  return h("span", { class: "export-buttons" }, ...["csv", "xlsx"].map((fmt) => {
    const b = h("button", { type: "button", class: "secondary small", "data-testid": `export-${name}-${fmt}` },
      `导出 ${fmt.toUpperCase()}`, h("small", { class: "en" }, `Export ${fmt.toUpperCase()}`));
    b.addEventListener("click", async () => {
      b.disabled = true;
      try { await download(path, fmt, box); } finally { b.disabled = false; }
    });
    return b;
  }));
}

// ---------------------------------------------------------------- SUP-4 spectator entry

function spectateButton(lessonId, title, box) {
  if (!lessonId || !SPECTATORS.includes(state.me.role)) return null;
  const b = h("button", { type: "button", class: "small spectate", "data-testid": "spectate", "data-lesson-id": lessonId,
    title: title || "" }, "进入旁听", h("small", { class: "en" }, "Enter as spectator"));
  b.addEventListener("click", async (ev) => {
    ev.stopPropagation();
    const win = window.open("about:blank", "_blank");  // opened in the click, so no popup blocker stops it
    b.disabled = true;
    try {
      const link = await post(`/api/lessons/${lessonId}/spectator-links`, {});
      if (!link || !link.url) throw new ApiFailure(409, { code: "NO_LINK", message_zh: "未能生成旁听链接", message_en: "No spectator link was returned" });
      const url = new URL(link.url, window.location.href).href;
      if (win) { win.opener = null; win.location.href = url; } else window.open(url, "_blank", "noopener");
    } catch (err) {
      if (win) win.close();
      showError(box || $("page-error"), err);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

// ---------------------------------------------------------------- overview

function stat(zh, en, value, sub) {
  return h("div", { class: "stat" }, h("div", { class: "value" }, String(value)), h("div", { class: "label" }, ...bi(zh, en)),
    sub ? h("div", { class: "sub muted" }, sub) : null);
}

async function loadOverview() {
  const o = await get("/api/supervision/overview");
  const sc = o.scope;
  $("scope-label").replaceChildren(...(sc.role === "supervisor" ? bi(`${LEVEL_ZH[sc.region_level] || ""}辖区 ${sc.region_code}`,
    `${sc.region_level} region ${sc.region_code}`) : sc.role === "platform_admin" ? bi("全平台", "whole platform") : bi("本机构", "own institution")));
  $("as-of").textContent = `截至 ${fmtTime(o.as_of)}`;
  const byStatus = Object.entries(o.classes.by_status).map(([s, n]) => `${STATUS_ZH[s] || s} ${n}`).join(" · ");
  $("stats").replaceChildren(
    stat("培训机构", "Institutions", o.institutions.total, `已审核 ${o.institutions.approved} · 黑名单 ${o.institutions.blacklisted}`),
    stat("班期", "Classes", o.classes.total, byStatus || "—"),
    stat("在训班期", "Running", o.classes.running, `待审核 ${o.classes.awaiting_review}`),
    stat("在读学员", "Students", o.students_enrolled),
    stat("今日课次", "Lessons today", o.lessons_today),
    stat("正在直播", "Live now", o.live_now.classes),
    stat("已过 / 计划课时", "Hours elapsed / planned", `${o.hours.elapsed} / ${o.hours.planned}`, "按课表 by schedule"));
  $("live-now").replaceChildren(...(o.live_now.items.length ? [h("ul", { class: "live-list" }, ...o.live_now.items.map((c) =>
    h("li", {}, h("span", { class: "dot" }), h("a", { href: `?class=${c.id}`, "data-class-id": c.id, onclick: openLink(c.id) }, c.name),
      h("span", { class: "muted" }, ` ${c.institution_name} · ${c.live_lesson_title || ""}`),
      spectateButton(c.spectate_lesson_id, c.live_lesson_title))))] : []));
}

// ---------------------------------------------------------------- classes and institutions

function classPath() {
  const p = new URLSearchParams();
  if ($("f-status").value) p.set("status", $("f-status").value);
  if ($("f-institution").value) p.set("institution_id", $("f-institution").value);
  if ($("f-live").checked) p.set("live_now", "true");
  const q = p.toString();
  return `/api/supervision/classes${q ? `?${q}` : ""}`;
}

const openLink = (id) => (ev) => {
  if (ev.ctrlKey || ev.metaKey) return;
  ev.preventDefault();
  openClass(id);
};

async function loadClasses() {
  hideBox($("classes-error"));
  const path = classPath();
  try {
    const data = await get(path);
    state.classes = data;
    document.querySelector('.export[data-table="classes"]').replaceChildren(exportButtons(path, $("classes-error"), "classes"));
    for (const it of data.items) it.delivery_mode = DELIVERY_MODES[it.delivery_mode] || it.delivery_mode;
    $("classes-table").replaceChildren(table(data, {
      testid: "classes", empty: ["没有符合条件的班期", "No classes match"],
      rowAttrs: (r) => ({ class: `clickable ${r.id === state.classId ? "selected" : ""}`, "data-testid": "class-row",
                          "data-class-id": r.id, "data-live": String(r.live_now), onclick: () => openClass(r.id) }),
      extra: [{ zh: "操作", en: "Actions", render: (r) => h("span", { class: "actions-cell" },
        h("a", { href: `?class=${r.id}`, onclick: openLink(r.id) }, "详情", h("small", { class: "en" }, "Detail")),
        spectateButton(r.spectate_lesson_id, r.spectate_lesson_title, $("classes-error"))) }],
    }));
  } catch (err) {
    showError($("classes-error"), err, $("class-filters"));
  }
}

async function loadInstitutions() {
  const path = "/api/supervision/institutions";
  try {
    const data = await get(path);
    document.querySelector('.export[data-table="institutions"]').replaceChildren(exportButtons(path, $("institutions-error"), "institutions"));
    const sel = $("f-institution");
    const keep = sel.value;
    sel.replaceChildren(h("option", { value: "" }, "全部 all"), ...data.items.map((i) => h("option", { value: i.id }, i.name)));
    sel.value = keep;
    $("institutions-table").replaceChildren(table(data, {
      testid: "institutions",
      rowAttrs: (r) => ({ class: "clickable", title: "筛选该机构的班期 Show its classes", onclick: () => {
        sel.value = String(r.id);
        loadClasses();
        $("classes-card").scrollIntoView({ behavior: "smooth" });
      } }),
    }));
  } catch (err) {
    showError($("institutions-error"), err);
  }
}

// ---------------------------------------------------------------- one class

function progressBar(p) {
  const total = p.hours_planned || 1;
  const part = (key, cls, zh, en) => (p[key] ? h("div", { class: `part ${cls}`, style: `flex-grow:${p[key] / total}`,
    title: `${zh} ${p[key]} 课时 · ${en}` }) : null);
  return h("div", { class: "progress-box" },
    h("div", { class: "progress-bar" }, part("hours_delivered", "done", "已授", "delivered"),
      part("hours_not_held", "not-held", "未授", "not held"), part("hours_now", "now", "进行中", "now"),
      part("hours_remaining", "left", "未开始", "remaining")),
    h("p", {}, `已授 ${p.hours_delivered} / 计划 ${p.hours_planned} 课时（${pct(p.delivered_share)}）`,
      p.hours_not_held ? h("span", { class: "bad" }, ` · 未授 ${p.hours_not_held}`) : null,
      p.hours_now ? ` · 进行中 ${p.hours_now}` : "", ` · 未开始 ${p.hours_remaining}`,
      p.required_hours_CLS4 != null ? h("span", { class: p.hours_planned < p.required_hours_CLS4 ? "bad" : "muted" },
        ` · 规定不少于 ${p.required_hours_CLS4}（CLS-4）`) : null,
      h("small", { class: "en" }, `Delivered ${p.hours_delivered} of ${p.hours_planned} class-hours; not held ${p.hours_not_held}, ` +
        `now ${p.hours_now}, remaining ${p.hours_remaining}. A live lesson counts as delivered only if its log shows the lecturer live.`)));
}

function panelHead(zh, en, path, name) {
  return h("div", { class: "section-title" }, h("h3", {}, ...bi(zh, en)), h("span", { class: "spacer" }),
    path ? exportButtons(path, $("detail-error"), name) : null);
}

function unavailable(part) {
  return h("div", { class: "unavailable", "data-testid": "unavailable" }, h("p", {}, part.note.zh), h("p", { class: "en" }, part.note.en),
    h("p", { class: "meta muted" }, (part.rules || []).join(" · ")));
}

function renderTab() {
  const d = state.detail;
  const base = `/api/supervision/classes/${d.class.id}`;
  for (const b of document.querySelectorAll("#tabs [role=tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === state.tab));
  let body;
  if (state.tab === "roster") {
    body = [panelHead("花名册（已脱敏）", "Roster, masked (PLAT-3)", `${base}/roster`, "roster"),
      table(d.roster, { testid: "roster", extra: [{ zh: "考勤时间线", en: "Timeline", render: (r) =>
        r.timeline_url ? h("a", { href: r.timeline_url, target: "_blank" }, "查看", h("small", { class: "en" }, "Open")) : "—" }] })];
  } else if (state.tab === "teachers") {
    body = [panelHead("师资与讲师证", "Teachers and certificates (CLS-2)", `${base}/teachers`, "teachers"),
      table(d.teachers, { testid: "teachers" })];
  } else if (state.tab === "lessons") {
    body = [panelHead("课表", "Schedule (SUP-2)", `${base}/lessons`, "lessons"),
      table(d.lessons, { testid: "lessons", rowAttrs: (r) => ({ "data-status": r.status }),
        extra: [{ zh: "旁听", en: "Spectate", render: (r) => (r.room_open ? spectateButton(r.lesson_id, r.title, $("detail-error")) : "") }] }),
      h("p", { class: "muted" }, ...bi("进度条见上方；直播课次仅在日志显示讲师开播时计为已授。",
        "Progress is shown above; a live lesson counts as delivered only if its log shows the lecturer live."))];
  } else if (state.tab === "attendance") {
    const a = d.attendance, t = a.thresholds;
    body = [h("p", { class: "muted" }, `已开始 ${a.lessons_started}/${a.lessons_total} 课次；学时比例 ≥ ${pct(t.live_time_ATT3)}（ATT-3），出勤率 ≥ ${pct(t.attendance_ATT4)}（ATT-4）` +
        (t.max_absences_CLS7 != null ? `，缺勤＋请假 ≤ ${t.max_absences_CLS7} 次（CLS-7）` : ""),
      h("small", { class: "en" }, `${a.lessons_started} of ${a.lessons_total} lessons started; figures as on the attendance page.`)),
      panelHead("按学员", "Per student (ATT-2)", `${base}/attendance?view=students`, "attendance-students"),
      table(a.students, { testid: "attendance-students", extra: [{ zh: "时间线", en: "Timeline", render: (r) =>
        h("a", { href: r.timeline_url, target: "_blank" }, "查看", h("small", { class: "en" }, "Open")) }] }),
      panelHead("按课次", "Per lesson", `${base}/attendance?view=lessons`, "attendance-lessons"),
      table(a.lessons, { testid: "attendance-lessons" })];
  } else if (LAZY_TABS[state.tab]) {
    const tab = state.tab, spec = LAZY_TABS[tab], path = spec.path(d.class.id);
    const slot = h("div", {}, h("p", { class: "empty" }, "加载中… Loading…"));
    body = [panelHead(spec.zh, spec.en, path, tab), slot];
    get(path).then((data) => {
      if (state.tab === tab && state.detail === d) slot.replaceChildren(table(data, { testid: tab, empty: spec.empty }));
    }).catch((err) => { if (err instanceof ApiFailure) { slot.replaceChildren(); showError($("detail-error"), err); } else throw err; });
  } else {
    const part = d[state.tab];
    body = [h("h3", {}, ...(state.tab === "exams" ? bi("考试内容与成绩", "Exam contents and results (SUP-3)") : bi("已发证书", "Certificates issued"))),
      part.available ? table(part, { testid: state.tab, empty: state.tab === "exams" ? ["尚未组卷", "No exam paper yet"] :
        ["尚未发证", "No certificate issued yet"] }) : unavailable(part)];
  }
  $("tab-panels").replaceChildren(h("div", { role: "tabpanel", "data-testid": `panel-${state.tab}` }, ...body));
}

async function openClass(id, push = true) {
  state.classId = id;
  if (push) history.pushState(null, "", `?class=${id}`);
  $("detail-card").hidden = false;
  hideBox($("detail-error"));
  $("tab-panels").replaceChildren(h("p", { class: "empty" }, "加载中… Loading…"));
  for (const tr of document.querySelectorAll("[data-testid=class-row]")) tr.classList.toggle("selected", tr.dataset.classId === String(id));
  try {
    const d = await get(`/api/supervision/classes/${id}`);
    if (state.classId !== id) return;
    state.detail = d;
    const c = d.class;
    $("detail-title").replaceChildren(c.name, " ", statusBadge(c.status),
      h("small", { class: "en" }, `#${c.id} · ${c.institution_name} · ${COURSE_TYPES[c.course_type] || c.course_type} · ` +
        `${DELIVERY_MODES[c.delivery_mode] || c.delivery_mode} · 区县 ${c.district_code} · 学员 ${c.students}`));
    $("detail-actions").replaceChildren(spectateButton(d.spectate_lesson_id, "", $("detail-error")) || "",
      h("a", { class: "button secondary small", href: `/attendance?class=${c.id}`, target: "_blank" }, "考勤明细", h("small", { class: "en" }, "Attendance page")));
    $("progress").replaceChildren(progressBar(d.progress));
    renderTab();
    $("detail-card").scrollIntoView({ behavior: "smooth", block: "start" });
    loadSidePanels(id);
  } catch (err) {
    $("tab-panels").replaceChildren();
    showError($("detail-error"), err);
  }
}

function closeClass() {
  state.classId = null;
  state.detail = null;
  $("detail-card").hidden = true;
  $("side-panels").hidden = true;
  history.pushState(null, "", window.location.pathname);
  for (const tr of document.querySelectorAll("[data-testid=class-row]")) tr.classList.remove("selected");
}

// ---------------------------------------------------------------- ATT-9 summaries, LIVE-5 warnings (other modules' endpoints)

function notYet(box, err) {
  if (err instanceof ApiFailure && (err.status === 404 || err.status === 405)) {
    box.replaceChildren(h("p", { class: "empty" }, ...bi("暂无数据（功能未上线）", "Nothing yet (not available)")));
  } else {
    box.replaceChildren(h("div", {}));
    showError(box.firstChild, err);
  }
}

/** ATT-9 figures (server/attendance/dailysummary.py) in a few readable cells; unknown shapes as key: value. */
function summaryCells(f) {
  const n = (x) => (x == null ? "—" : String(x));
  const known = f && f.lessons && f.students;
  if (!known) {
    return [h("td", { colspan: 5 }, h("ul", { class: "figures" }, ...Object.entries(f || {}).map(([k, v]) =>
      h("li", {}, h("span", { class: "k" }, k), " ", figureText(v)))))];
  }
  const qa = f.qa || {}, st = f.study || {}, cw = f.content_warnings || {};
  return [
    h("td", { class: "num" }, `${n(f.lessons.held)} / ${n(f.lessons.planned)}`, h("small", { class: "en" }, `${n(f.lessons.class_hours_delivered)} / ${n(f.lessons.class_hours_planned)} h`)),
    h("td", { class: "num" }, `${n(f.students.signed_in)} / ${n(f.students.enrolled)}`, h("small", { class: "en" }, `请假 leave ${n(f.students.on_leave)}`)),
    h("td", { class: "num" }, n(st.average_minutes), h("small", { class: "en" }, st.students_meeting_ATT7 != null ? `ATT-7 ✓ ${st.students_meeting_ATT7}` : "")),
    h("td", { class: "num" }, `${n(qa.answered)} / ${n(qa.questions)}`, h("small", { class: "en" }, f.homework == null ? "作业 — homework n/a" : `作业 布置 ${n(f.homework.set)} 提交 ${n(f.homework.submitted)} 批改 ${n(f.homework.checked)}`)),
    h("td", { class: `num ${cw.open ? "bad" : ""}` }, n(cw.total), h("small", { class: "en" }, `待处理 open ${n(cw.open)}`)),
  ];
}

function figureText(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") return String(Math.round(v * 100) / 100);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function highlighted(text, matches) {
  const spans = (matches || []).filter((m) => Number.isInteger(m.start) && Number.isInteger(m.end) && m.end > m.start)
    .sort((a, b) => a.start - b.start);
  const words = (matches || []).map((m) => m.word).filter(Boolean);
  if (!spans.length && words.length) {
    for (const w of words) {
      let i = text.indexOf(w);
      while (i >= 0) { spans.push({ start: i, end: i + w.length }); i = text.indexOf(w, i + w.length); }
    }
    spans.sort((a, b) => a.start - b.start);
  }
  const out = [];
  let at = 0;
  for (const s of spans) {
    if (s.start < at) continue;
    out.push(text.slice(at, s.start), h("mark", {}, text.slice(s.start, s.end)));
    at = s.end;
  }
  out.push(text.slice(at));
  return out;
}

async function loadSidePanels(id) {
  $("side-panels").hidden = false;
  const sum = $("summaries"), warn = $("warnings");
  sum.replaceChildren(h("p", { class: "empty" }, "加载中…"));
  warn.replaceChildren(h("p", { class: "empty" }, "加载中…"));
  get(`/api/daily-summaries?class_id=${id}`).then((r) => {
    if (state.classId !== id) return;
    const items = r.items || [];
    const heads = [["日期", "Day"], ["课次 已开 / 计划", "Lessons held / planned"], ["签到 / 在册", "Signed in / enrolled"],
      ["人均学习（分）", "Avg study min"], ["答疑 已答 / 提问", "Q&A answered / asked"], ["内容预警", "Warnings"]];
    sum.replaceChildren(items.length ? h("div", { class: "table-wrap" }, h("table", { class: "compact" },
      h("thead", {}, h("tr", {}, ...heads.map(([zh, en], i) => h("th", { class: i ? "num" : "" }, ...bi(zh, en))))),
      h("tbody", {}, ...items.map((it) => h("tr", { "data-testid": "summary-row" },
        h("td", { class: "nowrap" }, it.day), ...summaryCells(it.figures)))))) :
      h("p", { class: "empty" }, ...bi("暂无每日汇总", "No daily summaries yet")));
  }).catch((err) => notYet(sum, err));
  get(`/api/content-warnings?class_id=${id}`).then((r) => {
    if (state.classId !== id) return;
    const items = r.items || r.warnings || [];
    warn.replaceChildren(items.length ? h("ul", { class: "warning-list" }, ...items.map((it) => h("li", { "data-testid": "warning",
      "data-status": it.status }, h("div", { class: "warning-head" }, h("span", { class: "muted" }, fmtTime(it.at)),
      h("span", { class: `badge warn-${it.status}` }, it.status === "open" ? "待处理" : it.status === "reviewed" ? "已处理" : it.status,
        h("small", { class: "en" }, it.status))),
      h("p", {}, ...highlighted(String(it.text || ""), it.matches)))))
      : h("p", { class: "empty" }, ...bi("暂无内容预警", "No content warnings")));
  }).catch((err) => notYet(warn, err));
}

// ---------------------------------------------------------------- start

async function refresh() {
  hideBox($("page-error"));
  try {
    await Promise.all([loadOverview(), loadInstitutions(), loadClasses()]);
  } catch (err) {
    showError($("page-error"), err);
  }
}

async function main() {
  state.me = await requireLogin(ROLES);
  renderTopbar(state.me, "/supervise");
  $("f-status").append(...Object.entries(STATUS_ZH).map(([k, zh]) => h("option", { value: k }, `${zh} ${k}`)));
  $("tabs").replaceChildren(...TABS.map(([key, zh, en]) => {
    const b = h("button", { type: "button", role: "tab", class: "tab", "data-tab": key, "data-testid": `tab-${key}` }, ...bi(zh, en));
    b.addEventListener("click", () => { state.tab = key; if (state.detail) renderTab(); });
    return b;
  }));
  for (const id of ["f-status", "f-institution", "f-live"]) $(id).addEventListener("change", loadClasses);
  $("refresh").addEventListener("click", () => { refresh(); if (state.classId) openClass(state.classId, false); });
  $("detail-close").addEventListener("click", closeClass);
  window.addEventListener("popstate", () => {
    const id = Number(query("class"));
    if (id) openClass(id, false); else if (state.classId) closeClass();
  });
  await refresh();
  const id = Number(query("class"));
  if (id) openClass(id, false);
}

main().catch((err) => showError($("page-error"), err));

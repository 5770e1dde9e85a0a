// Class planner for institution admins: create a class, plan lessons, lecturers, assistants and the
// roster, sign the commitment letter, run the pre-submission checks (CLS-*) and submit for review.
import {
  ACTION_ZH, bi, COURSE_TYPES, del, DELIVERY_MODES, fmtTime, fromLocalInput, get, h, LESSON_MODES, LEVEL_ZH, patch,
  post, put, renderTopbar, requireLogin, ROLE_ZH, showError, showNotice, STATUS_ZH, statusBadge, TARGET_GROUPS, toLocalInput,
  violationList, withBusy,
} from "/static/api.js";

const EDITABLE = ["draft", "rejected"];
const state = { me: null, classes: [], lecturers: [], assistants: [], staff: [], students: null, cls: null };
const detail = document.getElementById("class-detail");

function options(select, entries, { blank, value } = {}) {
  select.replaceChildren(
    ...(blank ? [h("option", { value: "" }, blank)] : []),
    ...entries.map(([v, label]) => h("option", { value: v }, label)));
  if (value !== undefined && value !== null) select.value = String(value);
}

const courseEntries = () => Object.entries(COURSE_TYPES).map(([k, zh]) => [k, `${k} · ${zh}`]);
const modeEntries = () => Object.entries(DELIVERY_MODES).map(([k, zh]) => [k, `${zh} · ${k}`]);
const staffEntries = () => state.staff.map((u) => [u.id, `${u.display_name}（${ROLE_ZH[u.role] || u.role}）`]);

function pendingText(level) {
  return level ? [`待${LEVEL_ZH[level] || level}人社部门审核`, h("small", { class: "en" }, `awaiting ${level}-level HR review`)]
               : ["—"];
}

// ---------------------------------------------------------------- class list and creation

async function loadClasses() {
  const { items } = await get("/api/classes");
  state.classes = items;
  const body = document.querySelector("#class-list tbody");
  if (!items.length) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 2, class: "empty" }, ...bi("还没有班期", "No classes yet"))));
    return;
  }
  body.replaceChildren(...items.map((c) => {
    const tr = h("tr", { class: "clickable", "data-testid": "class-row", "data-class-id": c.id, tabindex: 0 },
      h("td", {}, h("strong", {}, c.name),
        h("small", { class: "en" }, `${c.course_type} · ${DELIVERY_MODES[c.delivery_mode] || c.delivery_mode} · ${c.class_hours} 课时 h · ${c.lesson_count} 课次 lessons`)),
      h("td", {}, statusBadge(c.status), c.pending_level ? h("small", { class: "en" }, `待${LEVEL_ZH[c.pending_level]} ${c.pending_level}`) : null));
    tr.addEventListener("click", () => openClass(c.id));
    tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") openClass(c.id); });
    if (state.cls && state.cls.id === c.id) tr.classList.add("selected");
    return tr;
  }));
}

function setupCreateForm() {
  const form = document.getElementById("create-class-form");
  options(document.getElementById("new-course-type"), courseEntries(), { value: "SYB" });
  options(document.getElementById("new-delivery-mode"), modeEntries(), { value: "live" });
  options(document.getElementById("new-head-teacher"), staffEntries(), { blank: "（稍后指定 · later）" });
  const box = document.getElementById("create-error");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = document.getElementById("create-class-submit");
    await withBusy(button, box, form, async () => {
      const head = form.head_teacher_id.value;
      const cls = await post("/api/classes", {
        name: form.name.value.trim(), course_type: form.course_type.value, delivery_mode: form.delivery_mode.value,
        ...(head ? { head_teacher_id: Number(head) } : {}),
      });
      form.name.value = "";
      await loadClasses();
      await openClass(cls.id);
    });
  });
}

// ---------------------------------------------------------------- one class

function section(key, zh, en, ...children) {
  return h("section", { class: "card", id: `section-${key}`, "data-section": key },
    h("div", { class: "section-title" }, h("h3", {}, ...bi(zh, en)), h("span", { class: "section-flag" })),
    ...children);
}

async function openClass(id) {
  const cls = await get(`/api/classes/${id}`);
  state.cls = cls;
  if (window.location.hash !== `#class-${id}`) history.replaceState(null, "", `#class-${id}`);
  document.querySelectorAll("#class-list tr").forEach((tr) =>
    tr.classList.toggle("selected", tr.dataset.classId === String(id)));
  renderDetail(cls);
  await Promise.all([runChecks(), loadHistory()]);
}

async function refresh() {
  state.students = (await get("/api/students")).items;
  await loadClasses();
  if (state.cls) await openClass(state.cls.id);
}

function renderDetail(cls) {
  const editable = EDITABLE.includes(cls.status);
  detail.replaceChildren(
    summaryCard(cls, editable),
    checksCard(),
    basicsCard(cls, editable),
    lessonsCard(cls, editable),
    lecturersCard(cls, editable),
    assistantsCard(cls, editable),
    rosterCard(cls, editable),
    commitmentCard(cls, editable),
    historyCard(),
  );
  if (!editable) {
    for (const key of ["basics", "lessons", "lecturers", "assistants", "roster", "commitment"]) {
      const sec = document.getElementById(`section-${key}`);
      sec.querySelectorAll("input, select, textarea, button").forEach((n) => { n.disabled = true; });
    }
  }
}

function summaryCard(cls, editable) {
  const box = h("div", { id: "workflow-error", hidden: true });
  const actions = h("div", { class: "actions", id: "workflow-actions" });
  const add = (action, id, cssClass, zh, en) => {
    const b = h("button", { type: "button", id, class: cssClass, "data-action": action }, ...bi(zh, en));
    b.addEventListener("click", () => transition(action, b, box));
    actions.append(b);
  };
  if (editable) add("submit", "submit-class", "", "提交审核", "Submit for review");
  if (cls.status === "submitted") add("withdraw", "action-withdraw", "secondary", "撤回", "Withdraw");
  if (!editable && !cls.pending_level && /_(approved|confirmed)$/.test(cls.status)) add("open", "action-open", "ok", "开班", "Open");
  if (cls.status === "open") add("start", "action-start", "ok", "开课", "Start");
  if (cls.status === "in_progress") add("finish", "action-finish", "secondary", "结业", "Finish");
  if (cls.status === "finished") add("archive", "action-archive", "secondary", "归档", "Archive");
  return h("section", { class: "card", id: "section-summary", "data-class-id": cls.id },
    h("h2", { id: "class-name" }, cls.name, h("small", { class: "en" }, `班期 #${cls.id} · ${cls.institution_name}`)),
    h("dl", { class: "kv" },
      h("dt", {}, ...bi("状态", "Status")), h("dd", {}, statusBadge(cls.status, { id: "class-status" })),
      h("dt", {}, ...bi("待审级别", "Pending level")),
      h("dd", { id: "class-pending-level", "data-level": cls.pending_level || "" }, ...pendingText(cls.pending_level)),
      h("dt", {}, ...bi("培训项目", "Course")), h("dd", {}, `${cls.course_type} · ${COURSE_TYPES[cls.course_type] || ""}`),
      h("dt", {}, ...bi("授课方式", "Delivery")), h("dd", {}, `${DELIVERY_MODES[cls.delivery_mode] || ""} (${cls.delivery_mode})`),
      h("dt", {}, ...bi("地区政策 / 区县", "Profile / district")), h("dd", {}, `${cls.profile} · ${cls.district_code}`),
      h("dt", {}, ...bi("课时 / 课次", "Hours / lessons")), h("dd", { id: "class-hours" }, `${cls.class_hours} 课时 · ${cls.lesson_count} 课次`),
      h("dt", {}, ...bi("首课", "First lesson")), h("dd", {}, fmtTime(cls.first_lesson)),
      h("dt", {}, ...bi("学员人数", "Students")), h("dd", { id: "roster-count" }, String(cls.roster.length))),
    editable ? null : h("p", { class: "muted", id: "locked-note" }, "计划已提交或已通过审核，不能修改（退回后可再修改）。",
      h("small", { class: "en" }, "The plan is under review or approved and cannot change (it can again if rejected).")),
    actions, box);
}

async function transition(action, button, box) {
  if (action === "withdraw" && !confirm("确定撤回审核申请？ Withdraw the submission?")) return;
  await withBusy(button, box, null, async () => {
    await post(`/api/classes/${state.cls.id}/transitions`, { action });
    await refresh();
    showNotice(document.getElementById("workflow-error"), `已${ACTION_ZH[action] || action}`, `Done: ${action}`);
  });
  if (!box.hidden && box.className === "error-box") await runChecks();
}

// ---- basics (PATCH)
function basicsCard(cls) {
  const form = h("form", { id: "class-edit-form", novalidate: true },
    h("div", { class: "row" },
      h("div", { class: "field" }, h("label", { for: "edit-name" }, ...bi("班期名称", "Name")),
        h("input", { id: "edit-name", name: "name", type: "text", maxlength: 200, value: cls.name })),
      h("div", { class: "field" }, h("label", { for: "edit-delivery-mode" }, ...bi("授课方式", "Delivery mode")),
        h("select", { id: "edit-delivery-mode", name: "delivery_mode" })),
      h("div", { class: "field" }, h("label", { for: "edit-head-teacher" }, ...bi("班主任", "Head teacher")),
        h("select", { id: "edit-head-teacher", name: "head_teacher_id" }))),
    h("div", { id: "class-edit-error", hidden: true }),
    h("button", { type: "submit", id: "save-class", class: "secondary" }, ...bi("保存", "Save")));
  options(form.querySelector("#edit-delivery-mode"), modeEntries(), { value: cls.delivery_mode });
  options(form.querySelector("#edit-head-teacher"), staffEntries(), { blank: "（未指定 · none）", value: cls.head_teacher_id ?? "" });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    await withBusy(form.querySelector("#save-class"), form.querySelector("#class-edit-error"), form, async () => {
      const head = form.head_teacher_id.value;
      await patch(`/api/classes/${cls.id}`, {
        name: form.name.value.trim(), delivery_mode: form.delivery_mode.value,
        head_teacher_id: head ? Number(head) : null,
      });
      await refresh();
    });
  });
  return section("basics", "基本信息", "Basics", form);
}

// ---- lessons (PUT, ISO datetimes with +08:00)

/** CLS-6 / ATT-6: an offline lesson's venue, where students sign in with face + location. */
function venueCell(venue, mode) {
  const v = venue || {};
  const input = (name, attrs) => h("input", { name: `venue.${name}`, ...attrs });
  const datum = h("select", { name: "venue.datum", title: "坐标系 Coordinate datum" });
  options(datum, [["wgs84", "GPS / 手机定位 WGS-84"], ["gcj02", "高德·腾讯地图 GCJ-02"]], { value: v.datum || "wgs84" });
  const lat = input("latitude", { type: "number", step: "any", min: -90, max: 90, placeholder: "纬度 lat", value: v.latitude ?? "", style: "width:7.5em" });
  const lon = input("longitude", { type: "number", step: "any", min: -180, max: 180, placeholder: "经度 lon", value: v.longitude ?? "", style: "width:7.5em" });
  const here = h("button", { type: "button", class: "secondary small", title: "用本机当前位置 Use this device's location" }, "定位");
  here.addEventListener("click", () => navigator.geolocation?.getCurrentPosition((p) => {
    lat.value = p.coords.latitude.toFixed(6);
    lon.value = p.coords.longitude.toFixed(6);
    datum.value = "wgs84";
  }, () => alert("无法获取位置 Location unavailable"), { enableHighAccuracy: true }));
  const cell = h("td", { class: "venue-cell", "data-testid": "lesson-venue" },
    input("name", { type: "text", placeholder: "地点名称 Venue", value: v.name || "", maxlength: 200 }),
    h("div", { class: "row", style: "gap:4px;flex-wrap:nowrap;align-items:center" }, lat, lon, here),
    h("div", { class: "row", style: "gap:4px;flex-wrap:nowrap;align-items:center" },
      input("radius_m", { type: "number", min: 20, max: 5000, placeholder: "半径 200 m", value: v.radius_m ?? "", style: "width:7em", title: "签到半径（米）Sign-in radius, metres" }),
      datum));
  cell.hidden = mode !== "offline";
  return cell;
}

function readVenue(tr) {
  const v = (name) => tr.querySelector(`[name="venue.${name}"]`).value.trim();
  if (tr.querySelector("[name=mode]").value !== "offline") return null;
  return { name: v("name"), latitude: v("latitude") === "" ? null : Number(v("latitude")),
           longitude: v("longitude") === "" ? null : Number(v("longitude")),
           radius_m: v("radius_m") === "" ? null : Number(v("radius_m")), datum: v("datum") };
}

function lessonRow(lesson, lecturers) {
  const sel = h("select", { name: "lecturer_id" });
  options(sel, lecturers.map((l) => [l.user_id, l.display_name]), { blank: "—", value: lesson.lecturer_id ?? "" });
  const mode = h("select", { name: "mode" });
  options(mode, Object.entries(LESSON_MODES).map(([k, zh]) => [k, `${zh} ${k}`]), { value: lesson.mode || "live" });
  const remove = h("button", { type: "button", class: "danger small", title: "删除 Remove", "data-testid": "remove-lesson" }, "✕");
  const tr = h("tr", { "data-testid": "lesson-row" },
    h("td", {}, h("input", { name: "title", type: "text", value: lesson.title || "", maxlength: 200 })),
    h("td", {}, h("input", { name: "starts_at", type: "datetime-local", value: toLocalInput(lesson.starts_at) })),
    h("td", {}, h("input", { name: "ends_at", type: "datetime-local", value: toLocalInput(lesson.ends_at) })),
    h("td", {}, mode),
    h("td", {}, h("input", { name: "class_hours", type: "number", min: 1, max: 16, value: lesson.class_hours ?? 4, style: "width:5em" })),
    h("td", {}, sel),
    venueCell(lesson.venue, lesson.mode || "live"),
    h("td", {}, remove));
  remove.addEventListener("click", () => { tr.remove(); renumberLessons(); });
  mode.addEventListener("change", () => { tr.querySelector(".venue-cell").hidden = mode.value !== "offline"; });
  return tr;
}

function renumberLessons() {
  document.querySelectorAll("#lessons-table tbody tr").forEach((tr, i) => {
    tr.dataset.field = `lessons.${i}`;
    tr.querySelectorAll("[name]").forEach((n) => { n.dataset.field = `lessons.${i}.${n.name === "lecturer_id" ? "lecturer_id" : n.name}`; });
  });
  const total = [...document.querySelectorAll("#lessons-table input[name=class_hours]")].reduce((a, n) => a + (+n.value || 0), 0);
  const sum = document.getElementById("lessons-total");
  if (sum) sum.textContent = `合计 ${total} 课时 · total ${total} class-hours`;
}

function nextDay(localValue) {
  if (!localValue) return "";
  const t = Date.parse(`${localValue}:00Z`) + 24 * 3600 * 1000;
  return new Date(t).toISOString().slice(0, 16);
}

function lessonsCard(cls) {
  const tbody = h("tbody", {}, ...cls.lessons.map((l) => lessonRow(l, cls.lecturers)));
  const table = h("table", { id: "lessons-table", "data-field": "lessons" },
    h("thead", {}, h("tr", {},
      h("th", {}, ...bi("课次名称", "Title")), h("th", {}, ...bi("开始（北京时间）", "Starts, Beijing time")),
      h("th", {}, ...bi("结束", "Ends")), h("th", {}, ...bi("方式", "Mode")), h("th", {}, ...bi("课时", "Hours")),
      h("th", {}, ...bi("讲师", "Lecturer")), h("th", {}, ...bi("线下地点", "Offline venue")), h("th", {}))),
    tbody);
  const add = h("button", { type: "button", id: "add-lesson", class: "secondary" }, ...bi("添加课次", "Add lesson"));
  add.addEventListener("click", () => {
    const rows = tbody.querySelectorAll("tr");
    const last = rows[rows.length - 1];
    let lesson = { title: `第${rows.length + 1}课`, mode: cls.delivery_mode === "offline" ? "offline" : "live", class_hours: 4 };
    if (last) {
      const v = (name) => last.querySelector(`[name=${name}]`).value;
      lesson = { ...lesson, mode: v("mode"), class_hours: +v("class_hours") || 4, lecturer_id: v("lecturer_id") || null,
                 venue: readVenue(last),
                 starts_at: v("starts_at") ? fromLocalInput(nextDay(v("starts_at"))) : null,
                 ends_at: v("ends_at") ? fromLocalInput(nextDay(v("ends_at"))) : null };
    }
    tbody.append(lessonRow(lesson, cls.lecturers));
    renumberLessons();
  });
  tbody.addEventListener("input", renumberLessons);
  const box = h("div", { id: "lessons-error", hidden: true });
  const save = h("button", { type: "button", id: "save-lessons" }, ...bi("保存课程表", "Save schedule"));
  save.addEventListener("click", () => withBusy(save, box, table, async () => {
    const lessons = [...tbody.querySelectorAll("tr")].map((tr) => {
      const v = (name) => tr.querySelector(`[name=${name}]`).value;
      return { title: v("title").trim(), starts_at: fromLocalInput(v("starts_at")), ends_at: fromLocalInput(v("ends_at")),
               mode: v("mode"), class_hours: Number(v("class_hours")), lecturer_id: v("lecturer_id") ? Number(v("lecturer_id")) : null,
               venue: readVenue(tr) };
    });
    await put(`/api/classes/${cls.id}/lessons`, { lessons });
    await refresh();
  }));
  const card = section("lessons", "课程表", "Schedule",
    h("p", { class: "muted" }, "时间均为北京时间（UTC+8）。“添加课次”会复制上一课次到次日。",
      h("small", { class: "en" }, "All times are Beijing time (UTC+8). “Add lesson” copies the last lesson to the next day.")),
    h("div", { class: "table-wrap" }, table),
    h("p", { id: "lessons-total", class: "muted" }),
    box, h("div", { class: "actions" }, add, save));
  queueMicrotask(renumberLessons);
  return card;
}

// ---- lecturers (PUT with is_lead)
function lecturersCard(cls) {
  const chosen = new Map(cls.lecturers.map((l) => [l.user_id, l]));
  const rows = state.lecturers.map((u) => {
    const cert = u.certificate;
    return h("tr", { "data-testid": "lecturer-row", "data-user-id": u.id },
      h("td", {}, h("input", { type: "checkbox", name: "lecturer", value: u.id, checked: chosen.has(u.id),
                               id: `lecturer-${u.id}`, "aria-label": u.display_name })),
      h("td", {}, h("label", { for: `lecturer-${u.id}` }, u.display_name), h("small", { class: "en" }, u.username)),
      h("td", {}, cert ? [cert.number, h("small", { class: "en" }, `${cert.kind} · ${cert.issuer}`)] : "—"),
      h("td", {}, cert ? [`至 ${cert.valid_until}`,
        h("small", { class: "en" }, cert.valid_today ? "今日有效 valid today" : "今日无效 not valid today")] : "无证书 none"),
      h("td", {}, h("input", { type: "radio", name: "lead", value: u.id, checked: !!chosen.get(u.id)?.is_lead,
                               "aria-label": `${u.display_name} 教学组长` })));
  });
  const table = h("table", { id: "lecturers-table", "data-field": "lecturers" },
    h("thead", {}, h("tr", {}, h("th", {}, ...bi("选用", "Use")), h("th", {}, ...bi("讲师", "Lecturer")),
      h("th", {}, ...bi("讲师证", "Certificate")), h("th", {}, ...bi("有效期", "Valid until")),
      h("th", {}, ...bi("教学组长", "Lead")))),
    h("tbody", {}, ...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 5, class: "empty" }, ...bi("本机构还没有讲师", "No lecturers yet")))])));
  const box = h("div", { id: "lecturers-error", hidden: true });
  const save = h("button", { type: "button", id: "save-lecturers" }, ...bi("保存讲师", "Save lecturers"));
  save.addEventListener("click", () => withBusy(save, box, table, async () => {
    const lead = table.querySelector("input[name=lead]:checked")?.value;
    const lecturers = [...table.querySelectorAll("input[name=lecturer]:checked")].map((n) =>
      ({ user_id: Number(n.value), is_lead: n.value === lead }));
    await put(`/api/classes/${cls.id}/lecturers`, { lecturers });
    await refresh();
  }));
  return section("lecturers", "讲师", "Lecturers (CLS-2)", h("div", { class: "table-wrap" }, table), box,
    h("div", { class: "actions" }, save));
}

// ---- assistants (PUT; groups dealt evenly by the server)
function assistantsCard(cls) {
  const current = new Map(cls.assistants.map((a) => [a.user_id, a]));
  const list = h("div", { id: "assistants-list", "data-field": "assistant_ids" }, ...(state.assistants.length ? state.assistants.map((u) =>
    h("label", { class: "check-field", style: "font-weight:normal;padding:6px 0" },
      h("input", { type: "checkbox", name: "assistant", value: u.id, checked: current.has(u.id), "data-testid": "assistant-checkbox" }),
      h("span", {}, u.display_name, h("small", { class: "en" },
        current.has(u.id) ? `分组 ${current.get(u.id).students.length} 名学员 · group of ${current.get(u.id).students.length}` : u.username)))) :
    [h("p", { class: "empty" }, ...bi("本机构还没有助教账号", "No assistant accounts yet"))]));
  const box = h("div", { id: "assistants-error", hidden: true });
  const save = h("button", { type: "button", id: "save-assistants" }, ...bi("保存助教（自动均分学员）", "Save assistants (students dealt evenly)"));
  save.addEventListener("click", () => withBusy(save, box, list, async () => {
    const ids = [...list.querySelectorAll("input[name=assistant]:checked")].map((n) => Number(n.value));
    await put(`/api/classes/${cls.id}/assistants`, { assistant_ids: ids });
    await refresh();
  }));
  return section("assistants", "助教与分组", "Assistants and groups", list, box, h("div", { class: "actions" }, save));
}

// ---- roster (POST enrolments {student_id} or {id_number}; DELETE to withdraw)
function rosterCard(cls, editable) {
  const names = new Map(state.assistants.map((u) => [u.id, u.display_name]));
  const rows = cls.roster.map((s) => {
    const out = h("button", { type: "button", class: "danger small", "data-testid": "withdraw-student" }, ...bi("退班", "Withdraw"));
    out.addEventListener("click", async () => {
      if (!confirm(`确定让 ${s.real_name} 退班？ Withdraw ${s.real_name}?`)) return;
      await withBusy(out, document.getElementById("roster-error"), null, async () => {
        await del(`/api/classes/${cls.id}/enrolments/${s.id}`);
        await refresh();
      });
    });
    return h("tr", { "data-testid": "roster-row", "data-student-id": s.id },
      h("td", {}, s.real_name), h("td", { class: "masked" }, s.id_number_masked),
      h("td", {}, TARGET_GROUPS[s.target_group] || s.target_group), h("td", {}, names.get(s.assistant_id) || "—"), h("td", {}, editable ? out : null));
  });
  const table = h("table", { id: "roster-table" },
    h("thead", {}, h("tr", {}, h("th", {}, ...bi("姓名", "Name")), h("th", {}, ...bi("身份证号（脱敏）", "ID, masked")),
      h("th", {}, ...bi("类别", "Group")), h("th", {}, ...bi("助教", "Assistant")), h("th", {}))),
    h("tbody", {}, ...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 5, class: "empty" }, ...bi("花名册为空", "The roster is empty")))])));

  const enrolled = new Set(cls.roster.map((s) => s.id));
  const pick = h("select", { id: "enrol-student", name: "student_id" });
  const filter = h("input", { id: "enrol-filter", type: "search", placeholder: "筛选姓名 · filter" });
  const fill = () => {
    const q = filter.value.trim();
    const candidates = (state.students || []).filter((s) => !enrolled.has(s.id) && (!q || s.real_name.includes(q)));
    options(pick, candidates.map((s) => [s.id, `${s.real_name} · ${s.id_number_masked}`]),
      { blank: candidates.length ? "选择已在本机构注册的学员 · choose a student" : "没有可加入的学员 · none available" });
  };
  filter.addEventListener("input", fill);
  fill();
  const form = h("div", { id: "enrol-form" },
    h("div", { class: "row" },
      h("div", { class: "field" }, h("label", { for: "enrol-filter" }, ...bi("筛选", "Filter")), filter),
      h("div", { class: "field", style: "flex:2 1 260px" }, h("label", { for: "enrol-student" }, ...bi("学员", "Student")), pick)),
    h("div", { class: "row" },
      h("div", { class: "field", style: "flex:2 1 260px" },
        h("label", { for: "enrol-id-number" }, ...bi("或按身份证号添加（在其他机构注册的学员）", "Or by ID number (students registered elsewhere)")),
        h("input", { id: "enrol-id-number", name: "id_number", type: "text", maxlength: 18, autocomplete: "off" }))));
  const box = h("div", { id: "roster-error", hidden: true });
  const add = h("button", { type: "button", id: "enrol-submit" }, ...bi("加入花名册", "Enrol"));
  add.addEventListener("click", () => withBusy(add, box, form, async () => {
    const idNumber = form.querySelector("#enrol-id-number").value.trim().toUpperCase();
    const body = idNumber ? { id_number: idNumber } : pick.value ? { student_id: Number(pick.value) } : null;
    if (!body) {
      throw { code: "PICK", field: "student_id", message_zh: "请选择学员或输入身份证号", message_en: "Choose a student or enter an ID number" };
    }
    await post(`/api/classes/${cls.id}/enrolments`, body);
    await refresh();
  }));
  return section("roster", "花名册", "Roster",
    h("p", { class: "muted" }, `在册 ${cls.roster.length} 人`, h("small", { class: "en" }, `${cls.roster.length} enrolled`)),
    h("div", { class: "table-wrap" }, table),
    editable ? [form, box, h("div", { class: "actions" }, add)] : null);
}

// ---- commitment letter (CLS-1)
function commitmentCard(cls) {
  const signed = cls.commitment_accepted_at;
  const form = h("div", { id: "commitment-form" },
    h("div", { class: "consent" },
      h("p", {}, "本机构承诺：参训学员身份真实、培训计划真实可执行、教学与考勤记录真实完整；如有虚假，愿承担相应责任并接受处理（包括列入黑名单）。"),
      h("small", { class: "en" }, "We vouch that the trainees' identities are real, the plan is real and will be kept, and teaching and attendance records are true and complete; we accept the consequences of any falsehood, including blacklisting.")),
    h("div", { class: "row", style: "margin-top:10px" },
      h("div", { class: "field" }, h("label", { for: "signer-name", class: "req" }, ...bi("签署人", "Signer")),
        h("input", { id: "signer-name", name: "signer_name", type: "text", maxlength: 50 }))),
    h("label", { class: "check-field", "data-field": "accept" },
      h("input", { id: "commitment-accept", name: "accept", type: "checkbox" }),
      h("span", {}, "我代表本机构同意以上承诺", h("small", { class: "en" }, "I accept this on behalf of the institution"))));
  const box = h("div", { id: "commitment-error", hidden: true });
  const sign = h("button", { type: "button", id: "sign-commitment" }, ...bi(signed ? "重新签署" : "签署承诺书", signed ? "Sign again" : "Sign"));
  sign.addEventListener("click", () => withBusy(sign, box, form, async () => {
    if (!form.querySelector("#commitment-accept").checked) {
      throw { code: "ACCEPT", field: "accept", message_zh: "请勾选同意承诺", message_en: "Tick the box to accept" };
    }
    await post(`/api/classes/${cls.id}/commitment`, { accept: true, signer_name: form.querySelector("#signer-name").value.trim() });
    await refresh();
  }));
  return section("commitment", "承诺书", "Commitment letter (CLS-1)",
    h("p", { id: "commitment-status", "data-signed": signed ? "true" : "false" },
      signed ? [`已签署：${fmtTime(signed)}`, h("small", { class: "en" }, `Signed at ${fmtTime(signed)}`)]
             : ["尚未签署", h("small", { class: "en" }, "Not signed yet")]),
    form, box, h("div", { class: "actions" }, sign));
}

// ---- pre-submission checks
function checksCard() {
  const run = h("button", { type: "button", id: "run-checks", class: "secondary" }, ...bi("重新检查", "Check again"));
  run.addEventListener("click", () => runChecks(run));
  return h("section", { class: "card", id: "section-checks" },
    h("div", { class: "section-title" }, h("h3", {}, ...bi("提交前检查", "Pre-submission checks")), h("span", { class: "spacer" }), run),
    h("div", { id: "checks-result", "data-testid": "checks-result" }, h("p", { class: "muted" }, "检查中… Checking…")));
}

async function runChecks(button) {
  const out = document.getElementById("checks-result");
  if (!out || !state.cls) return;
  if (button) button.disabled = true;
  document.querySelectorAll(".section-flag").forEach((n) => { n.textContent = ""; n.className = "section-flag"; });
  try {
    const res = await get(`/api/classes/${state.cls.id}/checks`);
    out.dataset.ok = String(res.ok);
    out.dataset.count = String(res.violations.length);
    if (res.ok) {
      out.replaceChildren(h("p", { class: "checks-ok", id: "checks-ok" }, "✓ 全部检查通过，可以提交审核",
        h("small", { class: "en" }, "All checks pass; the plan can be submitted")));
    } else {
      out.replaceChildren(h("p", {}, `有 ${res.violations.length} 项不符合规定`,
        h("small", { class: "en" }, `${res.violations.length} rule(s) not met`)), violationList(res.violations));
      const perSection = {};
      for (const v of res.violations) {
        const key = { head_teacher_id: "basics", student_id: "roster", assistant_ids: "assistants" }[v.field] || v.field;
        perSection[key] = (perSection[key] || 0) + 1;
      }
      for (const [key, n] of Object.entries(perSection)) {
        const flag = document.querySelector(`#section-${CSS.escape(key)} .section-flag`);
        if (flag) { flag.textContent = `⚠ ${n}`; flag.className = "section-flag badge status-rejected"; }
      }
    }
  } catch (err) {
    showError(out, err);
  } finally {
    if (button) button.disabled = false;
  }
}

// ---- history
function historyCard() {
  return h("section", { class: "card", id: "section-history" },
    h("h3", {}, ...bi("审批记录", "Workflow history")),
    h("div", { class: "table-wrap" }, h("table", { id: "history-table" },
      h("thead", {}, h("tr", {}, h("th", {}, ...bi("时间", "When")), h("th", {}, ...bi("操作", "Action")),
        h("th", {}, ...bi("状态变化", "Status")), h("th", {}, ...bi("操作人", "By")), h("th", {}, ...bi("原因", "Reason")))),
      h("tbody", {}))));
}

function renderHistory(items) {
  const body = document.querySelector("#history-table tbody");
  if (!body) return;
  body.replaceChildren(...(items.length ? items.map((t) => h("tr", { "data-testid": "history-row", "data-action": t.action },
    h("td", {}, fmtTime(t.at)), h("td", {}, ACTION_ZH[t.action] || t.action, h("small", { class: "en" }, t.action)),
    h("td", {}, `${STATUS_ZH[t.from] || t.from} → ${STATUS_ZH[t.to] || t.to}`, h("small", { class: "en" }, `${t.from} → ${t.to}`)),
    h("td", {}, ROLE_ZH[t.actor_role] || t.actor_role, h("small", { class: "en" }, `#${t.actor_id}`)),
    h("td", {}, t.reason || "—"))) :
    [h("tr", {}, h("td", { colspan: 5, class: "empty" }, ...bi("暂无记录", "No steps yet")))]));
}

async function loadHistory() {
  try {
    const { items } = await get(`/api/classes/${state.cls.id}/history`);
    renderHistory(items);
  } catch (err) {
    showError(document.querySelector("#section-history"), err);
  }
}

// ---------------------------------------------------------------- start

async function main() {
  const me = await requireLogin(["institution_admin"]);
  state.me = me;
  renderTopbar(me, "/planner");
  const [lecturers, assistants, staff, students] = await Promise.all([
    get("/api/lecturers"), get("/api/users?role=assistant"), get("/api/users"), get("/api/students")]);
  state.lecturers = lecturers.items;
  state.assistants = assistants.items.filter((u) => u.active);
  state.staff = staff.items.filter((u) => u.active && ["lecturer", "assistant", "institution_admin"].includes(u.role));
  state.students = students.items;
  setupCreateForm();
  await loadClasses();
  const m = /^#class-(\d+)$/.exec(window.location.hash);
  const first = m ? Number(m[1]) : state.classes.length === 1 ? state.classes[0].id : null;
  if (first) await openClass(first);
}

main().catch((err) => showError(document.getElementById("page-error"), err));

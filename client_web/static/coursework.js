// Homework (作业, LIVE-7) and business plans (创业计划书, EXAM-2).
// Students (phone first): their homework with a submit form — text, a camera photo
// (<input type=file accept="image/*" capture>) and files — statuses, marks and comments; their business
// plan as an upload (PDF/DOCX) or a form, with the review history. Staff: set homework per lesson day,
// see who has and hasn't submitted, check (a "redo" reopens it); review plans. Supervisors read only.
import {
  bi, clearOnEdit, fmtTime, fromLocalInput, get, getToken, h, hideBox, post, postForm, renderTopbar,
  requireLogin, showError, showNotice, withBusy,
} from "/static/api.js";

const $ = (id) => document.getElementById(id);
const HW_STATUS = {
  not_submitted: ["未提交", "not submitted"], submitted: ["已提交", "submitted"], checked: ["已批改", "checked"],
  redo: ["需重做", "redo"], superseded: ["已被替换", "replaced"],
};
const PLAN_STATUS = {
  submitted: ["待评审", "awaiting review"], approved: ["已通过", "approved"], rejected: ["需修改", "needs revision"],
  superseded: ["已被替换", "replaced"],
};
const MARKS = [["excellent", "优", "excellent"], ["good", "良", "good"], ["pass", "合格", "pass"],
  ["fail", "不合格", "fail"], ["redo", "重做", "redo"]];
const FORM_LABELS = {
  project_name: "项目名称 Project", plan_type: "类型 Type", business_idea: "创业想法 Idea", market: "市场 Market",
  team: "团队 Team", finances: "财务 Finances", risks: "风险 Risks", practice_results: "实践成果 Practice results",
  online_store: "网店 Online store",
};
const state = { me: null, classes: [], staffClass: null, tab: "homework" };

function badge(map, status) {
  const [zh, en] = map[status] || [status, status];
  return h("span", { class: `badge cw-${status}`, "data-status": status }, zh, h("small", { class: "en" }, en));
}

/** Files need the bearer token, so they are fetched and opened as a blob rather than linked. */
async function openFile(url, box) {
  try {
    const resp = await fetch(url, { headers: { Authorization: `Bearer ${getToken()}` }, cache: "no-store" });
    if (!resp.ok) throw new Error(String(resp.status));
    const blob = await resp.blob();
    window.open(URL.createObjectURL(blob), "_blank", "noopener");
  } catch {
    showNotice(box, "文件打开失败，请重试", "Could not open the file; try again");
  }
}

function fileButtons(sub, box) {
  return h("div", { class: "cw-files" }, ...(sub.attachments || []).map((a) =>
    h("button", { type: "button", class: "secondary small", onclick: () =>
      openFile(`/api/homework-submissions/${sub.id}/files/${a.file_id}`, box) },
    a.type === "photo" ? "📷 " : "📄 ", a.name)));
}

function checkedLine(sub) {
  if (!sub || !sub.mark) return null;
  return h("div", { class: "cw-comment" }, `评定 ${sub.mark_zh}（${sub.mark}）`,
    sub.comment ? ` · ${sub.comment}` : "", sub.checked_at ? h("small", { class: "en" }, ` ${fmtTime(sub.checked_at)}`) : null);
}

// ---------------------------------------------------------------- students: homework

async function loadStudent() {
  const data = await get("/api/me/homework");
  state.classes = data.classes;
  $("my-homework-card").hidden = false;
  const box = $("my-homework");
  const items = data.classes.flatMap((c) => c.homework.map((hw) => ({ c, hw })));
  box.replaceChildren(...(items.length ? [h("ul", { class: "cw-list" }, ...items.map(({ c, hw }) => homeworkItem(c, hw)))]
    : [h("p", { class: "empty" }, ...bi("暂无作业", "No homework yet"))]));
  renderPlanClasses();
}

function homeworkItem(c, hw) {
  const cur = hw.current;
  const open = hw.my_status === "not_submitted" || hw.my_status === "submitted" || hw.my_status === "redo";
  const li = h("li", { class: "cw-item", "data-homework": hw.id },
    h("h3", {}, hw.title, " ", badge(HW_STATUS, hw.my_status)),
    h("p", { class: "meta" }, `${c.class_name} · 上课日 ${hw.lesson_day} · 截止 ${fmtTime(hw.due_at)}`),
    hw.instructions ? h("p", { class: "cw-text" }, hw.instructions) : null,
    cur ? h("div", {}, h("p", { class: "meta" }, `第 ${cur.version} 次提交 · ${fmtTime(cur.submitted_at)}`,
      cur.late ? "（逾期 late）" : ""), cur.text ? h("p", { class: "cw-text" }, cur.text) : null) : null,
    checkedLine(cur));
  const note = h("div", { hidden: true });
  if (cur) li.append(fileButtons(cur, note));
  if (open) li.append(submitForm(hw, note));
  li.append(note);
  return li;
}

function submitForm(hw, note) {
  const err = h("div", { hidden: true });
  const form = h("form", { class: "cw-form", novalidate: true },
    h("div", { class: "field" }, h("label", {}, ...bi("作业内容", "Answer")),
      h("textarea", { name: "text", "data-field": "text", maxlength: 20000 })),
    h("div", { class: "field" }, h("label", {}, ...bi("拍照", "Photo")),
      h("input", { type: "file", name: "photo", "data-field": "photo", accept: "image/*", capture: "environment" })),
    h("div", { class: "field" }, h("label", {}, ...bi("附件（PDF、Word、图片）", "File (PDF, DOCX, image)")),
      h("input", { type: "file", name: "file", "data-field": "file",
        accept: ".pdf,.docx,image/jpeg,image/png,application/pdf" })),
    err,
    h("button", { type: "submit", class: "block" }, ...bi(hw.my_status === "not_submitted" ? "提交作业" : "重新提交", "Submit")));
  clearOnEdit(form);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const fd = new FormData();
    const text = form.elements.text.value.trim();
    if (text) fd.append("text", text);
    for (const name of ["photo", "file"]) {
      const f = form.elements[name].files[0];
      if (f) fd.append(name, f, f.name);
    }
    withBusy(form.querySelector("button[type=submit]"), err, form, async () => {
      await postForm(`/api/homework/${hw.id}/submissions`, fd);
      await loadStudent();
    });
  });
  return form;
}

// ---------------------------------------------------------------- students: business plan

function renderPlanClasses() {
  $("my-plan-card").hidden = !state.classes.length;
  const select = $("plan-class");
  const chosen = select.value;
  select.replaceChildren(...state.classes.map((c) => h("option", { value: c.class_id }, c.class_name)));
  if (chosen && state.classes.some((c) => String(c.class_id) === chosen)) select.value = chosen;
  if (state.classes.length) loadMyPlans();
}

async function loadMyPlans() {
  const cid = $("plan-class").value;
  const data = await get(`/api/classes/${cid}/business-plans`);
  $("practice-field").hidden = $("store-field").hidden = !data.network_course;
  $("plan-type-field").hidden = !data.elite_course;
  $("plan-hint").replaceChildren(...bi(
    data.network_course ? "网络创业培训须提交网络创业实践成果和网络创业规划书。" : "提交创业想法分析或商业计划书，由讲师或专家在线评审。",
    data.network_course ? "Network training: practice results and a network business plan." : "Hand in an idea analysis or business plan; lecturers or experts review it online."),
  data.credit_hours ? ` 评审通过计 ${data.credit_hours} 课时。` : "");
  const versions = data.versions;
  $("my-plans").replaceChildren(...versions.slice().reverse().map((p) => planItem(p, $("plan-notice"))));
  const last = versions[versions.length - 1];
  $("plan-submit").hidden = Boolean(last && last.status === "approved");
}

function planItem(p, box) {
  return h("li", { class: "cw-item", "data-plan": p.id },
    h("h3", {}, `第 ${p.version} 版 `, badge(PLAN_STATUS, p.status)),
    h("p", { class: "meta" }, `${fmtTime(p.submitted_at)} · ${p.kind === "file" ? p.file_name : "在线表单 form"}`,
      p.credited_hours ? ` · 计 ${p.credited_hours} 课时` : ""),
    p.kind === "file" ? h("button", { type: "button", class: "secondary small",
      onclick: () => openFile(`/api/business-plans/${p.id}/file`, box) }, ...bi("查看文件", "Open file")) : formView(p.form),
    p.review_comment ? h("div", { class: "cw-comment" }, `评审意见：${p.review_comment}`,
      p.reviewed_by_name ? `（${p.reviewed_by_name}）` : "") : null);
}

function formView(form) {
  if (!form) return null;
  return h("dl", { class: "kv" }, ...Object.entries(form).flatMap(([k, v]) =>
    [h("dt", {}, FORM_LABELS[k] || k), h("dd", { class: "cw-text" }, String(v))]));
}

function bindPlanForms() {
  $("plan-class").addEventListener("change", () => loadMyPlans());
  const up = $("plan-upload");
  clearOnEdit(up);
  up.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = $("plan-file").files[0];
    const fd = new FormData();
    if (f) fd.append("file", f, f.name);
    withBusy(up.querySelector("button[type=submit]"), $("plan-upload-error"), up, async () => {
      await postForm(`/api/classes/${$("plan-class").value}/business-plans/file`, fd);
      up.reset();
      showNotice($("plan-notice"), "已提交，等待评审", "Submitted; awaiting review");
      await loadMyPlans();
    });
  });
  const form = $("plan-form");
  clearOnEdit(form);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.closest("[hidden]")) continue;
      if (el.value.trim()) body[el.name] = el.value.trim();
    }
    if (!body.project_name) body.project_name = "";
    if (!body.business_idea) body.business_idea = "";
    withBusy(form.querySelector("button[type=submit]"), $("plan-form-error"), form, async () => {
      await post(`/api/classes/${$("plan-class").value}/business-plans/form`, body);
      form.reset();
      showNotice($("plan-notice"), "已提交，等待评审", "Submitted; awaiting review");
      await loadMyPlans();
    });
  });
}

// ---------------------------------------------------------------- staff

async function loadStaff() {
  const data = await get("/api/classes");
  $("staff-card").hidden = false;
  const select = $("staff-class");
  select.replaceChildren(...data.items.map((c) => h("option", { value: c.id }, `${c.name}（${c.status}）`)));
  if (!data.items.length) {
    showNotice($("staff-error"), "没有可查看的班期", "No class to show");
    return;
  }
  select.addEventListener("change", () => refreshStaff());
  for (const b of document.querySelectorAll("[data-tab]")) b.addEventListener("click", () => {
    state.tab = b.dataset.tab;
    for (const o of document.querySelectorAll("[data-tab]")) o.classList.toggle("secondary", o !== b);
    refreshStaff();
  });
  bindSetHomework();
  await refreshStaff();
}

async function refreshStaff() {
  hideBox($("staff-error"));
  $("staff-homework").hidden = state.tab !== "homework";
  $("staff-plans").hidden = state.tab !== "plans";
  try {
    if (state.tab === "homework") await loadClassHomework();
    else await loadClassPlans();
  } catch (err) {
    showError($("staff-error"), err);
  }
}

async function loadClassHomework() {
  const cid = $("staff-class").value;
  const data = await get(`/api/classes/${cid}/homework`);
  $("set-homework").hidden = !data.may_set;
  $("hw-day").replaceChildren(...data.lesson_days.map((d) => h("option", { value: d }, d)));
  $("homework-detail").replaceChildren();
  $("homework-list").replaceChildren(...(data.homework.length ? data.homework.map((hw) =>
    h("li", { class: "cw-item", "data-homework": hw.id },
      h("h3", {}, `${hw.lesson_day} · ${hw.title}`),
      h("p", { class: "meta" }, `截止 ${fmtTime(hw.due_at)} · 已交 ${hw.submitted + hw.checked + hw.redo}/${hw.students}`,
        ` · 已批改 ${hw.checked} · 未交 ${hw.not_submitted} · 重做 ${hw.redo}`),
      h("button", { type: "button", class: "secondary small", onclick: () => showHomework(hw.id) },
        ...bi("查看提交", "Submissions"))))
    : [h("li", { class: "empty" }, ...bi("尚未布置作业", "No homework set yet"))]));
}

async function showHomework(hid) {
  const box = $("homework-detail");
  const data = await get(`/api/homework/${hid}`);
  const note = h("div", { hidden: true });
  box.replaceChildren(h("h3", {}, ...bi(`「${data.title}」提交情况`, "Submissions")), note,
    h("ul", { class: "cw-list", "data-testid": "submissions" }, ...data.students.map((st) => {
      const cur = st.current;
      return h("li", { class: "cw-item", "data-student": st.student_id },
        h("h3", {}, st.name, " ", badge(HW_STATUS, st.status)),
        cur ? h("p", { class: "meta" }, `第 ${cur.version} 次 · ${fmtTime(cur.submitted_at)}${cur.late ? " · 逾期 late" : ""}`,
          cur.screening_held ? " · ⚠ 含敏感内容 screened" : "") : null,
        cur && cur.text ? h("p", { class: "cw-text" }, cur.text) : null,
        cur ? fileButtons(cur, note) : null,
        checkedLine(cur),
        st.history.length ? h("p", { class: "meta" }, `历史版本 ${st.history.length} 个 earlier versions`) : null,
        cur && cur.status === "submitted" && st.may_check ? checkForm(cur, hid) : null);
    })));
  box.scrollIntoView({ block: "start" });
}

function checkForm(sub, hid) {
  const err = h("div", { hidden: true });
  const mark = h("select", { name: "mark", "data-field": "mark" }, ...MARKS.map(([v, zh, en]) =>
    h("option", { value: v }, `${zh} ${en}`)));
  const comment = h("input", { name: "comment", "data-field": "comment", maxlength: 2000, placeholder: "评语 Comment" });
  const form = h("form", { class: "cw-check", novalidate: true }, mark, comment,
    h("button", { type: "submit", class: "small" }, ...bi("批改", "Check")), err);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    withBusy(form.querySelector("button"), err, form, async () => {
      await post(`/api/homework-submissions/${sub.id}/check`, { mark: mark.value, comment: comment.value.trim() || null });
      await showHomework(hid);
    });
  });
  return form;
}

function bindSetHomework() {
  const form = $("set-homework");
  clearOnEdit(form);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = { lesson_day: $("hw-day").value, title: $("hw-title").value.trim(),
      instructions: $("hw-text").value.trim(), due_at: fromLocalInput($("hw-due").value) || null };
    withBusy(form.querySelector("button[type=submit]"), $("set-homework-error"), form, async () => {
      await post(`/api/classes/${$("staff-class").value}/homework`, body);
      form.reset();
      await loadClassHomework();
    });
  });
}

async function loadClassPlans() {
  const cid = $("staff-class").value;
  const data = await get(`/api/classes/${cid}/business-plans`);
  const n = data.counts;
  $("plans-summary").replaceChildren(`待评审 ${n.submitted} · 通过 ${n.approved} · 需修改 ${n.rejected} · 未提交 ${n.none}`,
    data.credit_hours ? ` · 通过计 ${data.credit_hours} 课时` : "",
    h("small", { class: "en" }, ` awaiting ${n.submitted}, approved ${n.approved}, revising ${n.rejected}, none ${n.none}`));
  const tbody = $("plans-table").querySelector("tbody");
  const note = $("staff-error");
  tbody.replaceChildren(...data.students.map((st) => {
    const p = st.plan;
    return h("tr", { "data-student": st.student_id },
      h("td", {}, st.name),
      h("td", {}, p ? [`v${p.version} `, badge(PLAN_STATUS, p.status)] : badge(HW_STATUS, "not_submitted")),
      h("td", {}, !p ? "—" : p.kind === "file"
        ? h("button", { type: "button", class: "secondary small", onclick: () => openFile(`/api/business-plans/${p.id}/file`, note) }, p.file_name)
        : h("details", {}, h("summary", {}, p.form.project_name), formView(p.form)),
      p && p.review_comment ? h("div", { class: "cw-comment" }, p.review_comment) : null),
      h("td", {}, p && p.status === "submitted" && data.may_review ? reviewForm(p) : (p && p.reviewed_at ? fmtTime(p.reviewed_at) : "")));
  }));
}

function reviewForm(p) {
  const err = h("div", { hidden: true });
  const verdict = h("select", { name: "verdict", "data-field": "verdict" },
    h("option", { value: "approved" }, "通过 approved"), h("option", { value: "rejected" }, "需修改 needs revision"));
  const comment = h("input", { name: "comment", "data-field": "comment", maxlength: 5000, placeholder: "评审意见 Comments" });
  const form = h("form", { class: "cw-check", novalidate: true }, verdict, comment,
    h("button", { type: "submit", class: "small" }, ...bi("提交评审", "Review")), err);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    withBusy(form.querySelector("button"), err, form, async () => {
      await post(`/api/business-plans/${p.id}/review`, { verdict: verdict.value, comment: comment.value.trim() || null });
      await loadClassPlans();
    });
  });
  return form;
}

// ---------------------------------------------------------------- start

async function main() {
  const me = await requireLogin(["student", "lecturer", "assistant", "institution_admin", "supervisor", "platform_admin"]);
  state.me = me;
  renderTopbar(me, "/coursework");
  try {
    if (me.role === "student") {
      bindPlanForms();
      await loadStudent();
    } else {
      await loadStaff();
    }
  } catch (err) {
    showError($("page-error"), err);
  }
}

main();

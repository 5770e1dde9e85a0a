// Leave (请假, CLS-8) and absences (CLS-7). Students: a phone-first form to ask leave for a day or
// some lessons before they start, their requests (cancel until the lesson starts) and their own
// absence count. Staff: pending requests to approve or reject (a note is required to reject), and
// each class's absence figures; supervisors see the same, read only.
import {
  bi, clearOnEdit, COURSE_TYPES, fmtTime, get, h, hideBox, post, renderTopbar, requireLogin, showError, showNotice,
  withBusy,
} from "/static/api.js";

const STATUS = {
  pending: ["待审批", "pending"], approved: ["已批准", "approved"], rejected: ["已驳回", "rejected"],
  cancelled: ["已撤销", "cancelled"],
};
const LESSON_STATUS = {
  present: ["出勤", "present"], absent: ["缺勤", "absent"], leave: ["请假", "on leave"], pending: ["未结束", "not over"],
  not_held: ["未开课", "not held"], not_judged: ["另计", "counted elsewhere"],
};
const $ = (id) => document.getElementById(id);
const state = { me: null, classes: [], filter: "pending" };

function badge(status) {
  const [zh, en] = STATUS[status] || [status, status];
  return h("span", { class: `badge leave-${status}`, "data-status": status }, zh, h("small", { class: "en" }, en));
}

function lessonLine(le) {
  return `${fmtTime(le.starts_at)} ${le.title} · ${le.class_hours} 课时`;
}

function cls7Hint(c) {
  const r = c.cls7;
  if (r.max_absences == null) {
    return bi("本班不设缺勤次数上限；请假仍需审批。", "No absence limit for this class; leave still needs approval.");
  }
  return bi(`缺勤与请假合计超过 ${r.max_absences} 次不能参加结业考核；每次最多 ${r.max_absence_class_hours} 课时，超出按多次计（CLS-7）。`,
    `More than ${r.max_absences} absences and leaves bar the final assessment; each covers at most ` +
    `${r.max_absence_class_hours} class-hours, longer ones count several times (CLS-7).`);
}

// ---------------------------------------------------------------- students

async function loadStudent() {
  const data = await get("/api/me/leaves");
  state.classes = data.classes;
  renderForm();
  renderMine(data.items);
  await renderMyAbsences();
}

function renderForm() {
  const open = state.classes.filter((c) => c.accepts_leave && c.lessons.length);
  $("leave-form-card").hidden = false;
  $("leave-form").hidden = !open.length;
  $("leave-form-empty").hidden = open.length > 0;
  const select = $("leave-class");
  const chosen = select.value;
  select.replaceChildren(...open.map((c) => h("option", { value: c.id }, `${c.name}（${COURSE_TYPES[c.course_type] || c.course_type}）`)));
  if (chosen && open.some((c) => String(c.id) === chosen)) select.value = chosen;
  renderChoices();
}

function currentClass() {
  return state.classes.find((c) => String(c.id) === $("leave-class").value);
}

function renderChoices() {
  const c = currentClass();
  if (!c) return;
  $("leave-cls7").replaceChildren(...cls7Hint(c));
  const days = [...new Set(c.lessons.map((le) => le.day))];
  $("leave-day").replaceChildren(...days.map((d) => {
    const hours = c.lessons.filter((le) => le.day === d).reduce((n, le) => n + le.class_hours, 0);
    return h("option", { value: d }, `${d}（${hours} 课时 class-hours）`);
  }));
  $("leave-lessons").replaceChildren(...c.lessons.map((le) => h("label", { class: "check-field" },
    h("input", { type: "checkbox", name: "lesson", value: le.id, "data-testid": "lesson-pick" }),
    h("span", {}, lessonLine(le)))));
  const byDay = document.querySelector("input[name=scope]:checked").value === "day";
  $("leave-day-field").hidden = !byDay;
  $("leave-lessons-field").hidden = byDay;
}

async function submitLeave(ev) {
  ev.preventDefault();
  const form = $("leave-form");
  const c = currentClass();
  const byDay = document.querySelector("input[name=scope]:checked").value === "day";
  const body = { reason: $("leave-reason").value };
  if (byDay) body.day = $("leave-day").value;
  else body.lesson_ids = [...form.querySelectorAll("input[name=lesson]:checked")].map((i) => Number(i.value));
  hideBox($("leave-form-notice"));
  await withBusy($("leave-submit"), $("leave-form-error"), form, async () => {
    const lv = await post(`/api/classes/${c ? c.id : 0}/leaves`, body);
    showNotice($("leave-form-notice"), `已提交，等待审批；本次请假若全部缺课计 ${lv.counts_as} 次。`,
      `Sent for approval; if every lesson is missed it counts ${lv.counts_as} time(s).`);
    $("leave-reason").value = "";
    await loadStudent();
  });
}

function leaveItem(lv, { student }) {
  const li = h("li", { class: "leave-item", "data-testid": "leave-item", "data-leave-id": lv.id, "data-status": lv.status },
    h("div", { class: "leave-head" }, badge(lv.status),
      h("strong", {}, student ? lv.class_name : `${lv.student_name || "#" + lv.student_id}`),
      h("span", { class: "muted" }, `${lv.class_hours} 课时 · 计 ${lv.counts_as} 次`)),
    h("ul", { class: "leave-lessons" }, ...lv.lessons.map((le) => h("li", {}, lessonLine(le)))),
    h("p", {}, "事由 reason：", lv.reason),
    lv.decision_note ? h("p", { class: "muted" }, `审批意见 note（${lv.decided_by_name || ""}）：${lv.decision_note}`) : null);
  if (student && lv.can_cancel) {
    const box = h("div", { hidden: true });
    const btn = h("button", { type: "button", class: "danger small", "data-testid": "cancel-leave" }, ...bi("撤销请假", "Cancel"));
    btn.addEventListener("click", () => withBusy(btn, box, null, async () => {
      await post(`/api/leaves/${lv.id}/cancel`);
      await loadStudent();
    }));
    li.append(h("div", { class: "actions" }, btn), box);
  }
  return li;
}

function renderMine(items) {
  $("my-leaves-card").hidden = false;
  $("my-leaves").replaceChildren(...(items.length ? items.map((lv) => leaveItem(lv, { student: true })) :
    [h("li", { class: "empty" }, ...bi("还没有请假记录", "No leave requests yet"))]));
}

async function renderMyAbsences() {
  const out = $("my-absences");
  const rows = [];
  for (const c of state.classes) {
    try {
      const { items } = await get(`/api/classes/${c.id}/absences`);
      if (items[0]) rows.push([c, items[0]]);
    } catch (err) {
      showError(out, err);
      return;
    }
  }
  $("my-absences-card").hidden = rows.length === 0;
  out.replaceChildren(...rows.map(([c, r]) => h("div", { class: "absence-summary", "data-testid": "my-absence" },
    h("strong", {}, c.name),
    h("p", { class: r.barred_from_exam ? "barred" : "" }, r.explanation.zh, h("small", { class: "en" }, r.explanation.en)),
    r.makeup_seconds ? h("p", { class: "muted" }, `回看补学 ${Math.round(r.makeup_seconds / 60)} 分钟 · made up from replay`) : null)));
}

// ---------------------------------------------------------------- staff and supervisors

async function loadApprovals() {
  $("approvals-card").hidden = false;
  for (const b of document.querySelectorAll("[data-filter]")) b.classList.toggle("secondary", b.dataset.filter !== state.filter);
  const { items } = await get(`/api/leaves${state.filter ? `?status=${state.filter}` : ""}`);
  const body = document.querySelector("#approvals tbody");
  body.replaceChildren(...(items.length ? items.map(approvalRow) :
    [h("tr", {}, h("td", { colspan: 5, class: "empty" }, ...bi("没有请假申请", "No leave requests")))]));
}

function approvalRow(lv) {
  const decision = h("td", {});
  if (lv.can_decide) {
    const note = h("input", { type: "text", maxlength: 500, placeholder: "意见（驳回必填） note", name: "note", "data-field": "note" });
    const box = h("div", { hidden: true });
    const act = (action, cls, zh, en) => {
      const b = h("button", { type: "button", class: `${cls} small`, "data-testid": `leave-${action}` }, ...bi(zh, en));
      b.addEventListener("click", () => withBusy(b, box, decision, async () => {
        await post(`/api/leaves/${lv.id}/decision`, { action, note: note.value.trim() || null });
        await loadApprovals();
      }));
      return b;
    };
    decision.append(note, h("div", { class: "actions" }, act("approve", "ok", "批准", "Approve"), act("reject", "danger", "驳回", "Reject")), box);
  } else {
    decision.append(lv.decided_by_name ? `${lv.decided_by_name}${lv.decision_note ? "：" + lv.decision_note : ""}` : "—");
  }
  return h("tr", { "data-testid": "approval-row", "data-leave-id": lv.id },
    h("td", {}, lv.student_name || `#${lv.student_id}`, h("small", { class: "en" }, lv.class_name)),
    h("td", {}, ...lv.lessons.map((le) => h("div", {}, lessonLine(le))),
      h("small", { class: "en" }, `计 ${lv.counts_as} 次 counts ${lv.counts_as}${lv.cls7.max_absences != null ? ` / 上限 limit ${lv.cls7.max_absences}` : ""}`)),
    h("td", {}, lv.reason), h("td", {}, badge(lv.status)), decision);
}

async function loadAbsenceClasses() {
  const { items } = await get("/api/classes");
  const running = items.filter((c) => ["open", "in_progress", "finished", "archived"].includes(c.status));
  if (!running.length) return;
  $("absences-card").hidden = false;
  const select = $("absence-class");
  select.replaceChildren(...running.map((c) => h("option", { value: c.id }, `${c.name} · ${c.course_type}`)));
  select.addEventListener("change", () => showAbsences(select.value));
  await showAbsences(select.value);
}

async function showAbsences(classId) {
  hideBox($("absences-error"));
  try {
    const data = await get(`/api/classes/${classId}/absences`);
    const limit = data.cls7.max_absences;
    $("absences").replaceChildren(h("p", { class: "muted" }, ...(limit == null ?
      bi("本班项目不设缺勤次数上限。", "No absence limit for this course.") :
      bi(`缺勤＋请假超过 ${limit} 次不能参加结业考核（CLS-7）。`, `More than ${limit} absences + leaves bar the final assessment (CLS-7).`))),
    h("div", { class: "table-wrap" }, h("table", { "data-testid": "absence-table" },
      h("thead", {}, h("tr", {}, ...[["学员", "Student"], ["缺勤", "Absences"], ["请假", "Leaves"], ["补学（分）", "Make-up min"],
        ["结业考核", "Final assessment"]].map(([zh, en]) => h("th", {}, ...bi(zh, en))))),
      h("tbody", {}, ...data.items.map((r) => h("tr", { "data-student-id": r.student_id, title: r.explanation.zh },
        h("td", {}, r.student_name), h("td", { class: "num" }, r.absences), h("td", { class: "num" }, r.leaves),
        h("td", { class: "num" }, Math.round(r.makeup_seconds / 60)),
        h("td", { class: r.barred_from_exam ? "barred" : "" }, ...(r.barred_from_exam ? bi("不得参加", "barred") :
          limit == null ? bi("不适用", "n/a") : bi("可参加", "allowed")))))))));
  } catch (err) {
    showError($("absences-error"), err);
  }
}

// ---------------------------------------------------------------- start

async function main() {
  const me = await requireLogin(["student", "institution_admin", "lecturer", "assistant", "supervisor", "platform_admin"]);
  state.me = me;
  renderTopbar(me, "/leave");
  if (me.role === "student") {
    $("leave-class").addEventListener("change", renderChoices);
    for (const r of document.querySelectorAll("input[name=scope]")) r.addEventListener("change", renderChoices);
    $("leave-form").addEventListener("submit", submitLeave);
    clearOnEdit($("leave-form"));
    await loadStudent();
    return;
  }
  for (const b of document.querySelectorAll("[data-filter]")) {
    b.addEventListener("click", () => { state.filter = b.dataset.filter; loadApprovals().catch((e) => showError($("approvals-error"), e)); });
  }
  await loadApprovals();
  await loadAbsenceClasses();
}

main().catch((err) => showError($("page-error"), err));

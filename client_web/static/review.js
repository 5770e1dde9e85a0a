// Class review for HR supervisors: classes in the region, their plan, the rule checks, approve or
// reject (a reason is required) at the supervisor's level of the approval chain (CLS-1), history.
import {
  ACTION_ZH, bi, COURSE_TYPES, DELIVERY_MODES, fmtTime, get, h, hideBox, LESSON_MODES, LEVEL_ZH, post, renderTopbar,
  requireLogin, ROLE_ZH, showError, showNotice, STATUS_ZH, statusBadge, TARGET_GROUPS, violationList, withBusy,
} from "/static/api.js";

const state = { me: null, classes: [], filter: "all", cls: null };
const detail = document.getElementById("class-detail");

const awaitsMe = (c) => c.pending_level && c.pending_level === state.me.region_level;

function table(id, heads, rows, empty) {
  return h("div", { class: "table-wrap" }, h("table", { id },
    h("thead", {}, h("tr", {}, ...heads.map(([zh, en]) => h("th", {}, ...bi(zh, en))))),
    h("tbody", {}, ...(rows.length ? rows : [h("tr", {}, h("td", { colspan: heads.length, class: "empty" }, ...bi(...empty)))]))));
}

async function loadClasses() {
  const { items } = await get("/api/classes");
  state.classes = items;
  renderList();
}

function renderList() {
  const mine = state.classes.filter(awaitsMe);
  document.getElementById("filter-pending").replaceChildren(`待我审核（${mine.length}）`, h("small", { class: "en" }, `Awaiting me (${mine.length})`));
  for (const b of document.querySelectorAll("[data-filter]")) b.classList.toggle("secondary", b.dataset.filter !== state.filter);
  const shown = (state.filter === "pending" ? mine : state.classes).slice().sort((a, b) => awaitsMe(b) - awaitsMe(a));
  const body = document.querySelector("#review-class-list tbody");
  if (!shown.length) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 2, class: "empty" }, ...bi("没有班期", "No classes"))));
    return;
  }
  body.replaceChildren(...shown.map((c) => {
    const tr = h("tr", { class: "clickable", "data-testid": "class-row", "data-class-id": c.id, tabindex: 0 },
      h("td", {}, h("strong", {}, c.name), h("small", { class: "en" }, `${c.institution_name} · ${c.course_type} · ${c.class_hours} 课时 h`)),
      h("td", {}, statusBadge(c.status),
        awaitsMe(c) ? h("small", { class: "en", style: "color:#9a6700;font-weight:600" }, "待我审核 awaiting me") :
        c.pending_level ? h("small", { class: "en" }, `待${LEVEL_ZH[c.pending_level]} ${c.pending_level}`) : null));
    tr.classList.toggle("selected", state.cls?.id === c.id);
    tr.addEventListener("click", () => openClass(c.id));
    tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") openClass(c.id); });
    return tr;
  }));
}

async function openClass(id) {
  hideBox(document.getElementById("decision-result"));
  const [cls, checks, hist] = await Promise.all([
    get(`/api/classes/${id}`), get(`/api/classes/${id}/checks`), get(`/api/classes/${id}/history`)]);
  state.cls = cls;
  if (window.location.hash !== `#class-${id}`) history.replaceState(null, "", `#class-${id}`);
  renderList();
  const lecturerName = new Map(cls.lecturers.map((l) => [l.user_id, l.display_name]));
  detail.replaceChildren(
    h("section", { class: "card", id: "section-summary", "data-class-id": cls.id },
      h("h2", { id: "class-name" }, cls.name, h("small", { class: "en" }, `班期 #${cls.id} · ${cls.institution_name}`)),
      h("dl", { class: "kv" },
        h("dt", {}, ...bi("状态", "Status")), h("dd", {}, statusBadge(cls.status, { id: "class-status" })),
        h("dt", {}, ...bi("待审级别", "Pending level")),
        h("dd", { id: "class-pending-level", "data-level": cls.pending_level || "" },
          cls.pending_level ? [`待${LEVEL_ZH[cls.pending_level]}人社部门审核`, h("small", { class: "en" }, `awaiting ${cls.pending_level}-level review`)] : "—"),
        h("dt", {}, ...bi("培训项目", "Course")), h("dd", {}, `${cls.course_type} · ${COURSE_TYPES[cls.course_type] || ""}`),
        h("dt", {}, ...bi("授课方式", "Delivery")), h("dd", {}, `${DELIVERY_MODES[cls.delivery_mode] || ""} (${cls.delivery_mode})`),
        h("dt", {}, ...bi("区县 / 政策", "District / profile")), h("dd", {}, `${cls.district_code} · ${cls.profile}`),
        h("dt", {}, ...bi("课时 / 课次", "Hours / lessons")), h("dd", {}, `${cls.class_hours} 课时 · ${cls.lesson_count} 课次`),
        h("dt", {}, ...bi("学员人数", "Students")), h("dd", {}, String(cls.roster.length)),
        h("dt", {}, ...bi("承诺书", "Commitment")), h("dd", {}, cls.commitment_accepted_at ? `已签署 ${fmtTime(cls.commitment_accepted_at)}` : "未签署 not signed")),
      h("div", { class: "actions" }, h("a", { class: "button secondary small", href: `/attendance?class=${cls.id}`, id: "link-attendance" },
        ...bi("考勤与点名", "Attendance and roll calls (ATT-2/8)")))),
    decisionCard(cls),
    h("section", { class: "card", id: "section-checks" }, h("h3", {}, ...bi("规则检查", "Rule checks")),
      h("div", { id: "checks-result", "data-testid": "checks-result", "data-ok": String(checks.ok), "data-count": String(checks.violations.length) },
        checks.ok ? h("p", { class: "checks-ok", id: "checks-ok" }, "✓ 计划符合全部规则", h("small", { class: "en" }, "The plan meets every rule"))
                  : [h("p", {}, `有 ${checks.violations.length} 项不符合规定`, h("small", { class: "en" }, `${checks.violations.length} rule(s) not met`)),
                     violationList(checks.violations)])),
    h("section", { class: "card", id: "section-lessons" }, h("h3", {}, ...bi("课程表（北京时间）", "Schedule, Beijing time")),
      table("lessons-table", [["课次", "Title"], ["开始", "Starts"], ["结束", "Ends"], ["方式", "Mode"], ["课时", "Hours"], ["讲师", "Lecturer"]],
        cls.lessons.map((l) => h("tr", {}, h("td", {}, l.title), h("td", {}, fmtTime(l.starts_at)), h("td", {}, fmtTime(l.ends_at)),
          h("td", {}, LESSON_MODES[l.mode] || l.mode), h("td", { class: "num" }, l.class_hours), h("td", {}, lecturerName.get(l.lecturer_id) || "—"))),
        ["没有课次", "No lessons"])),
    h("section", { class: "card", id: "section-staff" }, h("h3", {}, ...bi("讲师与助教", "Lecturers and assistants")),
      table("lecturers-table", [["讲师", "Lecturer"], ["教学组长", "Lead"]],
        cls.lecturers.map((l) => h("tr", {}, h("td", {}, l.display_name), h("td", {}, l.is_lead ? "✓" : ""))), ["没有讲师", "No lecturers"]),
      h("p", { class: "muted", style: "margin-top:8px" }, "助教：", cls.assistants.map((a) => `${a.display_name}（${a.students.length} 人）`).join("、") || "—",
        h("small", { class: "en" }, "Assistants and their group sizes"))),
    h("section", { class: "card", id: "section-roster" }, h("h3", {}, ...bi("花名册（脱敏）", "Roster, masked")),
      table("roster-table", [["姓名", "Name"], ["身份证号", "ID number"], ["类别", "Target group"]],
        cls.roster.map((s) => h("tr", {}, h("td", {}, s.real_name), h("td", { class: "masked" }, s.id_number_masked), h("td", {}, TARGET_GROUPS[s.target_group] || s.target_group))),
        ["花名册为空", "The roster is empty"])),
    h("section", { class: "card", id: "section-history" }, h("h3", {}, ...bi("审批记录", "Workflow history")),
      table("history-table", [["时间", "When"], ["操作", "Action"], ["状态变化", "Status"], ["操作人", "By"], ["原因", "Reason"]],
        hist.items.map((t) => h("tr", { "data-testid": "history-row", "data-action": t.action },
          h("td", {}, fmtTime(t.at)), h("td", {}, ACTION_ZH[t.action] || t.action, h("small", { class: "en" }, t.action)),
          h("td", {}, `${STATUS_ZH[t.from] || t.from} → ${STATUS_ZH[t.to] || t.to}`),
          h("td", {}, ROLE_ZH[t.actor_role] || t.actor_role, h("small", { class: "en" }, `#${t.actor_id}`)), h("td", {}, t.reason || "—"))),
        ["暂无记录", "No steps yet"])),
  );
}

function decisionCard(cls) {
  const card = h("section", { class: "card", id: "section-decision" }, h("h3", {}, ...bi("审核意见", "Decision")));
  if (!awaitsMe(cls)) {
    card.append(h("p", { class: "muted", id: "decision-note" },
      cls.pending_level ? `该班期待${LEVEL_ZH[cls.pending_level]}人社部门审核，您是${LEVEL_ZH[state.me.region_level] || ""}账号。`
                        : `该班期当前状态为「${STATUS_ZH[cls.status] || cls.status}」，无需审核。`,
      h("small", { class: "en" }, cls.pending_level ? `Awaiting ${cls.pending_level}-level review; you are ${state.me.region_level}-level.`
                                                     : `Status ${cls.status}: nothing to review.`)));
    return card;
  }
  const form = h("div", { id: "decision-form" },
    h("div", { class: "field" }, h("label", { for: "reject-reason" }, ...bi("退回原因（退回时必填）", "Reason (required to reject)")),
      h("textarea", { id: "reject-reason", name: "reason", maxlength: 2000 })));
  const box = h("div", { id: "decision-error", hidden: true });
  const approve = h("button", { type: "button", id: "approve-class", class: "ok" }, ...bi("审核通过", "Approve"));
  const reject = h("button", { type: "button", id: "reject-class", class: "danger" }, ...bi("退回修改", "Reject"));
  const act = (action, button) => withBusy(button, box, form, async () => {
    const reason = form.querySelector("#reject-reason").value.trim();
    await post(`/api/classes/${cls.id}/transitions`, reason ? { action, reason } : { action });
    await loadClasses();
    await openClass(cls.id);
    showNotice(document.getElementById("decision-result"), action === "approve" ? "已审核通过" : "已退回机构修改",
               action === "approve" ? "Approved" : "Rejected and returned to the institution");
  });
  approve.addEventListener("click", () => act("approve", approve));
  reject.addEventListener("click", () => act("reject", reject));
  card.append(form, box, h("div", { class: "actions" }, approve, reject));
  return card;
}

async function main() {
  const me = await requireLogin(["supervisor"]);
  state.me = me;
  renderTopbar(me, "/review");
  document.getElementById("region-label").textContent = `${LEVEL_ZH[me.region_level] || ""} ${me.region_code || ""}`;
  for (const b of document.querySelectorAll("[data-filter]")) {
    b.addEventListener("click", () => { state.filter = b.dataset.filter; renderList(); });
  }
  await loadClasses();
  const m = /^#class-(\d+)$/.exec(window.location.hash);
  if (m) await openClass(Number(m[1]));
}

main().catch((err) => showError(document.getElementById("page-error"), err));

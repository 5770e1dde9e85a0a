import { api, bi, COURSE_TYPES, fmtTime, h, LESSON_MODES, LEVEL_ZH, renderTopbar, requireLogin, ROLE_ZH, showError,
         statusBadge, TARGET_GROUPS } from "/static/api.js";

const ENROLMENT_ZH = { enrolled: "在读", withdrawn: "已退班", completed: "已结业" };
// What the button of an open lesson says, by mode: the room, the study page, the offline sign-in.
const GO = { live: ["进入直播", "Enter the room"], recorded: ["开始学习", "Study"], offline: ["现场签到", "Sign in"] };
const LEAVE_ZH = { approved: ["已请假", "on leave"], pending: ["请假审批中", "leave pending"] };
const UPCOMING_SHOWN = 6;

function kv(dl, rows) {
  dl.replaceChildren(...rows.filter(Boolean).flatMap(([zh, en, value, attrs]) => [
    h("dt", {}, ...bi(zh, en)), h("dd", attrs || {}, value ?? "—")]));
}

async function main() {
  const me = await requireLogin();
  renderTopbar(me, "/");
  document.getElementById("me-card").hidden = false;
  document.getElementById("welcome").replaceChildren(`您好，${me.display_name}`,
    h("small", { class: "en" }, `Hello, ${me.display_name}`));
  document.getElementById("welcome").dataset.testid = "welcome";
  kv(document.getElementById("me"), [
    ["用户名", "Username", me.username, { id: "me-username" }],
    ["角色", "Role", `${ROLE_ZH[me.role] || me.role} (${me.role})`, { id: "me-role", "data-role": me.role }],
    me.institution_id != null && ["所属机构", "Institution", `#${me.institution_id}`],
    me.region_code && ["管辖区域", "Region", `${LEVEL_ZH[me.region_level] || me.region_level} ${me.region_code}`],
  ]);

  const links = document.getElementById("role-links");
  if (me.role === "institution_admin") {
    links.append(h("a", { class: "button", href: "/planner", id: "link-planner" }, ...bi("开班计划", "Class planner")));
    links.append(h("a", { class: "button secondary", href: "/subsidy", id: "link-subsidy" }, ...bi("补贴申报", "Subsidy claim")));
  }
  if (me.role === "supervisor") {
    links.append(h("a", { class: "button", href: "/review", id: "link-review" }, ...bi("班期审核", "Class review")));
  }
  // CLS-8: students ask for leave, staff decide it, supervisors read it.
  links.append(h("a", { class: "button secondary", href: "/leave", id: "link-leave" },
    ...(me.role === "student" ? bi("请假", "Ask for leave") : bi("请假与缺勤", "Leave and absences"))));
  // ATT-2/3/4/7: attendance figures and the timelines behind them
  links.append(h("a", { class: "button secondary", href: "/attendance", id: "link-attendance" },
    ...(me.role === "student" ? bi("我的考勤", "My attendance") : bi("考勤明细", "Attendance"))));
  // LIVE-7 homework and EXAM-2 business plans; EXAM-1 the final exam; CERT-1 certificates to download
  if (["student", "lecturer", "assistant", "institution_admin"].includes(me.role)) {
    links.append(h("a", { class: "button secondary", href: "/coursework", id: "link-coursework" },
      ...(me.role === "student" ? bi("作业与计划书", "Homework and plan") : bi("作业与计划书批阅", "Homework and plans"))));
  }
  if (me.role === "student") {
    links.append(h("a", { class: "button", href: "/exam", id: "link-exam" }, ...bi("结业考试", "Final exam")));
    links.append(h("a", { class: "button secondary", href: "/my-certificates", id: "link-certificates" },
      ...bi("我的证书", "My certificates")));
  }
  // SUP-5 spot checks for HR; ATT-6 offline site videos (checklist, staff uploads) for everyone but students
  if (me.role !== "student") {
    links.append(h("a", { class: "button secondary", href: "/spotcheck", id: "link-spotcheck" },
      ...(["supervisor", "platform_admin"].includes(me.role) ? bi("直播抽查", "Spot checks") : bi("线下现场视频", "Site videos"))));
  }
  if (me.role !== "student") {
    links.append(h("a", { class: "button secondary", href: "/docs", id: "link-docs" }, ...bi("接口文档", "API docs")));
  }

  if (me.role === "student") await showStudent(me);
  else if (["lecturer", "assistant", "platform_admin"].includes(me.role)) await showClasses();
}

/** The lessons open now (with the button to go) and the next few; finished ones live on /attendance. */
async function showLessons() {
  const { items } = await api("/api/me/lessons");
  const open = items.filter((l) => l.state === "open");
  const later = items.filter((l) => l.state === "upcoming" || l.state === "no_material").slice(0, UPCOMING_SHOWN);
  const shown = [...open, ...later];
  document.getElementById("lessons-card").hidden = false;
  document.getElementById("lessons-empty").hidden = shown.length > 0;
  document.getElementById("lessons").replaceChildren(...shown.map((l) => {
    const go = l.url ? h("a", { class: "button", href: l.url, "data-testid": "lesson-go" }, ...bi(...GO[l.mode])) : null;
    const leave = LEAVE_ZH[l.leave] ? h("span", { class: `badge leave-${l.leave}`, "data-testid": "lesson-leave" }, ...bi(...LEAVE_ZH[l.leave])) : null;
    const waiting = l.state === "no_material" ? h("small", { class: "muted" }, ...bi("课程视频尚未上传", "video not uploaded yet")) : null;
    return h("li", { "data-testid": "lesson", "data-lesson-id": l.id, "data-state": l.state, "data-mode": l.mode },
      h("div", {}, h("strong", {}, l.title), " ", h("span", { class: "badge" }, `${LESSON_MODES[l.mode] || l.mode} ${l.mode}`), " ", leave),
      h("div", { class: "muted" }, `${fmtTime(l.starts_at)} · ${l.class_name} · ${l.class_hours} 课时`), waiting, go);
  }));
}

async function showStudent(me) {
  await showLessons().catch((err) => showError(document.getElementById("page-error"), err));
  const p = await api("/api/me/student");
  document.getElementById("student-card").hidden = false;
  kv(document.getElementById("student-profile"), [
    ["姓名", "Name", p.real_name, { id: "student-name", "data-testid": "student-name" }],
    ["身份证号", "ID number", p.id_number_masked, { id: "student-id-masked", class: "masked" }],
    ["手机号", "Mobile", p.mobile_masked, { class: "masked" }],
    ["性别", "Gender", p.gender === "M" ? "男 male" : p.gender === "F" ? "女 female" : p.gender],
    ["出生日期", "Birth date", p.birth_date],
    ["户籍所在地", "Household registration", p.household_registration],
    ["培训对象类别", "Target group", `${TARGET_GROUPS[p.target_group] || p.target_group} (${p.target_group})`],
    p.graduation_year && ["毕业年份", "Graduation year", p.graduation_year],
    p.business_registered_on && ["营业执照登记日期", "Business registered on", p.business_registered_on],
    ["类别证明", "Evidence", p.has_evidence ? "已上传 uploaded" : "未上传 none"],
  ]);
  document.getElementById("enrolments-card").hidden = false;
  const body = document.querySelector("#enrolments tbody");
  body.replaceChildren(...p.enrolments.map((e) => h("tr", { "data-testid": "enrolment", "data-class-id": e.class_id },
    h("td", {}, e.class_name, e.status === "enrolled" ? h("a", { class: "att-link", href: `/attendance?class=${e.class_id}&student=${me.id}`,
      "data-testid": "attendance-link" }, ...bi("考勤明细", "Attendance")) : null),
    h("td", {}, COURSE_TYPES[e.course_type] || e.course_type), h("td", {}, e.year ?? "—"),
    h("td", {}, ENROLMENT_ZH[e.status] || e.status, h("small", { class: "en" }, e.status)))));
  document.getElementById("enrolments-empty").hidden = p.enrolments.length > 0;
  // CLS-8: finished lessons with a recording, to make up missed hours or watch again
  const { items } = await api("/api/me/replays").catch(() => ({ items: [] }));
  if (items.length) document.getElementById("enrolments-card").append(h("h3", {}, ...bi("课程回放", "Lesson replays")),
    h("ul", { "data-testid": "replays" }, ...items.slice(0, 20).map((r) => h("li", {}, h("a", { href: r.url, "data-testid": "replay-link" },
      `${r.class_name} · ${r.title}`), " ", h("small", { class: "muted" }, fmtTime(r.starts_at))))));
}

async function showClasses() {
  const { items } = await api("/api/classes");
  document.getElementById("classes-card").hidden = false;
  document.querySelector("#my-classes tbody").replaceChildren(...(items.length ? items.map((c) =>
    h("tr", { "data-testid": "class-row", "data-class-id": c.id },
      h("td", {}, c.name, h("small", { class: "en" }, c.institution_name),
        h("a", { class: "att-link", href: `/attendance?class=${c.id}`, "data-testid": "attendance-link" }, ...bi("考勤明细", "Attendance"))),
      h("td", {}, COURSE_TYPES[c.course_type] || c.course_type), h("td", {}, fmtTime(c.first_lesson)),
      h("td", {}, statusBadge(c.status)))) :
    [h("tr", {}, h("td", { colspan: 4, class: "empty" }, ...bi("暂无班期", "No classes")))]));
}

main().catch((err) => showError(document.getElementById("page-error"), err));

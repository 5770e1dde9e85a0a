// 启航 Qihang — shared browser helpers: API calls, the session token, bilingual errors, labels.
// Plain ES module, no dependencies, no external URLs (PLAT-2).

const TOKEN_KEY = "qihang.token";
const USER_KEY = "qihang.user";

// ---------------------------------------------------------------- session

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function getUser() {
  try { return JSON.parse(sessionStorage.getItem(USER_KEY) || "null"); } catch { return null; }
}

export function setUser(user) {
  sessionStorage.setItem(USER_KEY, JSON.stringify(user));
}

export function clearSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

// ---------------------------------------------------------------- API calls

/** A refused request: `status` is the HTTP status, `error` the server's {code, field, message_zh, ...}. */
export class ApiFailure extends Error {
  constructor(status, error, headers) {
    super(`${error.code}: ${error.message_en}`);
    this.status = status;
    this.error = error;
    this.headers = headers || null;
  }
  get code() { return this.error.code; }
}

const NETWORK_ERROR = {
  code: "NETWORK", field: null,
  message_zh: "网络连接失败，请检查网络后重试",
  message_en: "Network error; check your connection and try again",
};

/**
 * Call the JSON API. Options: method, json (a body sent as JSON), form (a FormData sent as
 * multipart), auth (default true: send the bearer token; a 401 then ends the session and goes to
 * /login). Resolves with the parsed JSON; rejects with ApiFailure.
 */
export async function api(path, { method, json, form, auth = true, redirectOn401 = true } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // the browser sets multipart/form-data with its boundary
  }
  const token = auth ? getToken() : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  let resp;
  try {
    resp = await fetch(path, { method: method || (body === undefined ? "GET" : "POST"), headers, body,
                               credentials: "same-origin", cache: "no-store" });
  } catch {
    throw new ApiFailure(0, NETWORK_ERROR);
  }
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) {
    const error = (data && data.error) || {
      code: `HTTP_${resp.status}`, field: null,
      message_zh: `请求失败（HTTP ${resp.status}）`, message_en: `Request failed (HTTP ${resp.status})`,
    };
    if (resp.status === 401 && token && redirectOn401) {
      clearSession();
      goLogin();
    }
    throw new ApiFailure(resp.status, error, resp.headers);
  }
  return data;
}

export const get = (path) => api(path);
export const post = (path, json) => api(path, { method: "POST", json: json ?? {} });
export const put = (path, json) => api(path, { method: "PUT", json });
export const patch = (path, json) => api(path, { method: "PATCH", json });
export const del = (path) => api(path, { method: "DELETE" });
export const postForm = (path, form, opts = {}) => api(path, { method: "POST", form, ...opts });

// ---------------------------------------------------------------- roles and navigation

const HOMES = { institution_admin: "/planner", supervisor: "/review", student: "/" };

export function homeFor(role) {
  return HOMES[role] || "/";
}

/** Where to go after logging in: a same-site ?next= path if given, else the role's home. */
export function redirectHome(user, next) {
  const target = next && /^\/(?!\/)/.test(next) && !next.startsWith("/login") ? next : homeFor(user.role);
  window.location.assign(target);
}

export function goLogin() {
  const here = window.location.pathname + window.location.search + window.location.hash;
  window.location.assign(`/login?next=${encodeURIComponent(here)}`);
}

/**
 * Make sure someone is logged in (and has one of `roles`, if given). Resolves with the user from
 * GET /api/me; without a session it goes to /login. A wrong role gets a bilingual notice in `main`.
 */
export async function requireLogin(roles) {
  if (!getToken()) {
    goLogin();
    return new Promise(() => {});
  }
  const user = await api("/api/me");
  setUser(user);
  if (roles && !roles.includes(user.role)) {
    const main = document.querySelector("main");
    main.innerHTML = "";
    main.append(h("section", { class: "card", "data-testid": "wrong-role" },
      h("h2", {}, "当前账号无权使用此页面", h("small", { class: "en" }, "Your account may not use this page")),
      h("p", {}, `您的角色是「${ROLE_ZH[user.role] || user.role}」，本页面供：${roles.map((r) => ROLE_ZH[r] || r).join("、")}。`),
      h("p", { class: "en" }, `Your role is ${user.role}; this page is for ${roles.join(", ")}.`),
      h("p", {}, h("a", { href: homeFor(user.role), class: "button" }, "返回我的主页 · My home"))));
    return new Promise(() => {});
  }
  return user;
}

export async function logout() {
  try {
    await api("/api/auth/logout", { method: "POST", redirectOn401: false });
  } catch { /* the session may already be gone; log out locally anyway */ }
  clearSession();
  window.location.assign("/login");
}

/** Fill <header id="topbar"> with the brand, the role's links, the user and a logout button. */
export function renderTopbar(user, active) {
  const bar = document.getElementById("topbar");
  if (!bar) return;
  bar.innerHTML = "";
  const links = [["/", "我的主页", "Home"]];
  if (user.role === "institution_admin") links.push(["/planner", "开班计划", "Planner"], ["/subsidy", "补贴申报", "Subsidy"]);
  if (user.role === "supervisor") links.push(["/review", "班期审核", "Review"]);
  if (["supervisor", "platform_admin", "institution_admin"].includes(user.role)) links.push(["/supervise", "监管看板", "Dashboard"]);  // SUP-1/2/3
  links.push(["/leave", "请假", "Leave"]);  // CLS-7/CLS-8
  if (["student", "lecturer", "assistant", "institution_admin"].includes(user.role)) links.push(["/coursework", "作业与计划书", "Coursework"]);  // LIVE-7, EXAM-2
  if (user.role === "student") {
    links.push(["/exam", "结业考试", "Exam"]);  // EXAM-1
    links.push(["/my-certificates", "我的证书", "Certificates"]);  // CERT-1
  }
  links.push(["/docs", "接口文档", "API docs"]);
  const nav = h("nav", { class: "nav" }, ...links.map(([href, zh, en]) =>
    h("a", { href, class: href === active ? "active" : "", "data-testid": `nav-${en.toLowerCase().replace(/\s+/g, "-")}` },
      zh, h("small", { class: "en" }, en))));
  const who = h("span", { class: "who", id: "topbar-user" },
    user.display_name, h("small", { class: "en" }, `${ROLE_ZH[user.role] || user.role} · ${user.role}`));
  const out = h("button", { type: "button", id: "logout", class: "secondary small" }, "退出", h("small", { class: "en" }, "Log out"));
  out.addEventListener("click", logout);
  bar.append(h("a", { href: "/", class: "brand" }, "启航", h("small", { class: "en" }, "Qihang")), nav,
             h("div", { class: "user-box" }, who, out));
}

// ---------------------------------------------------------------- errors

function errorOf(err) {
  if (err instanceof ApiFailure) return err.error;
  if (err && err.message_zh) return err;
  console.error(err);
  return { code: "CLIENT", field: null, message_zh: "页面出错，请刷新后重试", message_en: String(err && err.message || err) };
}

/** Remove highlighted fields and inline messages inside `scope`. */
export function clearErrors(scope) {
  if (!scope) return;
  scope.querySelectorAll(".invalid").forEach((n) => n.classList.remove("invalid"));
  scope.querySelectorAll(".field-error").forEach((n) => n.remove());
  scope.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
}

/** Find the control for an error's field ("lessons.2.ends_at" falls back to "lessons.2", "lessons"). */
export function findField(scope, field) {
  if (!scope || !field) return null;
  const parts = String(field).replace(/^body\./, "").split(".");
  while (parts.length) {
    const name = parts.join(".");
    const sel = `[data-field="${cssEscape(name)}"], [name="${cssEscape(name)}"]`;
    const node = scope.querySelector(sel);
    if (node) return node;
    parts.pop();
  }
  return null;
}

function cssEscape(s) {
  return window.CSS && CSS.escape ? CSS.escape(s) : s.replace(/["\\]/g, "\\$&");
}

function markField(scope, e) {
  const node = findField(scope, e.field);
  if (!node) return false;
  node.classList.add("invalid");
  if (/^(INPUT|SELECT|TEXTAREA)$/.test(node.tagName)) node.setAttribute("aria-invalid", "true");
  const key = String(e.field).replace(/^body\./, "");
  if (document.getElementById(`error-${key}`)) return true;
  const msg = h("p", { class: "field-error", role: "alert", "data-testid": `error-${key}`, id: `error-${key}` },
    e.message_zh, h("small", { class: "en" }, e.message_en));
  if (node.tagName === "TR") {
    node.after(h("tr", { class: "field-error-row field-error" }, h("td", { colspan: node.children.length || 1 }, msg)));
    return true;
  }
  const holder = node.closest(".field") || (node.tagName !== "TABLE" && node.closest("td"));
  if (holder) holder.append(msg); else node.after(msg);
  return true;
}

/**
 * Show an error: message_zh first, message_en beneath, rule and code; list `details` when they are
 * several errors (rule violations, validation failures); highlight the named fields inside `scope`.
 */
export function showError(box, err, scope) {
  const e = errorOf(err);
  if (scope) clearErrors(scope);
  const details = Array.isArray(e.details) ? e.details.filter((d) => d && d.message_zh) : [];
  if (scope) {
    let first = null;
    // Several errors: mark each at its own field; one error: mark its field.
    const fielded = details.filter((d) => d.field);
    for (const d of fielded.length ? fielded : [e]) {
      if (d.field && markField(scope, d) && !first) first = findField(scope, d.field);
    }
    if (first && typeof first.focus === "function" && /^(INPUT|SELECT|TEXTAREA)$/.test(first.tagName)) {
      first.focus({ preventScroll: true });
      first.scrollIntoView({ block: "center", behavior: "instant" });
    }
  }
  if (!box) return e;
  box.innerHTML = "";
  box.hidden = false;
  box.className = "error-box";
  box.setAttribute("role", "alert");
  box.dataset.code = e.code || "";
  box.append(h("p", { class: "zh" }, e.message_zh), h("p", { class: "en" }, e.message_en));
  const meta = [e.code, e.rule && `规则 rule ${e.rule}`, e.field && `字段 field ${e.field}`].filter(Boolean).join(" · ");
  if (meta) box.append(h("p", { class: "meta" }, meta));
  if (details.length) box.append(violationList(details));
  return e;
}

/** When the user edits a highlighted field, take its highlight and inline message away. */
export function clearOnEdit(scope) {
  const handler = (ev) => {
    const node = ev.target.closest(".invalid") || ev.target;
    if (!node.classList || !node.classList.contains("invalid")) return;
    node.classList.remove("invalid");
    node.removeAttribute("aria-invalid");
    const holder = node.closest(".field") || node.closest("td");
    holder?.querySelectorAll(".field-error").forEach((n) => n.remove());
  };
  scope.addEventListener("input", handler);
  scope.addEventListener("change", handler);
}

export function hideBox(box) {
  if (!box) return;
  box.hidden = true;
  box.innerHTML = "";
}

export function showNotice(box, zh, en) {
  box.innerHTML = "";
  box.hidden = false;
  box.className = "notice-box";
  box.setAttribute("role", "status");
  box.append(h("p", { class: "zh" }, zh), h("p", { class: "en" }, en));
}

/** A list of bilingual rule violations (GET .../checks, RULES_NOT_MET details). */
export function violationList(items) {
  return h("ul", { class: "violations", "data-testid": "violations" }, ...items.map((v) =>
    h("li", { class: "violation", "data-testid": "violation", "data-code": v.code || "", "data-rule": v.rule || "" },
      h("span", { class: "rule" }, v.rule || v.code || "—"),
      h("div", {}, h("p", { class: "zh" }, v.message_zh), h("p", { class: "en" }, v.message_en),
        v.code ? h("p", { class: "meta" }, [v.code, v.field && `字段 ${v.field}`].filter(Boolean).join(" · ")) : null))));
}

/** Run an async action with `button` disabled; errors go to `box` (and fields in `scope`). */
export async function withBusy(button, box, scope, fn) {
  if (button) { button.disabled = true; button.classList.add("busy"); }
  if (scope) clearErrors(scope);
  if (box) hideBox(box);
  try {
    return await fn();
  } catch (err) {
    showError(box, err, scope);
    return undefined;
  } finally {
    if (button) { button.disabled = false; button.classList.remove("busy"); }
  }
}

// ---------------------------------------------------------------- DOM helpers

/** h("div", {class: "x", onclick: fn}, "text", child, ...) — a tiny element builder. */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** A bilingual label: Chinese, then small grey English. */
export function bi(zh, en) {
  return [zh, h("small", { class: "en" }, en)];
}

export function $(sel, root = document) { return root.querySelector(sel); }

export function query(name) {
  return new URLSearchParams(window.location.search).get(name);
}

// ---------------------------------------------------------------- dates (China Standard Time, +08:00)

const CN_OFFSET_MS = 8 * 3600 * 1000;

/** "2026-03-02T09:00:00+08:00" → "2026-03-02T09:00" for <input type=datetime-local>, in Beijing time. */
export function toLocalInput(iso) {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  return new Date(t + CN_OFFSET_MS).toISOString().slice(0, 16);
}

/** "2026-03-02T09:00" (Beijing time) → "2026-03-02T09:00:00+08:00". */
export function fromLocalInput(value) {
  if (!value) return "";
  const v = value.length === 16 ? `${value}:00` : value.slice(0, 19);
  return `${v}+08:00`;
}

/** Display an ISO time in Beijing time: "2026-03-02 09:00". */
export function fmtTime(iso) {
  if (!iso) return "—";
  const s = toLocalInput(iso);
  return s ? s.replace("T", " ") : iso;
}

// ---------------------------------------------------------------- labels

export const ROLE_ZH = {
  platform_admin: "平台管理员", institution_admin: "机构管理员", lecturer: "讲师", assistant: "助教",
  supervisor: "人社监管", student: "学员",
};

export const STATUS_ZH = {
  draft: "草稿", submitted: "已提交待审核", rejected: "已退回", district_approved: "区县已审核",
  city_confirmed: "市级已确认", province_confirmed: "省级已确认", open: "已开班", in_progress: "培训中",
  finished: "已结业", archived: "已归档",
};

export const LEVEL_ZH = { district: "区县级", city: "市级", province: "省级" };

export const COURSE_TYPES = {
  SYB: "创办你的企业（SYB）", IYB: "改善你的企业（IYB）", WLC: "网络创业培训", GYB: "产生你的企业想法（GYB）",
  ELITE_LAUNCH: "创业精英（创业启动）", ELITE_PRACTICE: "创业精英（创业实践）",
};

export const DELIVERY_MODES = {
  live: "线上直播", live_offline: "直播＋线下", recorded: "录播（含直播答疑）", offline: "线下面授",
};

export const LESSON_MODES = { live: "直播", offline: "线下", recorded: "录播" };

export const TARGET_GROUPS = {
  graduate: "高校毕业生", registered_unemployed: "登记失业人员", rural_migrant_worker: "农村转移就业劳动力",
  veteran: "退役军人", prior_certificate: "已取得创业培训合格证", competition_award: "市级以上创业大赛获奖者",
  new_business_owner: "新创小微企业负责人", other: "其他",
};

export const ACTION_ZH = {
  submit: "提交审核", withdraw: "撤回", approve: "审核通过", reject: "退回", open: "开班", start: "开课",
  finish: "结业", archive: "归档", create: "创建",
};

export function statusBadge(status, attrs = {}) {
  return h("span", { class: `badge status-${status}`, "data-status": status, ...attrs },
    STATUS_ZH[status] || status, h("small", { class: "en" }, status));
}

// ---------------------------------------------------------------- resident ID (GB 11643-1999) hint

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = "10X98765432";

/**
 * A typing hint for an 18-digit resident ID number. Returns {state: "empty"|"partial"|"ok"|"bad",
 * zh, en, birth?, gender?}. Only a hint: the server decides.
 */
export function residentIdHint(raw) {
  const v = String(raw || "").trim().toUpperCase();
  if (!v) return { state: "empty", zh: "18 位，末位可能是 X", en: "18 characters; the last may be X" };
  if (!/^\d{0,17}[\dX]?$/.test(v) || (v.includes("X") && v.indexOf("X") !== 17)) {
    return { state: "bad", zh: "只能是数字，末位可以是 X", en: "Digits only; only the last may be X" };
  }
  if (v.length < 18) return { state: "partial", zh: `已输入 ${v.length}/18 位`, en: `${v.length} of 18 characters` };
  const y = +v.slice(6, 10), m = +v.slice(10, 12), d = +v.slice(12, 14);
  const born = new Date(Date.UTC(y, m - 1, d));
  if (y < 1900 || born.getUTCMonth() !== m - 1 || born.getUTCDate() !== d || born.getTime() > Date.now()) {
    return { state: "bad", zh: `第 7–14 位出生日期 ${v.slice(6, 14)} 不是有效日期`, en: `Digits 7–14 (${v.slice(6, 14)}) are not a valid birth date` };
  }
  const sum = ID_WEIGHTS.reduce((acc, w, i) => acc + w * +v[i], 0);
  const expect = ID_CHECK[sum % 11];
  if (v[17] !== expect) {
    return { state: "bad", zh: "校验位不符，请逐位核对身份证号", en: "The check digit does not match; check the number digit by digit" };
  }
  const birth = `${v.slice(6, 10)}-${v.slice(10, 12)}-${v.slice(12, 14)}`;
  const male = +v[16] % 2 === 1;
  return { state: "ok", birth, gender: male ? "M" : "F",
           zh: `格式正确 · 出生日期 ${birth} · ${male ? "男" : "女"}`, en: `Looks valid · born ${birth} · ${male ? "male" : "female"}` };
}

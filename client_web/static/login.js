import { api, ApiFailure, clearOnEdit, clearSession, h, hideBox, query, redirectHome, setToken, setUser, showError, clearErrors } from "/static/api.js";

const form = document.getElementById("login-form");
const box = document.getElementById("login-error");
const button = document.getElementById("login-submit");
const username = document.getElementById("username");
const password = document.getElementById("password");

clearOnEdit(form);

const preset = query("u");
if (preset) {
  username.value = preset;
  password.focus();
} else {
  username.focus();
}

let unlockTimer = null;

function showLockout(err) {
  const e = showError(box, err, form);
  box.classList.add("lockout");
  box.setAttribute("data-testid", "lockout");
  const seconds = Number(err.headers && err.headers.get("Retry-After"));
  box.prepend(h("p", { class: "zh", style: "font-size:1.1em" }, "🔒 账号已临时锁定"),
              h("p", { class: "en" }, "Account temporarily locked"));
  if (seconds > 0) {
    const until = new Date(Date.now() + seconds * 1000);
    const hhmm = until.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit", timeZone: "Asia/Shanghai" });
    box.append(h("p", { id: "lockout-until" }, `可于北京时间 ${hhmm} 后再试`,
                 h("small", { class: "en" }, `Try again after ${hhmm} (Beijing time)`)));
    button.disabled = true;
    clearTimeout(unlockTimer);
    unlockTimer = setTimeout(() => { button.disabled = false; }, seconds * 1000);
  }
  return e;
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearErrors(form);
  hideBox(box);
  const body = { username: username.value.trim(), password: password.value };
  if (!body.username || !body.password) {
    showError(box, {
      code: "MISSING", field: body.username ? "password" : "username",
      message_zh: "请输入用户名和密码", message_en: "Enter your username and password",
    }, form);
    return;
  }
  button.disabled = true;
  try {
    clearSession();
    const res = await api("/api/auth/login", { method: "POST", json: body, auth: false });
    setToken(res.token);
    setUser(res.user);
    redirectHome(res.user, query("next"));
  } catch (err) {
    button.disabled = false;
    if (err instanceof ApiFailure && (err.status === 429 || err.code === "ACCOUNT_LOCKED")) {
      showLockout(err);
    } else {
      box.removeAttribute("data-testid");
      showError(box, err, form);
    }
    password.select();
  }
});

// Student real-name registration (REG-1/2/3), designed for a phone. The server is the authority on
// every rule; the page only helps: an ID-number hint while typing, fields shown per target group,
// all missing required fields listed at once, and oversized camera photos scaled down before upload.
import { clearErrors, clearOnEdit, h, hideBox, postForm, query, residentIdHint, setToken, showError, withBusy } from "/static/api.js";

const form = document.getElementById("register-form");
const box = document.getElementById("register-error");
const submit = document.getElementById("register-submit");
const success = document.getElementById("register-success");

clearOnEdit(form);

// ---- institution code from the link (?inst=)
const hidden = document.getElementById("institution_code");
const manual = document.getElementById("institution_code_manual");
const inst = (query("inst") || "").trim();
if (inst) {
  hidden.value = inst;
  manual.closest(".field").remove();
  document.getElementById("inst-code-display").textContent = inst;
} else {
  hidden.remove();
  manual.name = "institution_code";
  manual.required = true;
  manual.removeAttribute("data-field");
  manual.closest(".field").hidden = false;
  document.getElementById("inst-line").hidden = true;
}

// ---- GB 11643 hint as the user types
const idInput = document.getElementById("id_number");
const idHint = document.getElementById("id_number-hint");
function updateIdHint() {
  const upper = idInput.value.toUpperCase().replace(/\s+/g, "");
  if (upper !== idInput.value) idInput.value = upper;
  const hint = residentIdHint(upper);
  idHint.dataset.state = hint.state;
  idHint.replaceChildren(hint.zh, h("small", { class: "en" }, hint.en));
}
idInput.addEventListener("input", updateIdHint);
updateIdHint();

document.getElementById("mobile").addEventListener("input", (ev) => {
  const digits = ev.target.value.replace(/\D+/g, "");
  if (digits !== ev.target.value) ev.target.value = digits;
});

// ---- fields that depend on the target group (REG-3)
const targetGroup = document.getElementById("target_group");
const DEPENDENT = { graduate: "graduation_year", new_business_owner: "business_registered_on" };
const today = new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);
document.getElementById("graduation_year").max = String(+today.slice(0, 4) + 1);
document.getElementById("business_registered_on").max = today;
function updateGroupFields() {
  for (const [group, name] of Object.entries(DEPENDENT)) {
    const on = targetGroup.value === group;
    document.getElementById(`${name}-field`).hidden = !on;
    const input = document.getElementById(name);
    input.disabled = !on;
    input.required = on;
  }
}
targetGroup.addEventListener("change", updateGroupFields);
updateGroupFields();

// ---- photo pickers: show the chosen file with a thumbnail
for (const input of form.querySelectorAll("input[type=file]")) {
  input.addEventListener("change", () => {
    const pick = input.nextElementSibling;
    const file = input.files && input.files[0];
    const name = pick.querySelector(".file-name");
    const thumb = pick.querySelector(".thumb");
    if (!name.dataset.original) name.dataset.original = name.textContent;
    if (!thumb.dataset.original) thumb.dataset.original = thumb.textContent;
    if (!file) {
      pick.classList.remove("chosen");
      name.textContent = name.dataset.original;
      thumb.textContent = thumb.dataset.original;
      return;
    }
    pick.classList.add("chosen");
    name.textContent = `${file.name} · ${file.size < 1024 * 1024 ? `${Math.ceil(file.size / 1024)} KB` : `${(file.size / 1024 / 1024).toFixed(1)} MB`}`;
    if (/^image\/(jpeg|png)$/.test(file.type)) {
      const img = h("img", { alt: "", src: URL.createObjectURL(file) });
      img.addEventListener("load", () => URL.revokeObjectURL(img.src), { once: true });
      thumb.replaceChildren(img);
    } else {
      thumb.textContent = "⚠️";
      name.textContent = `${file.name} — 请选择 JPEG 或 PNG 图片 · choose a JPEG or PNG`;
    }
  });
}

// ---- camera photos can be 5–10 MB; the upload limit is 20 MB for all of them together.
const SHRINK_ABOVE = 3 * 1024 * 1024;
const MAX_SIDE = 2560;
async function shrink(file) {
  if (!(file instanceof File) || file.size <= SHRINK_ABOVE || !window.createImageBitmap) return file;
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
    if (!blob || blob.size >= file.size) return file;
    return new File([blob], file.name.replace(/\.\w+$/, "") + ".jpg", { type: "image/jpeg" });
  } catch {
    return file; // let the server judge the original
  }
}

const LABELS = {
  institution_code: ["机构代码", "institution code"], real_name: ["姓名", "real name"],
  id_number: ["身份证号", "ID number"], mobile: ["手机号", "mobile"], password: ["登录密码", "password"],
  household_registration: ["户籍所在地", "household registration"], target_group: ["培训对象类别", "target group"],
  graduation_year: ["毕业年份", "graduation year"], business_registered_on: ["营业执照登记日期", "business registration date"],
  id_front: ["身份证人像面", "ID card photo side"], id_back: ["身份证国徽面", "ID card emblem side"],
  reference_photo: ["本人免冠照片", "portrait photo"], consent: ["同意个人信息处理规则", "consent"],
};

function missingRequired() {
  const missing = [];
  for (const el of form.querySelectorAll("[required]")) {
    if (el.disabled) continue;
    const empty = el.type === "checkbox" ? !el.checked : el.type === "file" ? !(el.files && el.files.length) : !el.value.trim();
    if (empty) missing.push(el.name);
  }
  return missing;
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearErrors(form);
  hideBox(box);
  const missing = missingRequired();
  if (missing.length) {
    showError(box, {
      code: "MISSING_FIELDS", field: null,
      message_zh: `还有 ${missing.length} 项必填内容未填写`,
      message_en: `${missing.length} required item(s) still empty`,
      details: missing.map((name) => ({
        code: "missing", field: name, rule: "missing",
        message_zh: `请填写：${(LABELS[name] || [name])[0]}`, message_en: `Required: ${(LABELS[name] || [name, name])[1]}`,
      })),
    }, form);
    return;
  }
  await withBusy(submit, box, form, async () => {
    const fd = new FormData(form);
    for (const [key, value] of [...fd.entries()]) {
      if (value instanceof File) {
        if (!value.size && !value.name) fd.delete(key);
        else fd.set(key, await shrink(value));
      } else if (typeof value === "string" && !value.trim()) {
        fd.delete(key);
      }
    }
    const res = await postForm("/api/students/register", fd, { auth: false });
    setToken(res.token);
    showSuccess(res.student);
  });
});

function showSuccess(student) {
  form.hidden = true;
  success.hidden = false;
  document.getElementById("success-name").textContent = student.real_name;
  document.getElementById("success-id-masked").textContent = student.id_number_masked;
  document.getElementById("success-mobile").textContent = student.mobile_masked || "";
  window.scrollTo(0, 0);
}

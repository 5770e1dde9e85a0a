// 启航 Qihang — public certificate check (CERT-1): number + check code → valid / revoked / invalid;
// or a certificate PDF file → valid / revoked / tampered (its embedded seal data against the register).
// No login; the server shows no personal data beyond a masked name.
import { $, ApiFailure, api, bi, h, hideBox, query, showError } from "/static/api.js";

const STATUS = {
  tampered: ["文件已被篡改", "The file was altered", "status-rejected"],
  valid: ["证书真实有效", "Genuine and valid", "status-open"],
  revoked: ["证书已撤销", "Revoked", "status-rejected"],
  invalid: ["校验失败（数据可能被篡改）", "Fails verification (possibly altered)", "status-rejected"],
};

function row(zh, en, value) {
  return value === null || value === undefined ? null : h("tr", {}, h("th", {}, ...bi(zh, en)), h("td", {}, String(value)));
}

function render(v) {
  const box = $("#verify-result");
  const [zh, en, cls] = STATUS[v.status] || STATUS.invalid;
  box.innerHTML = "";
  box.hidden = false;
  box.dataset.status = v.status;
  box.append(
    h("h2", {}, h("span", { class: `badge ${cls}`, "data-testid": "verify-status" }, ...bi(zh, en))),
    h("p", { class: "zh" }, v.message_zh), h("p", { class: "en muted" }, v.message_en),
    h("table", { class: "facts" },
      row("证书编号", "Number", v.number),
      row("持证人", "Holder", v.holder),
      row("培训项目", "Course", v.course_name && `${v.course_name}（${v.course_type}）`),
      row("培训课时", "Class-hours", v.class_hours),
      row("培训时间", "Dates", v.start_date && `${v.start_date} — ${v.end_date}`),
      row("培训机构", "Institution", v.institution_name),
      row("发证日期", "Issued on", v.issued_on),
      row("撤销日期", "Revoked on", v.revoked_on),
      row("签章密钥", "Seal key id", v.key_id)),
  );
}

async function check(number, code) {
  hideBox($("#page-error"));
  $("#verify-result").hidden = true;
  try {
    const v = await api(`/api/public/certificates/${encodeURIComponent(number)}?c=${encodeURIComponent(code)}`,
                        { auth: false, redirectOn401: false });
    render(v);
  } catch (err) {
    showError($("#page-error"), err, $("#verify-form"));
  }
}

async function checkPdf(file) {
  const box = $("#pdf-result");
  hideBox($("#pdf-error"));
  box.hidden = true;
  try {
    let resp;
    try {
      resp = await fetch("/api/public/certificates/check-pdf", { method: "POST", body: file,
                                                                 headers: { "Content-Type": "application/pdf" } });
    } catch {
      throw new ApiFailure(0, { code: "NETWORK", message_zh: "网络连接失败，请重试", message_en: "Network error; try again" });
    }
    const data = await resp.json().catch(() => null);
    if (!resp.ok) {
      throw new ApiFailure(resp.status, (data && data.error) || { code: `HTTP_${resp.status}`,
        message_zh: `查验失败（HTTP ${resp.status}）`, message_en: `Check failed (HTTP ${resp.status})` });
    }
    const [zh, en, cls] = STATUS[data.status] || STATUS.invalid;
    box.innerHTML = "";
    box.hidden = false;
    box.dataset.status = data.status;
    box.append(h("p", {}, h("span", { class: `badge ${cls}`, "data-testid": "pdf-status" }, ...bi(zh, en))),
      h("p", { class: "zh" }, data.message_zh), h("p", { class: "en muted" }, data.message_en),
      h("table", { class: "facts" },
        row("证书编号", "Number", data.number),
        row("培训机构", "Institution", data.institution_name),
        row("培训课时", "Class-hours", data.class_hours),
        row("发证日期", "Issued on", data.issued_on),
        row("撤销日期", "Revoked on", data.revoked_on),
        row("签章密钥", "Seal key id", data.key_id)));
  } catch (err) {
    showError($("#pdf-error"), err, $("#pdf-form"));
  }
}

$("#pdf-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const file = $("#pdf-file").files[0];
  if (!file) {
    showError($("#pdf-error"), { code: "CERT_PDF_MISSING", field: "file", message_zh: "请选择证书 PDF 文件",
                                 message_en: "Choose the certificate PDF file" }, $("#pdf-form"));
    return;
  }
  checkPdf(file);
});

$("#verify-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  check($("#verify-number").value.trim(), $("#verify-code").value.trim());
});

const n = query("n");
const c = query("c");
if (n) $("#verify-number").value = n;
if (c) $("#verify-code").value = c;
if (n && c) check(n, c);

// 启航 Qihang — public certificate check (CERT-1): number + check code → valid / revoked / invalid.
// No login; the server shows no personal data beyond a masked name.
import { $, api, bi, h, hideBox, query, showError } from "/static/api.js";

const STATUS = {
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

$("#verify-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  check($("#verify-number").value.trim(), $("#verify-code").value.trim());
});

const n = query("n");
const c = query("c");
if (n) $("#verify-number").value = n;
if (c) $("#verify-code").value = c;
if (n && c) check(n, c);

// 启航 Qihang — a student's certificates (CERT-1), phone first: each with its status, the PDF download
// (the bearer token is sent, so the file is fetched and handed to the browser as a download) and the
// public verification link that the certificate's QR code also holds.
import { ApiFailure, bi, get, getToken, h, hideBox, renderTopbar, requireLogin, showError } from "/static/api.js";

const STATUS = {
  valid: ["有效", "Valid", "status-open"],
  revoked: ["已撤销", "Revoked", "status-rejected"],
};
const $ = (id) => document.getElementById(id);

async function download(cert, button, box) {
  button.disabled = true;
  hideBox(box);
  try {
    const resp = await fetch(cert.pdf_url, { headers: { Authorization: `Bearer ${getToken()}` }, cache: "no-store" });
    if (!resp.ok) {
      let error = null;
      try { error = (await resp.json()).error; } catch { /* not JSON */ }
      throw new ApiFailure(resp.status, error || { code: `HTTP_${resp.status}`, message_zh: `下载失败（HTTP ${resp.status}）`,
                                                   message_en: `Download failed (HTTP ${resp.status})` });
    }
    const url = URL.createObjectURL(await resp.blob());
    const a = h("a", { href: url, download: `certificate-${cert.number}.pdf` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (err) {
    showError(box, err);
  } finally {
    button.disabled = false;
  }
}

function item(cert) {
  const [zh, en, cls] = STATUS[cert.status] || STATUS.valid;
  const box = h("div", { hidden: true });
  const button = h("button", { type: "button", class: "block", "data-testid": `download-${cert.id}` },
    ...bi("下载证书 PDF", "Download PDF"));
  button.addEventListener("click", () => download(cert, button, box));
  return h("li", { class: "card cert-item", "data-status": cert.status },
    h("h2", {}, `${cert.course_name}（${cert.course_type}）`, " ",
      h("span", { class: `badge ${cls}` }, ...bi(zh, en))),
    h("p", {}, `证书编号 ${cert.number}`, h("small", { class: "en" }, ` · 校验码 check code ${cert.check_code}`)),
    h("p", { class: "muted" }, `${cert.institution_name} · ${cert.class_hours} 课时 · ${cert.start_date} — ${cert.end_date}`),
    h("p", { class: "muted" }, `发证日期 ${cert.issued_on}`, cert.revoked_on ? ` · 撤销日期 ${cert.revoked_on}` : "",
      h("small", { class: "en" }, cert.revoked_on ? " Issued / revoked on" : " Issued on")),
    cert.status === "revoked"
      ? h("p", { class: "error-box" }, ...bi("此证书已被撤销，下载的 PDF 标有“已撤销”。", "This certificate was revoked; the PDF is marked REVOKED."))
      : null,
    button,
    h("p", {}, h("a", { href: cert.verify_url }, ...bi("查验证书真伪", "Verify this certificate"))),
    box);
}

/** EXAM-3: for each class without a certificate yet, what is met and what is still missing. */
async function showProgress(certified) {
  const classes = (await get("/api/classes")).items.filter((c) => !certified.has(c.id));
  if (!classes.length) return;
  const list = $("my-progress");
  list.innerHTML = "";
  for (const c of classes) {
    const v = await get(`/api/me/classes/${c.id}/eligibility`);
    const f = v.figures;
    list.append(h("li", { class: "card", "data-class-id": c.id, "data-eligible": String(v.eligible) },
      h("h3", {}, c.name, " ", h("span", { class: `badge ${v.eligible ? "status-open" : ""}` },
        ...(v.eligible ? bi("已满足", "All met") : bi("尚未满足", "Not yet")))),
      h("p", { class: "muted" }, `已上 ${f.lessons_held}/${f.lessons_total} 课次`,
        h("small", { class: "en" }, ` ${f.lessons_held} of ${f.lessons_total} lessons held; figures so far`)),
      v.shortfalls.length ? h("ul", {}, ...v.shortfalls.map((x) =>
        h("li", { "data-rule": x.rule }, `[${x.rule}] ${x.message_zh}`, h("small", { class: "en" }, ` ${x.message_en}`)))) : null));
  }
  $("progress-card").hidden = false;
}

async function main() {
  const user = await requireLogin(["student"]);
  renderTopbar(user, "/my-certificates");
  const list = $("my-certs");
  try {
    const data = await get("/api/me/certificates");
    list.innerHTML = "";
    if (!data.certificates.length) {
      list.append(h("li", { class: "empty" }, ...bi("您还没有证书。培训结业并考核合格后，由培训机构发放。",
        "No certificate yet: the institution issues it after the class ends and you pass.")));
    } else {
      list.append(...data.certificates.map(item));
    }
    await showProgress(new Set(data.certificates.map((c) => c.class_id)));
  } catch (err) {
    list.innerHTML = "";
    showError($("page-error"), err);
  }
}

main();

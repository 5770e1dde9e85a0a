// 启航 Qihang — public subsidy disclosure (SUB-3): the rosters under disclosure today and, for one, its
// masked rows as submitted. No login; the server never sends unmasked personal data here.
import { $, ApiFailure, api, bi, h, query, showError } from "/static/api.js";

const STATUS = { open: ["公示中", "Open"], upcoming: ["即将公示", "Upcoming"], ended: ["已结束", "Ended"] };

function yuan(v) {
  return v === null || v === undefined ? "—" : `${Number(v).toLocaleString("zh-CN")} 元`;
}

function headLine(d) {
  const [zh, en] = STATUS[d.status] || [d.status, d.status];
  return [h("strong", {}, `${d.institution_name || ""} · ${d.class_name || ""}（${d.course_type || ""}）`),
    h("span", { class: "badge" }, ...bi(zh, en)),
    h("small", { class: "muted" }, ` ${d.starts_on} — ${d.ends_on} · ${d.students} 人 · ${yuan(d.total_cny)}`)];
}

async function showList() {
  const box = $("#disclosure-list");
  const { items } = await api("/api/public/subsidy-disclosures", { auth: false, redirectOn401: false });
  box.innerHTML = "";
  box.append(h("h2", {}, ...bi("正在公示", "Under disclosure")));
  if (!items.length) {
    box.append(h("p", { class: "muted" }, ...bi("目前没有正在公示的补贴名单。", "No roster is under disclosure today.")));
    return;
  }
  box.append(h("ul", {}, ...items.map((d) =>
    h("li", {}, h("a", { href: `/disclosure?t=${encodeURIComponent(d.token)}`, "data-token": d.token }, ...headLine(d))))));
}

async function showOne(token) {
  const box = $("#disclosure-detail");
  const d = await api(`/api/public/subsidy-disclosures/${encodeURIComponent(token)}`, { auth: false, redirectOn401: false });
  box.hidden = false;
  box.innerHTML = "";
  box.append(
    h("h2", {}, ...headLine(d)),
    h("div", { class: "table-scroll" }, h("table", { "data-testid": "disclosure-rows" },
      h("thead", {}, h("tr", {}, ...[["序号", "No."], ["姓名", "Name"], ["身份证号", "ID number"], ["手机号", "Phone"],
        ["培训项目", "Course"], ["补贴金额", "Amount"]].map(([zh, en]) => h("th", {}, ...bi(zh, en))))),
      h("tbody", {}, ...d.items.map((r, i) => h("tr", {},
        h("td", { class: "num" }, String(i + 1)), h("td", {}, r.name_masked), h("td", {}, r.id_number_masked || "—"),
        h("td", {}, r.mobile_masked || "—"), h("td", {}, r.course_name), h("td", { class: "num" }, yuan(r.amount_cny))))))),
  );
}

async function main() {
  try {
    const token = query("t");
    if (token) await showOne(token);
    await showList();
  } catch (err) {
    if (err instanceof ApiFailure) showError($("#page-error"), err);
    else throw err;
  }
}

main();

// 启航 Qihang — an institution's training-subsidy claim for a finished class (SUB-1…4, REG-4): the roster
// with each student's amount and the reason for every 0, the business-success evidence (upload, verify,
// reject), the bank account, and submitting the claim — which freezes the roster, builds the application
// bundle and opens the masked public list (/disclosure). Where the profile pays an advance after the
// online part (Baotou SUB-4), the advance roster and its own claim come first; the final claim deducts it.
// Every figure comes from the server.
import {
  ApiFailure, bi, get, getToken, h, hideBox, post, postForm, put, query, renderTopbar, requireLogin, showError,
  showNotice, withBusy,
} from "/static/api.js";

const $ = (id) => document.getElementById(id);
const state = { user: null, classId: null, roster: null };
const KIND = { business_licence: ["营业执照", "Business licence"], online_shop: ["网店", "Online shop"] };
const EV_STATUS = { submitted: ["待审核", "To review"], verified: ["已核实", "Verified"], rejected: ["已驳回", "Rejected"] };

function value(col, v) {
  if (v === null || v === undefined || v === "") return "—";
  if (col.kind === "bool") return v ? "是 ✓" : "否 ✗";
  return String(v);
}

function rosterTable(data) {
  const cols = data.columns;
  return h("table", { "data-testid": "subsidy-roster" },
    h("thead", {}, h("tr", {}, ...cols.map((c) => h("th", {}, ...bi(c.zh, c.en))))),
    h("tbody", {}, ...data.items.map((r) => h("tr", { "data-student-id": r.student_id, "data-claimed": String(r.claimed) },
      ...cols.map((c) => h("td", { class: c.kind === "int" ? "num" : "" }, value(c, r[c.key])))))));
}

function yuan(v) { return v === null || v === undefined ? "—" : `${Number(v).toLocaleString("zh-CN")} 元`; }

async function downloadBundle(button, stage = "final") {
  const path = stage === "advance" ? "subsidy/advance/claim/bundle" : "subsidy/claim/bundle";
  await withBusy(button, $("page-error"), null, async () => {
    const resp = await fetch(`/api/classes/${state.classId}/${path}`,
      { headers: { Authorization: `Bearer ${getToken()}` }, cache: "no-store" });
    if (!resp.ok) {
      let error = { code: `HTTP_${resp.status}`, message_zh: `下载失败（HTTP ${resp.status}）`, message_en: `Download failed (HTTP ${resp.status})` };
      try { error = (await resp.json()).error || error; } catch { /* not JSON */ }
      throw new ApiFailure(resp.status, error);
    }
    const url = URL.createObjectURL(await resp.blob());
    const a = h("a", { href: url, download: `subsidy-${stage === "advance" ? "advance-" : ""}bundle-${state.classId}.zip` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  });
}

function renderClaim(claim, stage = "final") {
  const box = $(stage === "advance" ? "advance-state" : "claim-state");
  box.innerHTML = "";
  $(stage === "advance" ? "advance-submit" : "claim-submit").hidden = Boolean(claim);
  if (!claim) return;
  const d = claim.disclosure;
  const testid = stage === "advance" ? "advance-bundle" : "bundle";
  const bundle = h("button", { type: "button", class: "secondary", "data-testid": testid }, ...bi("下载申报材料包", "Download the bundle"));
  bundle.addEventListener("click", () => downloadBundle(bundle, stage));
  box.append(
    h("p", { "data-testid": stage === "advance" ? "advance-submitted" : "claim-submitted" },
      `已于 ${claim.submitted_at.slice(0, 10)} 申报，合计 ${yuan(claim.total_cny)}`,
      h("small", { class: "en" }, ` Submitted; total ${claim.total_cny ?? "—"} CNY`)),
    h("p", {}, `公示期 ${d.starts_on} — ${d.ends_on} `,
      h("a", { href: `/disclosure?t=${encodeURIComponent(d.token)}`, "data-testid": "disclosure-link" }, ...bi("查看公示", "Public list"))),
    bundle);
}

function renderEvidence(items) {
  const names = Object.fromEntries(state.roster.items.map((r) => [r.student_id, r.name]));
  const list = $("evidence-list");
  list.innerHTML = "";
  if (!items.length) list.append(h("li", { class: "muted" }, ...bi("暂无证明", "No evidence yet")));
  for (const ev of items) {
    const [kzh, ken] = KIND[ev.kind] || [ev.kind, ev.kind];
    const [szh, sen] = EV_STATUS[ev.status] || [ev.status, ev.status];
    const li = h("li", { "data-evidence-id": ev.id, "data-status": ev.status },
      h("strong", {}, names[ev.student_id] || `#${ev.student_id}`), ` · ${kzh} ${ev.started_on} · `,
      h("span", { class: "badge" }, ...bi(szh, sen)), " ",
      h("small", {}, ev.qualification.message_zh), h("small", { class: "en" }, ` ${ev.qualification.message_en}`));
    if (ev.status === "submitted" && !state.roster.claim) {
      for (const [action, zh, en] of [["verify", "核实", "Verify"], ["reject", "驳回", "Reject"]]) {
        const b = h("button", { type: "button", class: "secondary small", "data-testid": `${action}-${ev.id}` }, ...bi(zh, en));
        b.addEventListener("click", () => withBusy(b, $("page-error"), null, async () => {
          const note = action === "reject" ? window.prompt("驳回理由 Reason") : null;
          if (action === "reject" && !note) return;
          await post(`/api/subsidy/evidence/${ev.id}/review`, note ? { action, note } : { action });
          await loadClass(state.classId);
        }));
        li.append(" ", b);
      }
    }
    list.append(li);
  }
  $("ev-student").replaceChildren(...state.roster.items.map((r) => h("option", { value: r.student_id }, r.name)));
}

async function loadClass(id) {
  state.classId = id;
  hideBox($("page-error"));
  const roster = await get(`/api/classes/${id}/subsidy/roster`);
  state.roster = roster;
  const t = roster.totals;
  $("roster-totals").textContent = `学员 ${t.students} 人，符合结业条件 ${t.eligible} 人，申领 ${t.claimed} 人，合计 ${yuan(t.total_cny)}` +
    (t.flagged ? `；重复参训待核 ${t.flagged} 人` : "") + (t.amount_unknown ? `；${t.amount_unknown} 人金额未知（地区政策未设标准）` : "");
  $("roster-table").replaceChildren(rosterTable(roster));
  $("roster-card").hidden = false;
  renderEvidence((await get(`/api/classes/${id}/subsidy/evidence`)).items);
  $("evidence-card").hidden = false;
  renderClaim(roster.claim);
  $("claim-card").hidden = false;
  await loadAdvance(id, roster);
}

/** SUB-4: the advance roster and claim, where the class's profile pays one. */
async function loadAdvance(id, roster) {
  $("advance-card").hidden = roster.advance_payment_share == null;
  if (roster.advance_payment_share == null) return;
  const adv = await get(`/api/classes/${id}/subsidy/advance`);
  const o = adv.online;
  $("advance-online").dataset.done = String(o.done);
  $("advance-online").replaceChildren(
    `线上课程 ${o.ended} / ${o.lessons} 课次已结束（${o.class_hours} 课时）`,
    h("small", { class: "en" }, ` Online lessons ended: ${o.ended} of ${o.lessons}`),
    o.done ? "" : h("small", { class: "muted" }, ...bi("，全部结束后方可申请", "; claim once all have ended")));
  const t = adv.totals;
  $("advance-totals").textContent = `预拨比例 ${adv.advance_payment_share * 100}%，补贴标准 ${yuan(adv.standard_cny)}；` +
    `线上学时达标 ${t.claimed} / ${t.students} 人，预拨合计 ${yuan(t.advance_cny)}`;
  $("advance-table").replaceChildren(rosterTable(adv));
  renderClaim(adv.claim, "advance");
  $("advance-submit").disabled = !o.done || roster.claim != null;
}

async function main() {
  state.user = await requireLogin(["institution_admin"]);
  renderTopbar(state.user, "/subsidy");
  try {
    const classes = (await get("/api/classes")).items;
    const select = $("class-select");
    select.replaceChildren(...classes.map((c) => h("option", { value: c.id }, `${c.name}（${c.status}）`)));
    const wanted = Number(query("class")) || (classes.find((c) => ["finished", "archived"].includes(c.status)) || classes[0] || {}).id;
    if (!wanted) return;
    select.value = String(wanted);
    select.addEventListener("change", () => loadClass(Number(select.value)).catch((err) => showError($("page-error"), err)));
    const bank = (await get(`/api/institutions/${state.user.institution_id}/bank-account`)).bank_account;
    if (bank) {
      $("bank-account-name").value = bank.account_name;
      $("bank-name").value = bank.bank_name;
      $("bank-number").value = bank.account_number;
    }
    await loadClass(wanted);
  } catch (err) {
    if (err instanceof ApiFailure) showError($("page-error"), err);
    else throw err;
  }
  $("bank-form").addEventListener("submit", (e) => {
    e.preventDefault();
    withBusy($("bank-submit"), $("page-error"), $("bank-form"), async () => {
      await put(`/api/institutions/${state.user.institution_id}/bank-account`, {
        account_name: $("bank-account-name").value.trim(), bank_name: $("bank-name").value.trim(),
        account_number: $("bank-number").value.trim() });
      showNotice($("claim-state"), "收款账户已保存", "Bank account saved");
    });
  });
  $("evidence-form").addEventListener("submit", (e) => {
    e.preventDefault();
    withBusy($("ev-submit"), $("page-error"), $("evidence-form"), async () => {
      await postForm(`/api/classes/${state.classId}/subsidy/evidence`, new FormData($("evidence-form")));
      $("evidence-form").reset();
      await loadClass(state.classId);
    });
  });
  $("advance-submit").addEventListener("click", () => withBusy($("advance-submit"), $("page-error"), null, async () => {
    if (!window.confirm("提交后线上预拨花名册冻结并公示，确定提交？ Submitting freezes the advance roster and discloses it. Submit?")) return;
    await post(`/api/classes/${state.classId}/subsidy/advance/claim`);
    await loadClass(state.classId);
  }));
  $("claim-submit").addEventListener("click", () => withBusy($("claim-submit"), $("page-error"), null, async () => {
    if (!window.confirm("提交后花名册冻结并公示，确定提交？ Submitting freezes the roster and discloses it. Submit?")) return;
    await post(`/api/classes/${state.classId}/subsidy/claim`);
    await loadClass(state.classId);
  }));
}

main();

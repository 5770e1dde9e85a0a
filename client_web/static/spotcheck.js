// Spot checks (SUP-5) and the offline site-video checklist (ATT-6). Supervisors draw a batch for their
// region and a period, see the batches with their reports, reassign, and record the verdict of the
// lessons assigned to them after watching the replay (/replay?lesson=ID&spotcheck=ITEM reports what
// was watched). Everyone in scope reads the checklist of offline lessons; the class's staff upload
// site clips and the full-session video there. Plain ES module, no external resources (PLAT-2).
import {
  bi, clearOnEdit, fmtTime, get, getToken, h, hideBox, LEVEL_ZH, post, renderTopbar, requireLogin, showError,
  showNotice, withBusy,
} from "/static/api.js";

const $ = (id) => document.getElementById(id);
const state = { me: null, assignees: [], batch: null };
const ITEM_STATUS = { pending: ["待查", "pending"], watching: ["观看中", "watching"], done: ["已完成", "done"] };
const VERDICT = { ok: ["无问题", "no problem"], problem: ["发现问题", "problem found"] };
const pct = (x) => (x == null ? "—" : `${(x * 100).toFixed(1)}%`);
const mins = (s) => (s / 60).toFixed(1);

function badge(map, key, prefix) {
  const [zh, en] = map[key] || [key, key];
  return h("span", { class: `badge ${prefix}-${key}`, "data-status": key }, zh, h("small", { class: "en" }, en));
}

function emptyRow(cols, zh, en) {
  return h("tr", {}, h("td", { colspan: cols, class: "empty" }, ...bi(zh, en)));
}

// ---------------------------------------------------------------- draw

async function setupDraw() {
  $("draw-card").hidden = false;
  $("draw-level").value = state.me.region_level;
  $("draw-code").value = state.me.region_code;
  const today = new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);
  $("draw-to").value = today;
  $("draw-from").value = `${today.slice(0, 8)}01`;
  const { items } = await get("/api/spot-checks/assignees");
  state.assignees = items;
  $("draw-assignee").replaceChildren(...items.map((u) => h("option", { value: u.id, selected: u.me },
    `${u.display_name}（${LEVEL_ZH[u.region_level] || u.region_level} ${u.region_code}）${u.me ? " · 本人 me" : ""}`)));
  const form = $("draw-form");
  clearOnEdit(form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    hideBox($("draw-notice"));
    const share = $("draw-share").value.trim();
    const body = { region_level: $("draw-level").value, region_code: $("draw-code").value.trim(),
                   period_from: $("draw-from").value, period_to: $("draw-to").value,
                   assignee_id: Number($("draw-assignee").value) || null, note: $("draw-note").value.trim() || null };
    if (share) body.share = Number(share) / 100;
    const b = await withBusy($("draw-submit"), $("draw-error"), form, () => post("/api/spot-checks", body));
    if (!b) return;
    showNotice($("draw-notice"),
      `已抽取 ${b.drawn_lessons} 节课、${b.drawn_class_hours} 课时（共 ${b.population_class_hours} 课时，要求 ≥ ${b.target_class_hours} 课时，${pct(b.drawn_share)}）`,
      `Drew ${b.drawn_lessons} lessons, ${b.drawn_class_hours} class-hours of ${b.population_class_hours} ` +
      `(at least ${b.target_class_hours} required, ${pct(b.drawn_share)})`);
    $("draw-notice").dataset.testid = "draw-result";
    await Promise.all([loadBatches(b.id), loadMine()]);
  });
}

// ---------------------------------------------------------------- my assignments

async function loadMine() {
  $("mine-card").hidden = false;
  try {
    const { items } = await get("/api/spot-checks/items?mine=1");
    $("mine").replaceChildren(...(items.length ? items.map(mineItem) :
      [h("li", { class: "empty" }, ...bi("暂无指派给您的抽查", "Nothing assigned to you"))]));
  } catch (err) { showError($("mine-error"), err); }
}

function mineItem(it) {
  const box = h("div", { hidden: true });
  const watched = h("span", { class: "watched", "data-testid": "watched" },
    `已观看 ${mins(it.watched_seconds)} / 需 ${mins(it.min_watch_seconds)} 分钟`,
    h("small", { class: "en" }, `watched ${mins(it.watched_seconds)} of ${mins(it.min_watch_seconds)} min needed`));
  const li = h("li", { class: "sc-item", "data-testid": "assignment", "data-item-id": it.id, "data-lesson-id": it.lesson_id },
    h("div", { class: "sc-head" }, h("strong", {}, `${it.class_name} · ${it.lesson_title}`), badge(ITEM_STATUS, it.status, "sc")),
    h("p", { class: "muted" }, `${it.institution_name} · ${fmtTime(it.starts_at)} · ${it.class_hours} 课时 class-hours`),
    h("p", {}, watched, " ",
      h("a", { class: "button secondary small", href: it.replay_url, "data-testid": "replay-link" }, ...bi("观看回放", "Watch the replay"))),
    box);
  if (it.verdict) {
    li.append(h("p", { "data-testid": "verdict" }, badge(VERDICT, it.verdict, "sc"), " ", it.note || "",
      h("small", { class: "en" }, `${fmtTime(it.decided_at)}`)));
    return li;
  }
  li.append(verdictForm(it, box));
  return li;
}

function verdictForm(it, box) {
  const form = h("form", { class: "verdict-form", novalidate: true, "data-testid": "verdict-form" },
    h("div", { class: "tabs", role: "radiogroup", "data-field": "verdict" },
      h("label", { class: "choice" }, h("input", { type: "radio", name: `v${it.id}`, value: "ok", checked: true }), " ", ...bi("无问题", "No problem")),
      h("label", { class: "choice" }, h("input", { type: "radio", name: `v${it.id}`, value: "problem" }), " ", ...bi("发现问题", "Problem found"))),
    h("div", { class: "field" }, h("label", {}, ...bi("说明", "Note (required for a problem)")),
      h("textarea", { name: "note", "data-field": "note", maxlength: 2000 })),
    box,
    h("button", { type: "submit", class: "small" }, ...bi("提交结论", "Record the verdict")));
  if (!it.can_decide) form.append(h("p", { class: "hint muted" }, ...bi("请先观看回放。", "Watch the replay first.")));
  clearOnEdit(form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const verdict = form.querySelector(`input[name=v${it.id}]:checked`).value;
    const note = form.querySelector("textarea").value.trim() || null;
    const done = await withBusy(form.querySelector("button[type=submit]"), box, form,
      () => post(`/api/spot-checks/items/${it.id}/verdict`, { verdict, note }));
    if (done) await Promise.all([loadMine(), loadBatches(state.batch)]);
  });
  return form;
}

// ---------------------------------------------------------------- batches and reports

async function loadBatches(open) {
  $("batches-card").hidden = false;
  try {
    const { items } = await get("/api/spot-checks");
    const body = $("batches").querySelector("tbody");
    body.replaceChildren(...(items.length ? items.map((b) => {
      const tr = h("tr", { class: "clickable", tabindex: 0, "data-testid": "batch-row", "data-batch-id": b.id },
        h("td", {}, `${LEVEL_ZH[b.region_level] || b.region_level} ${b.region_code}`,
          h("small", { class: "en" }, `${b.period_from} – ${b.period_to} · #${b.id} · ${b.drawn_by_name || ""}`)),
        h("td", { class: "num" }, `${b.drawn_class_hours} / ${b.target_class_hours} 课时`,
          h("small", { class: "en" }, `${pct(b.drawn_share)} ≥ ${pct(b.required_share)}`)),
        h("td", { class: "num" }, `${b.done} / ${b.pending}`),
        h("td", { class: `num${b.problems ? " bad" : ""}` }, String(b.problems)));
      tr.addEventListener("click", () => openReport(b.id));
      tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") openReport(b.id); });
      return tr;
    }) : [emptyRow(4, "暂无抽查批次", "No batches yet")]));
    if (open) await openReport(open);
  } catch (err) { showError($("batches-error"), err); }
}

async function openReport(id) {
  state.batch = id;
  for (const tr of $("batches").querySelectorAll("tr[data-batch-id]")) tr.classList.toggle("selected", tr.dataset.batchId === String(id));
  const [rep, detail] = await Promise.all([get(`/api/spot-checks/${id}/report`), get(`/api/spot-checks/${id}`)]);
  const b = rep.batch;
  const box = $("report");
  box.hidden = false;
  box.replaceChildren(...[
    h("h3", {}, `抽查报告 #${b.id}`, h("small", { class: "en" }, `Report · ${b.period_from} – ${b.period_to}`)),
    h("dl", { class: "kv" },
      h("dt", {}, ...bi("抽取比例", "Drawn share")),
      h("dd", { "data-testid": "drawn-share", class: rep.drawn_meets_rule ? "good" : "bad" },
        `${pct(rep.drawn_share)}（${rep.drawn_class_hours} / ${rep.population_class_hours} 课时）≥ 要求 ${pct(rep.required_share)}`,
        h("small", { class: "en" }, rep.drawn_meets_rule ? "meets the rule" : "below the rule")),
      h("dt", {}, ...bi("已完成", "Done")), h("dd", { "data-testid": "done" }, `${rep.done.items} 节 · ${rep.done.class_hours} 课时（${pct(rep.checked_share)}）`),
      h("dt", {}, ...bi("待查", "Pending")), h("dd", {}, `${rep.pending.items} 节 · ${rep.pending.class_hours} 课时`),
      h("dt", {}, ...bi("结论", "Verdicts")), h("dd", {}, `无问题 ok ${rep.verdicts.ok} · 问题 problem ${rep.verdicts.problem}`),
      h("dt", {}, ...bi("抽取复核", "Draw re-run")),
      h("dd", { "data-testid": "reproduced" }, detail.draw.reproduced ? "可复现 reproduced" : "不一致 DOES NOT reproduce",
        h("small", { class: "en mono" }, `seed ${detail.draw.seed} · ${detail.draw.algorithm}`))),
    rep.problems.length ? h("ul", { class: "violations", "data-testid": "problems" }, ...rep.problems.map((p) =>
      h("li", { class: "violation" }, h("span", { class: "rule" }, "SUP-5"),
        h("div", {}, h("p", { class: "zh" }, `${p.class_name} · ${p.lesson_title}：${p.note}`),
          h("p", { class: "en" }, `${p.decided_by_name || ""} · ${fmtTime(p.decided_at)}`))))) : null,
    itemTable(detail, b)].filter(Boolean));
}

function itemTable(detail, b) {
  const rows = detail.items.map((it) => {
    const cells = [h("td", {}, `${it.rank}. ${it.class_name} · ${it.lesson_title}`, h("small", { class: "en" }, fmtTime(it.starts_at))),
      h("td", { class: "num" }, String(it.class_hours)), h("td", {}, badge(ITEM_STATUS, it.status, "sc"),
        it.verdict ? badge(VERDICT, it.verdict, "sc") : null)];
    const who = h("td", {}, it.assignee_name || `#${it.assignee_id}`);
    if (b.can_assign && !it.verdict && state.assignees.length) {
      const sel = h("select", { "aria-label": "改派 reassign" }, ...state.assignees.map((u) =>
        h("option", { value: u.id, selected: u.id === it.assignee_id }, `${u.display_name} ${u.region_code}`)));
      const err = h("div", { hidden: true });
      const btn = h("button", { type: "button", class: "secondary small" }, ...bi("改派", "Reassign"));
      btn.addEventListener("click", async () => {
        const r = await withBusy(btn, err, null, () => post(`/api/spot-checks/items/${it.id}/assign`, { assignee_id: Number(sel.value) }));
        if (r) await Promise.all([openReport(b.id), loadMine()]);
      });
      who.replaceChildren(sel, btn, err);
    }
    return h("tr", { "data-testid": "report-item", "data-item-id": it.id }, ...cells, who);
  });
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, ...bi("课次", "Lesson")), h("th", { class: "num" }, ...bi("课时", "Hours")),
      h("th", {}, ...bi("状态", "Status")), h("th", {}, ...bi("负责人", "Assignee")))),
    h("tbody", {}, ...(rows.length ? rows : [emptyRow(4, "无", "None")]))));
}

// ---------------------------------------------------------------- ATT-6 checklist

async function loadChecklist() {
  $("checklist-card").hidden = false;
  try {
    const { items, totals } = await get("/api/site-videos/checklist");
    $("checklist-totals").replaceChildren(
      `已结束 ${totals.held} 节，齐全 ${totals.complete} 节；短视频 ${totals.clips_present} / ${totals.clips_required}；缺全程视频 ${totals.missing_full_video} 节`,
      h("small", { class: "en" }, `${totals.held} held, ${totals.complete} complete; clips ${totals.clips_present} of ` +
        `${totals.clips_required}; ${totals.missing_full_video} without the full video`));
    $("checklist").querySelector("tbody").replaceChildren(...(items.length ? items.map((c) => {
      const tr = h("tr", { class: "clickable", tabindex: 0, "data-testid": "checklist-row", "data-lesson-id": c.lesson_id,
                           "data-complete": String(c.complete) },
        h("td", {}, `${c.class_name} · ${c.title}`, h("small", { class: "en" }, `${c.institution_name} · ${fmtTime(c.starts_at)}${c.venue_name ? ` · ${c.venue_name}` : ""}`)),
        h("td", { class: `num${c.held && c.missing_clip_hours.length ? " bad" : ""}`, "data-col": "clips" },
          `${c.clips_present} / ${c.clips_required}`,
          c.missing_clip_hours.length ? h("small", { class: "en" }, `缺 missing ${c.missing_clip_hours.join(", ")}`) : null),
        h("td", { "data-col": "full", class: c.held && !c.full_video ? "bad" : "" }, c.full_video ? "✓ 已上传 uploaded" : "✗ 未上传 missing"),
        h("td", {}, c.complete ? badge({ y: ["齐全", "complete"] }, "y", "sc") :
          c.held ? badge({ n: ["缺失", "incomplete"] }, "n", "sc") : badge({ f: ["未结束", "not over"] }, "f", "sc")));
      tr.addEventListener("click", () => openLesson(c.lesson_id));
      return tr;
    }) : [emptyRow(4, "没有线下课次", "No offline lessons")]));
  } catch (err) { showError($("checklist-error"), err); }
}

async function openLesson(id) {
  const box = $("site-detail");
  box.hidden = false;
  const data = await get(`/api/lessons/${id}/site-videos`);
  const v = data.verification;
  box.replaceChildren(...[
    h("h3", {}, `课次 #${id} 现场视频`, h("small", { class: "en" }, "Site videos")),
    h("p", { class: v.ok ? "good" : "bad", "data-testid": "verification" },
      v.ok ? "完整性校验通过（签名、哈希链、文件大小）" : `校验失败：${v.first_bad?.message_zh || ""}`,
      h("small", { class: "en" }, v.ok ? "Integrity checked (signature, hash chain, sizes)" : `Verification FAILED: ${v.first_bad?.kind} ${v.first_bad?.detail || ""}`)),
    h("ul", { class: "sc-list" }, ...(data.items.length ? data.items.map((x) => h("li", { class: "sc-item", "data-testid": "site-video" },
      h("div", { class: "sc-head" }, h("strong", {}, x.kind === "clip" ? `第 ${x.class_hour} 课时短视频` : "全程视频",
        h("small", { class: "en" }, x.kind === "clip" ? `class-hour ${x.class_hour} clip` : "full session")),
        h("span", { class: "muted" }, `${x.duration_seconds.toFixed(1)} s · 保存至 keep until ${fmtTime(x.retain_until)}`)),
      x.url ? h("video", { src: x.url, controls: true, preload: "metadata", playsinline: true }) : h("p", { class: "muted" }, "已删除 deleted"),
      h("p", { class: "muted mono" }, `SHA-256 ${x.sha256.slice(0, 16)}… · ${x.uploaded_by_name || ""} · ${fmtTime(x.uploaded_at)}`))) :
      [h("li", { class: "empty" }, ...bi("尚未上传", "Nothing uploaded yet"))])),
    data.may_upload ? uploadForm(id, data) : null].filter(Boolean));
}

function uploadForm(lessonId, data) {
  const hours = data.checklist.class_hours;
  const kind = h("select", { name: "kind", "data-field": "class_hour" },
    ...Array.from({ length: hours }, (_, i) => h("option", { value: `clip:${i + 1}` }, `第 ${i + 1} 课时短视频 clip ${i + 1}`)),
    h("option", { value: "full" }, "全程视频 full session"));
  const file = h("input", { type: "file", accept: "video/mp4,video/webm", capture: "environment", "data-field": "video" });
  const err = h("div", { hidden: true });
  const btn = h("button", { type: "submit" }, ...bi("上传", "Upload"));
  const form = h("form", { class: "upload-form", "data-testid": "upload-form" },
    h("p", { class: "hint muted" }, `短视频 ${data.clip_seconds[0]}–${data.clip_seconds[1]} 秒；全程视频不少于 ${mins(data.full_min_seconds)} 分钟；MP4 / WebM。`,
      h("small", { class: "en" }, `Clips ${data.clip_seconds[0]}–${data.clip_seconds[1]} s; the full video at least ${mins(data.full_min_seconds)} min.`)),
    h("div", { class: "field" }, kind), h("div", { class: "field" }, file), err, btn);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) return;
    const [what, hour] = kind.value.split(":");
    const path = `/api/lessons/${lessonId}/site-videos/${what === "full" ? "full" : `clips/${hour}`}`;
    const ok = await withBusy(btn, err, form, async () => {
      const resp = await fetch(path, { method: "POST", body: f, headers: { Authorization: `Bearer ${getToken()}`, "Content-Type": f.type || "video/mp4" } });
      const body = await resp.json().catch(() => ({}));
      if (!resp.ok) throw body.error || { code: `HTTP_${resp.status}`, message_zh: "上传失败", message_en: "Upload failed" };
      return body;
    });
    if (ok) await Promise.all([loadChecklist(), openLesson(lessonId)]);
  });
  return form;
}

// ---------------------------------------------------------------- start

async function main() {
  const me = await requireLogin(["supervisor", "platform_admin", "institution_admin", "lecturer", "assistant"]);
  state.me = me;
  renderTopbar(me, "/spotcheck");
  if (me.role === "supervisor") {
    await setupDraw();
    await loadMine();
  }
  if (me.role === "supervisor" || me.role === "platform_admin") await loadBatches();
  await loadChecklist();
  const lesson = new URLSearchParams(window.location.search).get("lesson");
  if (lesson) await openLesson(lesson);
}

main().catch((err) => showError($("page-error"), err));

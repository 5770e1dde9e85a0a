// Renders /openapi.json: operations grouped by tag, with method, path, summary, description,
// roles, parameters and request body schema. No external renderer, no network beyond this site.
import { api, bi, get, getToken, h, renderTopbar, showError } from "/static/api.js";

const TAG_ZH = { auth: "认证", institutions: "机构", users: "账号", lecturers: "讲师", students: "学员", classes: "班期",
                 reference: "参考数据", audit: "审计" };
const METHODS = ["get", "post", "put", "patch", "delete"];

function refName(ref) { return ref ? ref.split("/").pop() : null; }

function typeOf(schema, spec) {
  if (!schema) return "";
  if (schema.$ref) return refName(schema.$ref);
  if (schema.anyOf) return schema.anyOf.map((s) => typeOf(s, spec)).join(" | ");
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.type === "array") return `${typeOf(schema.items, spec)}[]`;
  const fmt = schema.format ? ` (${schema.format})` : "";
  return `${Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type || "any"}${fmt}`;
}

function constraints(s) {
  const out = [];
  for (const [k, label] of [["minLength", "≥ len"], ["maxLength", "≤ len"], ["minimum", "≥"], ["maximum", "≤"],
                            ["pattern", "pattern"], ["maxItems", "≤ items"], ["default", "default"]]) {
    if (s && s[k] !== undefined) out.push(`${label} ${typeof s[k] === "string" ? s[k] : JSON.stringify(s[k])}`);
  }
  return out.join(", ");
}

function schemaTable(name, spec, seen = new Set()) {
  const schema = spec.components?.schemas?.[name];
  if (!schema || seen.has(name)) return null;
  seen.add(name);
  const required = new Set(schema.required || []);
  const nested = [];
  const rows = Object.entries(schema.properties || {}).map(([prop, s]) => {
    const refs = JSON.stringify(s).match(/#\/components\/schemas\/\w+/g) || [];
    refs.forEach((r) => nested.push(refName(r)));
    return h("tr", {}, h("td", {}, h("code", {}, prop), required.has(prop) ? h("span", { class: "req" }) : null),
      h("td", {}, h("code", {}, typeOf(s, spec))), h("td", {}, constraints(s)), h("td", {}, s.description || s.title || ""));
  });
  return [h("p", { style: "margin-top:10px" }, h("strong", { class: "mono", id: `schema-${name}` }, name), schema.description ? ` — ${schema.description}` : ""),
    h("div", { class: "table-wrap" }, h("table", { class: "schema-table" },
      h("thead", {}, h("tr", {}, h("th", {}, ...bi("字段", "Field")), h("th", {}, ...bi("类型", "Type")),
        h("th", {}, ...bi("约束", "Constraints")), h("th", {}, ...bi("说明", "Description")))),
      h("tbody", {}, ...rows))),
    ...[...new Set(nested)].map((n) => schemaTable(n, spec, seen)).filter(Boolean).flat()];
}

function splitRoles(description) {
  const m = /(?:^|\n)\s*Roles:\s*([^\n]+)\s*$/.exec(description || "");
  if (!m) return { text: (description || "").trim(), roles: [] };
  return { text: description.slice(0, m.index).trim(), roles: m[1].split(",").map((r) => r.trim()).filter(Boolean) };
}

function operation(path, method, op, spec) {
  const { text, roles } = splitRoles(op.description);
  const isPublic = !op.security;
  const body = op.requestBody?.content || {};
  const jsonRef = refName(body["application/json"]?.schema?.$ref);
  const multipart = body["multipart/form-data"]?.schema;
  const params = op.parameters || [];
  const okStatus = Object.keys(op.responses || {}).find((s) => /^2/.test(s));
  const search = `${method} ${path} ${op.summary || ""} ${roles.join(" ")} ${jsonRef || ""} ${op.tags?.join(" ") || ""}`.toLowerCase();
  return h("details", { class: "op", "data-testid": "operation", "data-method": method.toUpperCase(), "data-path": path, "data-search": search },
    h("summary", {}, h("span", { class: `method ${method}` }, method.toUpperCase()), h("span", { class: "path" }, path),
      h("span", {}, op.summary || ""),
      h("span", { class: "spacer" }),
      isPublic ? h("span", { class: "chip public" }, "公开 public") : null,
      ...roles.map((r) => h("span", { class: "chip", "data-role": r }, r)),
      jsonRef ? h("span", { class: "chip mono" }, jsonRef) : multipart ? h("span", { class: "chip mono" }, "multipart/form-data") : null),
    h("div", { class: "body" },
      text ? h("pre", { class: "desc" }, text) : null,
      h("p", {}, h("strong", {}, "权限 "), h("span", { class: "muted" }, "Access: "),
        isPublic ? "无需登录 no login needed" : roles.length ? `Bearer token，角色 roles: ${roles.join(", ")}` : "Bearer token，任何已登录角色 any logged-in role"),
      okStatus ? h("p", {}, h("strong", {}, "成功状态 "), h("span", { class: "muted" }, "Success: "), h("code", {}, okStatus)) : null,
      params.length ? [h("p", {}, h("strong", {}, "参数 "), h("span", { class: "muted" }, "Parameters")),
        h("div", { class: "table-wrap" }, h("table", { class: "schema-table" },
          h("thead", {}, h("tr", {}, h("th", {}, "name"), h("th", {}, "in"), h("th", {}, "type"), h("th", {}, "required"))),
          h("tbody", {}, ...params.map((p) => h("tr", {}, h("td", {}, h("code", {}, p.name)), h("td", {}, p.in),
            h("td", {}, typeOf(p.schema, spec)), h("td", {}, p.required ? "✓" : "")))))) ] : null,
      jsonRef ? [h("p", {}, h("strong", {}, "请求体 "), h("span", { class: "muted" }, "Request body (application/json): "), h("code", { "data-testid": "body-schema" }, jsonRef)),
                 ...(schemaTable(jsonRef, spec) || [])] : null,
      multipart ? [h("p", {}, h("strong", {}, "请求体 "), h("span", { class: "muted" }, "Request body: "), h("code", { "data-testid": "body-schema" }, "multipart/form-data")),
        h("div", { class: "table-wrap" }, h("table", { class: "schema-table" },
          h("thead", {}, h("tr", {}, h("th", {}, ...bi("字段", "Field")), h("th", {}, ...bi("说明", "Description")))),
          h("tbody", {}, ...Object.entries(multipart.properties || {}).map(([k, s]) =>
            h("tr", {}, h("td", {}, h("code", {}, k)), h("td", {}, s.description || "")))))) ] : null,
      h("p", { class: "muted", style: "font-size:.85em" }, `operationId: ${op.operationId || "—"} · 错误 errors: 4XX → Error`)));
}

async function main() {
  if (getToken()) {
    // Logged-in users get their links in the top bar; the docs themselves are public.
    api("/api/me", { redirectOn401: false }).then((me) => renderTopbar(me, "/docs")).catch(() => {});
  }
  const spec = await get("/openapi.json");
  document.getElementById("docs-title").replaceChildren(spec.info?.title || "API", h("small", { class: "en" }, `version ${spec.info?.version || ""} · OpenAPI ${spec.openapi}`));
  const groups = new Map();
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = op.tags?.[0] || "other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push(operation(path, method, op, spec));
    }
  }
  const toc = document.getElementById("docs-toc");
  const body = document.getElementById("docs-body");
  toc.replaceChildren(h("h3", {}, ...bi("目录", "Contents")));
  body.replaceChildren();
  for (const [tag, ops] of groups) {
    toc.append(h("a", { href: `#tag-${tag}` }, `${TAG_ZH[tag] || tag}`, h("small", { class: "en", style: "display:inline;margin-left:4px" }, `${tag} (${ops.length})`)));
    body.append(h("section", { class: "card tag-group", id: `tag-${tag}`, "data-tag": tag },
      h("h2", {}, TAG_ZH[tag] || tag, h("small", { class: "en" }, tag)), ...ops));
  }
  toc.append(h("a", { href: "/openapi.json", style: "margin-top:10px" }, "openapi.json ⇩"));
  const filter = document.getElementById("docs-filter");
  filter.addEventListener("input", () => {
    const q = filter.value.trim().toLowerCase();
    for (const op of body.querySelectorAll(".op")) op.hidden = q && !op.dataset.search.includes(q);
    for (const g of body.querySelectorAll(".tag-group")) g.hidden = !g.querySelector(".op:not([hidden])");
  });
  if (window.location.hash) document.getElementById(window.location.hash.slice(1))?.scrollIntoView();
}

main().catch((err) => showError(document.getElementById("docs-error"), err));

import { $, el, api, loading, dateTime, table, empty, APIError } from "./app.js";

// Built against the audit API contract (issue 7): GET /api/v1/audit and
// GET /api/v1/audit/verify.
let pages = [""];

async function chain() {
  const p = $("#chainstatus");
  try {
    const v = await api("/api/v1/audit/verify");
    if (v.ok) {
      p.replaceChildren(el("span", { class: "ok" }, "Intact."), ` ${v.records} records and ${v.checkpoints} checkpoints verified; no record was edited, removed or reordered.`);
    } else {
      const bad = v.firstBad ? ` First bad record: #${v.firstBad.seq} (${v.firstBad.reason}).` : "";
      p.replaceChildren(el("span", { class: "bad" }, "Broken."), ` ${v.records} records checked.${bad} Investigate before trusting the log.`);
    }
  } catch (e) {
    p.textContent = e instanceof APIError && e.status === 404 ? "The audit chain cannot be verified on this server." : `Could not verify the chain: ${e.message}`;
  }
}

function filters() {
  const q = new URLSearchParams({ limit: "100" });
  for (const k of ["since", "until"]) {
    const v = $(`#${k}`).value;
    if (v) q.set(k, new Date(v).toISOString());
  }
  for (const k of ["actor", "action", "outcome"]) {
    const v = $(`#${k}`).value.trim();
    if (v) q.set(k, v);
  }
  return q;
}

async function load(cursor = "") {
  const q = filters();
  if (cursor) q.set("cursor", cursor);
  const r = await loading($("#status"), "the audit log", (signal) => api(`/api/v1/audit?${q}`, { signal }));
  if (!r) return;
  if (!cursor) pages = [""];
  const t = $("#table");
  if (!r.data.length) t.replaceChildren(empty("No audit records match these filters."));
  else t.replaceChildren(table([
    { label: "#", num: true, key: "seq" },
    { label: "Time", render: (x) => dateTime(x.time) },
    { label: "Actor", render: (x) => (x.actor ? `${x.actor.name || x.actor.id || "anonymous"}${x.actor.kind ? ` (${x.actor.kind})` : ""}` : "—") },
    { label: "From", key: "sourceIP" },
    { label: "Action", render: (x) => el("code", {}, x.action) },
    { label: "Target", key: "target" },
    { label: "Outcome", render: (x) => el("span", { class: x.outcome === "success" ? "ok" : "bad" }, x.outcome) },
    { label: "Details", render: (x) => (x.details && Object.keys(x.details).length ? el("code", { class: "small" }, JSON.stringify(x.details)) : "") },
  ], r.data, { id: "audit-table" }));
  const pager = $("#pager");
  pager.replaceChildren();
  const idx = pages.indexOf(cursor);
  if (idx > 0) {
    const b = el("button", { type: "button", class: "secondary" }, "Newer");
    b.addEventListener("click", () => load(pages[idx - 1]));
    pager.append(b);
  }
  if (r.next) {
    const b = el("button", { type: "button", class: "secondary" }, "Older");
    b.addEventListener("click", () => { if (!pages.includes(r.next)) pages.push(r.next); load(r.next); });
    pager.append(b);
  }
}

$("#controls").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
chain();
load();

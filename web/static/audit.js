import { $, el, api, loading, dateTime, table, empty, APIError, renderPosture } from "./app.js";

// The audit log (auditors and admins): GET /api/v1/audit (since, until, actor,
// action prefix, outcome, limit, cursor; newest first, "next" for older
// records) and GET /api/v1/audit/verify (the hash chain and signed
// checkpoints). The filters live in the address, so a view can be shared.
const FILTERS = ["since", "until", "actor", "action", "outcome"];
let pages = [""];

async function chain() {
  const p = $("#chainstatus");
  p.dataset.state = "checking";
  try {
    const v = await api("/api/v1/audit/verify");
    const cp = v.checkpoints === 1 ? "1 signed checkpoint" : `${v.checkpoints} signed checkpoints`;
    if (v.ok) {
      p.dataset.state = "verified";
      p.replaceChildren(el("span", { class: "ok", id: "chain-verdict" }, "Verified: intact."),
        ` ${v.records} records and ${cp} checked; no record was edited, removed or reordered.`,
        v.keyId ? el("span", { class: "muted small" }, ` Signing key ${v.keyId}.`) : "");
    } else {
      p.dataset.state = "broken";
      const bad = v.firstBad ? ` First bad record: #${v.firstBad.seq} (${v.firstBad.reason}).` : "";
      const more = v.problems && v.problems.length > 1 ? ` ${v.problems.length} problems in all.` : "";
      p.replaceChildren(el("span", { class: "bad", id: "chain-verdict" }, "Broken."), ` ${v.records} records checked.${bad}${more} Investigate before trusting the log.`);
    }
  } catch (e) {
    p.dataset.state = "error";
    p.textContent = e instanceof APIError && e.status === 404 ? "The audit chain cannot be verified on this server."
      : e instanceof APIError && e.status === 403 ? "Your role does not allow reading the audit trail." : `Could not verify the chain: ${e.message}`;
  }
}

// posture shows the security posture to auditors too (posture:read): the
// card stays hidden for a role without it.
async function posture() {
  const card = $("#posture");
  try {
    renderPosture($("#posture-body"), await api("/api/v1/security/posture"));
    card.hidden = false;
  } catch (e) {
    if (!(e instanceof APIError) || (e.status !== 403 && e.status !== 404)) {
      $("#posture-body").textContent = `Could not load the security posture: ${e.message}`;
      card.hidden = false;
    }
  }
}

// toLocalInput turns an RFC 3339 time into a datetime-local input's value.
function toLocalInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// The form from the address (on load and on back/forward).
function fromAddress() {
  const q = new URLSearchParams(window.location.search);
  for (const k of FILTERS) {
    const v = q.get(k) ?? "";
    $(`#${k}`).value = k === "since" || k === "until" ? (v ? toLocalInput(v) : "") : v;
  }
}

// filters are the API's query parameters from the form.
function filters() {
  const q = new URLSearchParams();
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

const actorText = (a) => {
  if (!a || (!a.name && !a.id)) return a && a.kind ? `anonymous (${a.kind})` : "anonymous";
  const who = a.name || a.id;
  return `${who}${a.kind ? ` (${a.kind})` : ""}`;
};

async function load(cursor = "") {
  const q = filters();
  q.set("limit", "100");
  if (cursor) q.set("cursor", cursor);
  const r = await loading($("#status"), "the audit log", (signal) => api(`/api/v1/audit?${q}`, { signal }));
  if (!r) return;
  if (!cursor) pages = [""];
  const t = $("#table");
  $("#count").textContent = `${r.data.length}${r.next ? "+" : ""} record${r.data.length === 1 ? "" : "s"}${cursor ? " (older page)" : ""}`;
  if (!r.data.length) t.replaceChildren(empty("No audit records match these filters."));
  else t.replaceChildren(table([
    { label: "#", num: true, key: "seq" },
    { label: "Time", render: (x) => dateTime(x.time) },
    { label: "Actor", render: (x) => el("span", { title: x.actor && x.actor.id ? x.actor.id : null }, actorText(x.actor)) },
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
    const b = el("button", { type: "button", class: "secondary", id: "newer" }, "Newer");
    b.addEventListener("click", () => load(pages[idx - 1]));
    pager.append(b);
  }
  if (r.next) {
    const b = el("button", { type: "button", class: "secondary", id: "older" }, "Older");
    b.addEventListener("click", () => { if (!pages.includes(r.next)) pages.push(r.next); load(r.next); });
    pager.append(b);
  }
}

$("#controls").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = filters();
  history.pushState(null, "", q.toString() ? `?${q}` : window.location.pathname);
  load();
});
window.addEventListener("popstate", () => { fromAddress(); load(); });
fromAddress();
chain();
posture();
load();

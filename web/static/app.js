// costwarden dashboard: shared helpers. Plain ES modules, no build step.
// Every text goes into the page through textContent (never innerHTML), so a
// label or name holding HTML or script is shown as text and never runs.

export const $ = (sel, root = document) => root.querySelector(sel);

// el builds an element: attrs are set as attributes (on* attributes are refused),
// children are nodes or strings (strings become text nodes).
export function el(tag, attrs = {}, ...children) {
  const ns = tag.startsWith("svg:") ? "http://www.w3.org/2000/svg" : null;
  const e = ns ? document.createElementNS(ns, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) throw new Error("event handlers are attached with addEventListener");
    if (k === "class") e.setAttribute("class", v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export class APIError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.field = body && body.field;
    this.requestId = body && body.requestId;
  }
}

// api GETs (or sends) JSON with the session cookie; errors become APIError
// with the server's message. A 401 sends the browser to the login page.
export async function api(path, { method = "GET", body, signal } = {}) {
  const opts = { method, credentials: "same-origin", signal, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  if (resp.status === 401) {
    window.location.assign("/login");
    throw new APIError(401, data);
  }
  if (!resp.ok) throw new APIError(resp.status, data);
  return data;
}

// apiAll GETs every page of a list route (following "next" cursors) and returns
// the items under key, concatenated.
export async function apiAll(path, key, { signal } = {}) {
  const items = [];
  let next = "";
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api(next ? `${path}${sep}limit=500&cursor=${encodeURIComponent(next)}` : `${path}${sep}limit=500`, { signal });
    items.push(...(page[key] || []));
    next = page.next || "";
  } while (next);
  return { [key]: items };
}

// loading shows a spinner with the elapsed seconds and a Cancel button in
// status while fn(signal) runs; errors and cancellation are shown there too.
export async function loading(status, what, fn) {
  const ctl = new AbortController();
  const secs = el("span", {}, "");
  const cancel = el("button", { type: "button", class: "secondary" }, "Cancel");
  cancel.addEventListener("click", () => ctl.abort());
  status.replaceChildren(el("div", { class: "loading", "data-loading": "" }, el("span", { class: "spinner", "aria-hidden": "true" }), `Loading ${what}…`, secs, cancel));
  const t0 = Date.now();
  const timer = setInterval(() => {
    const s = Math.round((Date.now() - t0) / 1000);
    secs.textContent = s >= 2 ? `${s}s` : "";
  }, 500);
  try {
    const out = await fn(ctl.signal);
    status.replaceChildren();
    return out;
  } catch (e) {
    if (e.name === "AbortError") status.replaceChildren(el("p", { class: "notice" }, "Cancelled. Change the query and apply again."));
    else showError(status, e);
    return undefined;
  } finally {
    clearInterval(timer);
  }
}

export function showError(status, e) {
  let msg = e.message || String(e);
  if (e.status === 403) msg = "Your role does not allow this. Ask an administrator for access.";
  const p = el("p", { class: "error", role: "alert" }, msg);
  if (e.requestId) p.append(el("span", { class: "muted small" }, ` (request ${e.requestId})`));
  status.replaceChildren(p);
}

const moneyFmt = {};
export function money(v, currency = "USD") {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  const digits = Math.abs(v) < 10 ? 2 : 0;
  const key = currency + digits;
  moneyFmt[key] ??= new Intl.NumberFormat("en-US", { style: "currency", currency, minimumFractionDigits: digits, maximumFractionDigits: digits });
  return moneyFmt[key].format(v);
}

export function pct(v, digits = 0) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  return `${(v * 100).toFixed(digits)}%`;
}

export function num(v, digits = 2) {
  if (v === null || v === undefined) return "—";
  return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits });
}

export function bytes(v) {
  if (!v) return "0 B";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 && i > 0 ? 1 : 0)} ${u[i]}`;
}

export function day(iso) {
  return new Date(iso).toLocaleDateString("en-US", { month: "short", day: "numeric" });
}

export function dateTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toISOString().replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
}

export function effBadge(v) {
  const cls = v < 0.35 ? "low" : v < 0.65 ? "mid" : "high";
  return el("span", { class: `eff ${cls}`, title: "usage ÷ request" }, pct(v));
}

export function empty(text) {
  return el("p", { class: "empty" }, text);
}

// table renders rows with columns [{key, label, num, render(row), sort}];
// onSort(key) makes sortable headers buttons.
export function table(columns, rows, { sort, desc, onSort, total, id } = {}) {
  const head = el("tr", {}, columns.map((c) => {
    const th = el("th", { class: c.num ? "num" : null, scope: "col" });
    if (onSort && c.sort) {
      const b = el("button", { type: "button", class: "sort", "data-sort": c.sort }, c.label);
      if (sort === c.sort) b.setAttribute("aria-sort", desc ? "descending" : "ascending");
      b.addEventListener("click", () => onSort(c.sort));
      th.append(b);
    } else th.append(c.label);
    return th;
  }));
  const body = el("tbody", {}, rows.map((r) => el("tr", {}, columns.map((c) => {
    const v = c.render ? c.render(r) : r[c.key];
    return el("td", { class: c.num ? "num" : null }, v);
  }))));
  if (total) body.append(el("tr", { class: "total" }, columns.map((c) => el("td", { class: c.num ? "num" : null }, c.total ? c.total(total) : ""))));
  return el("table", { id }, el("thead", {}, head), body);
}

// window options shared by pickers (value: label).
export function param(name, fallback = "") {
  return new URLSearchParams(window.location.search).get(name) ?? fallback;
}

// renderPosture shows the doctor's report (GET /api/v1/security/posture):
// score, worst severity, findings (severity, title, detail, fix) and every
// check's result. The Admin page and, for auditors, the Audit page use it.
export function renderPosture(root, p) {
  const checks = p.checks || [];
  root.replaceChildren(el("p", { id: "posture-score" }, "Score ", el("strong", {}, `${p.score}/100`), "; worst finding: ", el("span", { class: `sev-${p.worst}` }, p.worst), "."),
    p.findings.length ? table([
      { label: "Severity", render: (f) => el("span", { class: `sev-${f.severity}` }, f.severity) },
      { label: "Finding", render: (f) => el("span", {}, el("strong", {}, f.title), " ", el("code", { class: "small muted" }, f.id), el("br"), f.detail) },
      { label: "Fix", key: "fix" },
    ], p.findings, { id: "posture-table" }) : empty("No findings."),
    el("h3", {}, "Checks"),
    checks.length ? table([
      { label: "Check", render: (x) => el("code", {}, x.id) },
      { label: "Result", render: (x) => el("span", { class: `sev-${x.status}` }, x.status) },
    ], checks, { id: "posture-checks" }) : empty("No checks ran."));
}

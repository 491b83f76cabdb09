import { $, el, api, loading, money, pct, table, empty, effBadge } from "./app.js";
import { stackedBars, seriesClass } from "./chart.js";

const form = $("#controls");
const status = $("#status");
const biz = document.body.dataset.business ? document.body.dataset.business.split(",") : [];
for (const k of biz) $("#business").append(el("option", { value: k }, k[0].toUpperCase() + k.slice(1)));

// The state lives in the URL, so a view can be bookmarked, shared and gone back to.
const state = { window: "7d", aggregate: "namespace", filter: "", idle: "show", shareNamespaces: "", sort: "-totalCost", cursor: "", crumbs: [] };

function readURL() {
  const q = new URLSearchParams(window.location.search);
  for (const k of ["window", "aggregate", "filter", "idle", "shareNamespaces", "sort"]) if (q.has(k)) state[k] = q.get(k);
  state.crumbs = q.has("crumbs") ? JSON.parse(q.get("crumbs")) : [];
  state.cursor = "";
}

function writeURL(push) {
  const q = new URLSearchParams();
  for (const k of ["window", "aggregate", "filter", "idle", "shareNamespaces", "sort"]) if (state[k]) q.set(k, state[k]);
  if (state.crumbs.length) q.set("crumbs", JSON.stringify(state.crumbs));
  const url = `${window.location.pathname}?${q}`;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

function syncForm() {
  ensureOption($("#window"), state.window);
  $("#window").value = state.window;
  if (state.aggregate.startsWith("label:")) {
    $("#aggregate").value = "label";
    $("#labelkey").value = state.aggregate.slice(6);
  } else {
    ensureOption($("#aggregate"), state.aggregate);
    $("#aggregate").value = state.aggregate;
  }
  $("#labelfield").hidden = $("#aggregate").value !== "label";
  $("#filter").value = state.filter;
  $("#idle").value = state.idle;
  $("#shareNamespaces").value = state.shareNamespaces;
}

function ensureOption(select, value) {
  if (![...select.options].some((o) => o.value === value)) select.append(el("option", { value }, value));
}

// step gives the chart about 7 to 48 bars.
function stepFor(w) {
  if (["today", "yesterday", "24h"].includes(w) || /^\d+h$/.test(w)) return "1h";
  const d = /^(\d+)d$/.exec(w);
  if (d && +d[1] <= 2) return "1h";
  return "1d";
}

function queryParams(extra = {}) {
  const q = new URLSearchParams({ window: state.window, aggregate: state.aggregate });
  if (state.filter) q.set("filter", state.filter);
  if (state.idle === "hide") q.set("idle", "false");
  if (state.idle === "share") q.set("shareIdle", "true");
  if (state.shareNamespaces) q.set("shareNamespaces", state.shareNamespaces);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q;
}

// drill: namespace → controller → pod, narrowing the filter with the row's properties.
const next = { namespace: "controller", controller: "pod" };
function drillable(row) {
  return next[state.aggregate] && !row.name.startsWith("__") && row.properties;
}

function drill(row) {
  const p = row.properties;
  const parts = state.aggregate === "namespace" ? [`namespace:"${p.namespace}"`]
    : [`namespace:"${p.namespace}"`, p.controllerKind && `controllerKind:"${p.controllerKind}"`, `controller:"${p.controller}"`].filter(Boolean);
  const f = parts.join("+");
  state.crumbs.push({ aggregate: state.aggregate, filter: state.filter, label: row.name });
  state.filter = state.filter ? `(${state.filter})+${f}` : f;
  state.aggregate = next[state.aggregate];
  state.sort = "-totalCost";
  writeURL(true);
  syncForm();
  load();
}

function renderCrumbs() {
  const nav = $("#crumbs");
  nav.replaceChildren();
  if (!state.crumbs.length) return;
  const back = (i) => {
    const c = state.crumbs[i];
    state.aggregate = c.aggregate;
    state.filter = c.filter;
    state.crumbs = state.crumbs.slice(0, i);
    writeURL(true);
    syncForm();
    load();
  };
  state.crumbs.forEach((c, i) => {
    const b = el("button", { type: "button", class: "link", "data-crumb": i }, i === 0 ? `All ${c.aggregate}s` : c.label);
    b.addEventListener("click", () => back(i));
    nav.append(b, el("span", { class: "sep", "aria-hidden": "true" }, "›"));
  });
  nav.append(el("strong", {}, state.crumbs[state.crumbs.length - 1].label));
}

function renderDownloads() {
  const q = queryParams();
  $("#dl-csv").href = `/api/v1/export/csv?${q}`;
  const f = queryParams({ step: "1d" });
  $("#dl-focus").href = `/api/v1/export/focus?${f}`;
}

let pages = [];

async function load(cursor = "") {
  renderCrumbs();
  renderDownloads();
  const q = queryParams({ step: stepFor(state.window), sort: state.sort, limit: "50" });
  if (cursor) q.set("cursor", cursor);
  $("#apply").disabled = true;
  const r = await loading(status, "allocations", (signal) => api(`/api/v1/allocations?${q}`, { signal }));
  $("#apply").disabled = false;
  if (!r) return;
  if (!cursor) pages = [""];
  render(r, cursor);
}

function render(r, cursor) {
  const c = r.currency;
  $("#charttitle").textContent = `Cost over time by ${state.aggregate}`;
  const chart = $("#chart");
  if (!r.series || !r.series.rows.length) chart.replaceChildren(empty("No cost in this window for this query. Widen the window or clear the filter."));
  else stackedBars(chart, r.series.steps.map((s) => s.start), r.series.rows.map((s, i) => ({ name: s.name, cls: seriesClass(s.name, i), values: s.costs })),
    { currency: c, label: (iso) => (stepFor(state.window) === "1h" ? new Date(iso).toISOString().slice(11, 16) : new Date(iso).toLocaleDateString("en-US", { month: "short", day: "numeric" })) });
  $("#count").textContent = `${r.count} rows${r.scoped ? " · your scope only" : ""}`;
  const [sortKey, desc] = state.sort.startsWith("-") ? [state.sort.slice(1), true] : [state.sort, false];
  const cols = [
    { label: state.aggregate, sort: "name", render: (row) => (drillable(row) ? drillButton(row) : el("span", { class: "name" }, row.name)), total: () => "Total" },
    { label: "CPU", num: true, sort: "cpuCost", render: (row) => money(row.cpuCost, c), total: (t) => money(t.cpuCost, c) },
    { label: "Memory", num: true, sort: "ramCost", render: (row) => money(row.ramCost, c), total: (t) => money(t.ramCost, c) },
    { label: "GPU", num: true, sort: "gpuCost", render: (row) => money(row.gpuCost, c), total: (t) => money(t.gpuCost, c) },
    { label: "Volumes", num: true, sort: "pvCost", render: (row) => money(row.pvCost, c), total: (t) => money(t.pvCost, c) },
    { label: "Load bal.", num: true, sort: "loadBalancerCost", render: (row) => money(row.loadBalancerCost, c), total: (t) => money(t.loadBalancerCost, c) },
    { label: "Shared", num: true, sort: "sharedCost", render: (row) => money(row.sharedCost, c), total: (t) => money(t.sharedCost, c) },
    { label: "Total", num: true, sort: "totalCost", render: (row) => el("strong", {}, money(row.totalCost, c)), total: (t) => money(t.totalCost, c) },
    { label: "Efficiency", num: true, sort: "totalEfficiency", render: (row) => (row.name === "__idle__" ? "—" : effBadge(row.totalEfficiency)), total: (t) => pct(t.totalEfficiency) },
  ];
  const tableEl = $("#table");
  if (!r.data.length) tableEl.replaceChildren(empty("No rows. Widen the window, or clear the filter."));
  else tableEl.replaceChildren(table(cols, r.data, { id: "alloc-table", sort: sortKey, desc, total: r.totals, onSort: (k) => {
    state.sort = sortKey === k && desc ? k : `-${k}`;
    if (k === "name") state.sort = sortKey === "name" && !desc ? "-name" : "name";
    writeURL(false);
    load();
  } }));
  const pager = $("#pager");
  pager.replaceChildren();
  const idx = pages.indexOf(cursor);
  if (idx > 0) {
    const prev = el("button", { type: "button", class: "secondary" }, "Previous");
    prev.addEventListener("click", () => load(pages[idx - 1]));
    pager.append(prev);
  }
  if (r.next) {
    const nx = el("button", { type: "button", class: "secondary", id: "next" }, "Next");
    nx.addEventListener("click", () => { if (!pages.includes(r.next)) pages.push(r.next); load(r.next); });
    pager.append(nx);
  }
  if (r.warnings && r.warnings.length) status.replaceChildren(el("p", { class: "notice" }, r.warnings.join(" ")));
}

function drillButton(row) {
  const b = el("button", { type: "button", class: "link drill", title: `Break ${row.name} down by ${next[state.aggregate]}` }, row.name);
  b.addEventListener("click", () => drill(row));
  return b;
}

$("#aggregate").addEventListener("change", () => { $("#labelfield").hidden = $("#aggregate").value !== "label"; });
form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.window = $("#window").value;
  const agg = $("#aggregate").value;
  state.aggregate = agg === "label" ? `label:${$("#labelkey").value.trim()}` : agg;
  state.filter = $("#filter").value.trim();
  state.idle = $("#idle").value;
  state.shareNamespaces = $("#shareNamespaces").value.trim();
  state.crumbs = [];
  writeURL(true);
  load();
});
window.addEventListener("popstate", () => { readURL(); syncForm(); load(); });

readURL();
syncForm();
writeURL(false);
load();

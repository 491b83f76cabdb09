import { $, el, api, loading, money, num, bytes, table, empty } from "./app.js";

async function load() {
  const q = new URLSearchParams({ window: $("#window").value, aggregate: "controller" });
  const f = $("#filter").value.trim();
  if (f) q.set("filter", f);
  const r = await loading($("#status"), "recommendations", (signal) => api(`/api/v1/recommendations?${q}`, { signal }));
  if (!r) return;
  const rows = r.data.filter((x) => x.monthlySaving > 0).sort((a, b) => b.monthlySaving - a.monthlySaving);
  $("#total").textContent = money(r.monthlySaving);
  $("#n").textContent = String(r.data.length);
  $("#skipped").textContent = String(r.skipped.length);
  const t = $("#table");
  if (!rows.length) {
    t.replaceChildren(empty(r.data.length ? "Every workload is already sized to what it uses. Nothing to save." : "No workload has enough data yet for a recommendation."));
    return;
  }
  t.replaceChildren(table([
    { label: "Workload", render: (x) => el("span", {}, `${x.namespace}/${x.controller}`, el("br"), el("span", { class: "muted small" }, `container ${x.container} · ${num(x.replicas, 1)} replicas`)) },
    { label: "CPU now → advised", num: true, render: (x) => `${num(x.current.cpuCores, 3)} → ${num(x.recommended.cpuCores, 3)}` },
    { label: "Memory now → advised", num: true, render: (x) => `${bytes(x.current.ramBytes)} → ${bytes(x.recommended.ramBytes)}` },
    { label: "Now / month", num: true, render: (x) => money(x.current.monthlyCost) },
    { label: "Advised / month", num: true, render: (x) => money(x.recommended.monthlyCost) },
    { label: "Saving / month", num: true, render: (x) => el("strong", { class: "down" }, money(x.monthlySaving)) },
  ], rows, { id: "savings-table" }));
}

$("#controls").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
load();

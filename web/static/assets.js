import { $, el, api, loading, money, num, bytes, table, empty } from "./app.js";

const state = { window: "7d", type: "", sort: "-totalCost" };
let pages = [""];

async function load(cursor = "") {
  const q = new URLSearchParams({ window: state.window, sort: state.sort, limit: "100" });
  if (state.type) q.set("type", state.type);
  if (cursor) q.set("cursor", cursor);
  const r = await loading($("#status"), "assets", (signal) => api(`/api/v1/assets?${q}`, { signal }));
  if (!r) return;
  if (!cursor) pages = [""];
  const c = r.currency;
  $("#t-nodes").textContent = money(r.totals.nodes, c);
  $("#t-disks").textContent = money(r.totals.disks, c);
  $("#t-lbs").textContent = money(r.totals.loadBalancers, c);
  $("#t-total").textContent = money(r.totals.total, c);
  $("#count").textContent = `${r.count} assets`;
  const [sortKey, desc] = state.sort.startsWith("-") ? [state.sort.slice(1), true] : [state.sort, false];
  const cols = [
    { label: "Type", sort: "type", key: "type" },
    { label: "Name", sort: "name", render: (a) => el("span", {}, a.namespace ? `${a.namespace}/${a.name}` : a.name, a.warning ? el("span", { class: "badge", title: a.warning }, "price fallback") : "") },
    { label: "Cluster", key: "cluster" },
    { label: "Instance type", render: (a) => (a.type === "Node" ? el("span", {}, a.instanceType || "—", a.spot ? el("span", { class: "badge spot" }, "spot") : "") : a.storageClass || "—") },
    { label: "Size", render: (a) => (a.type === "Node" ? `${num(a.cpuCores, 1)} CPU · ${bytes(a.ramBytes)}${a.gpuCount ? ` · ${a.gpuCount} GPU` : ""}` : a.type === "Disk" ? bytes(a.bytes) : "—") },
    { label: "CPU", num: true, render: (a) => (a.type === "Node" ? money(a.cpuCost, c) : "") },
    { label: "Memory", num: true, render: (a) => (a.type === "Node" ? money(a.ramCost, c) : "") },
    { label: "GPU", num: true, render: (a) => (a.type === "Node" ? money(a.gpuCost, c) : "") },
    { label: "Hours", num: true, sort: "hours", render: (a) => num(a.hours, 1) },
    { label: "Total", num: true, sort: "totalCost", render: (a) => el("strong", {}, money(a.totalCost, c)) },
  ];
  const t = $("#table");
  if (!r.data.length) t.replaceChildren(empty(r.count === 0 && r.totals.total === 0 ? "No assets you may see in this window. Assets are cluster-wide: a namespace-scoped role sees none." : "No assets of this type."));
  else t.replaceChildren(table(cols, r.data, { id: "assets-table", sort: sortKey, desc, onSort: (k) => { state.sort = sortKey === k && desc ? k : `-${k}`; load(); } }));
  const pager = $("#pager");
  pager.replaceChildren();
  const idx = pages.indexOf(cursor);
  if (idx > 0) {
    const b = el("button", { type: "button", class: "secondary" }, "Previous");
    b.addEventListener("click", () => load(pages[idx - 1]));
    pager.append(b);
  }
  if (r.next) {
    const b = el("button", { type: "button", class: "secondary" }, "Next");
    b.addEventListener("click", () => { if (!pages.includes(r.next)) pages.push(r.next); load(r.next); });
    pager.append(b);
  }
}

$("#controls").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.window = $("#window").value;
  state.type = new FormData(ev.target).get("type") || "";
  load();
});
for (const r of document.querySelectorAll("input[name=type]")) r.addEventListener("change", () => $("#controls").requestSubmit());
load();

import { $, el, api, loading, money, pct, table, empty } from "./app.js";
import { stackedBars } from "./chart.js";

async function main() {
  const o = await loading($("#status"), "the overview", (signal) => api("/api/v1/overview", { signal }));
  if (!o) return;
  const c = o.currency;
  const m0 = new Date(o.month.start);
  $("#period").textContent = m0.toLocaleDateString("en-US", { month: "long", year: "numeric", timeZone: "UTC" }) + (o.scoped ? " · your scope only" : "");
  $("#kpi-mtd").textContent = money(o.monthToDate, c);
  $("#kpi-rate").textContent = `${money(o.dailyRate, c)} per day over the last 7 days`;
  $("#kpi-forecast").textContent = money(o.forecast, c);
  if (o.idleShare === null) {
    $("#kpi-idle").textContent = "—";
    $("#kpi-idle-sub").textContent = o.scoped ? "idle capacity is a cluster-wide figure, outside your scope" : "no cost yet this month";
  } else {
    $("#kpi-idle").textContent = pct(o.idleShare, 1);
    $("#kpi-idle-sub").textContent = `${money(o.idleCost, c)} of capacity paid for, not requested`;
  }
  $("#kpi-eff").textContent = pct(o.efficiency.total);
  $("#kpi-eff-sub").textContent = `CPU ${pct(o.efficiency.cpu)} · memory ${pct(o.efficiency.ram)} (usage ÷ request)`;
  const trend = $("#trend");
  if (!o.trend.some((d) => d.total > 0)) {
    trend.replaceChildren(empty("No cost data in the last 30 days yet. Data appears once the first hour is collected."));
  } else {
    const labels = o.trend.map((d) => d.start);
    const series = [{ name: "allocated", cls: "s0", values: o.trend.map((d) => d.total - d.idle) }];
    if (!o.scoped) series.push({ name: "__idle__", cls: "sidle", values: o.trend.map((d) => d.idle) });
    stackedBars(trend, labels, series, { currency: c });
  }
  const link = (name) => el("a", { href: `/allocations?window=7d&aggregate=controller&filter=${encodeURIComponent(`namespace:"${name}"`)}` }, name);
  $("#movers").replaceChildren(o.topMovers.length ? table([
    { label: "Namespace", render: (r) => link(r.name) },
    { label: "Last 7 days", num: true, render: (r) => money(r.current, c) },
    { label: "7 before", num: true, render: (r) => money(r.previous, c) },
    { label: "Change", num: true, render: (r) => el("span", { class: r.change > 0 ? "up" : "down" }, `${r.change > 0 ? "+" : ""}${money(r.change, c)}${r.changePercent === null ? "" : ` (${r.changePercent > 0 ? "+" : ""}${r.changePercent.toFixed(0)}%)`}`) },
  ], o.topMovers, { id: "movers-table" }) : empty("Not enough history yet: movers need two weeks of data."));
  $("#top").replaceChildren(o.top.length ? table([
    { label: "Namespace", render: (r) => link(r.name) },
    { label: "Month to date", num: true, render: (r) => money(r.current, c) },
  ], o.top, { id: "top-table" }) : empty("No cost this month yet."));
}

main();

// A small SVG chart: stacked bars over time. Written here rather than vendored:
// it needs a tenth of a charting library and no licence bookkeeping. Colours
// come from CSS classes (the CSP allows no inline style).
import { el, money, day } from "./app.js";

const W = 960, H = 260, PAD = { l: 64, r: 12, t: 10, b: 28 };

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// stackedBars draws series [{name, values, cls}] over labels (ISO dates), with
// a legend; bars carry data-name/data-value and a <title> tooltip.
export function stackedBars(root, labels, series, { currency = "USD", label = day } = {}) {
  const n = labels.length;
  const totals = labels.map((_, i) => series.reduce((s, x) => s + Math.max(0, x.values[i] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
  const bw = n ? iw / n : iw;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Stacked cost over ${n} periods`, preserveAspectRatio: "none" });
  for (let k = 0; k <= 4; k++) {
    const y = PAD.t + ih - (ih * k) / 4;
    svg.append(el("svg:line", { class: "grid", x1: PAD.l, x2: W - PAD.r, y1: y, y2: y }));
    svg.append(el("svg:text", { x: PAD.l - 6, y: y + 4, "text-anchor": "end" }, money((max * k) / 4, currency)));
  }
  const every = Math.max(1, Math.ceil(n / 12));
  labels.forEach((lab, i) => {
    let y = PAD.t + ih;
    const x = PAD.l + i * bw + bw * 0.12;
    for (const s of series) {
      const v = Math.max(0, s.values[i] || 0);
      if (v <= 0) continue;
      const h = (v / max) * ih;
      y -= h;
      const r = el("svg:rect", { class: `bar ${s.cls}`, x: x.toFixed(1), y: y.toFixed(1), width: (bw * 0.76).toFixed(1), height: Math.max(h, 0.5).toFixed(1), "data-name": s.name, "data-value": v.toFixed(6) },
        el("svg:title", {}, `${s.name} · ${label(lab)}: ${money(v, currency)}`));
      svg.append(r);
    }
    if (i % every === 0) svg.append(el("svg:text", { x: (PAD.l + i * bw + bw / 2).toFixed(1), y: H - 8, "text-anchor": "middle" }, label(lab)));
  });
  const legend = el("div", { class: "legend" }, series.map((s) => el("span", {}, el("span", { class: `sw ${s.cls}`, "aria-hidden": "true" }), s.name)));
  root.replaceChildren(svg, legend);
  root.dataset.rendered = String(series.reduce((c, s) => c + s.values.filter((v) => v > 0).length, 0));
}

export function seriesClass(name, i) {
  if (name === "__idle__") return "sidle";
  if (name === "__other__") return "sother";
  return `s${i % 10}`;
}

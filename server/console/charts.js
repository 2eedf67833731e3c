// Charts drawn as SVG by the console's own code: share bars beside the
// table's share with TGI, histograms, and day lines.

import { h, num, pct } from "./ui.js";

const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// An SVG of its natural size that shrinks to fit a narrower column.
function svgOf(width, height, cls) {
  return s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: cls, role: "img" });
}

function text(x, y, str, attrs = {}) {
  return s("text", Object.assign({ x, y }, attrs), str);
}

// A TGI as a class: over-represented (≥ 120), under (≤ 80) or neither.
export function tgiClass(tgi) {
  if (tgi === null || tgi === undefined) return "tgi";
  return tgi >= 120 ? "tgi tgi-high" : tgi <= 80 ? "tgi tgi-low" : "tgi";
}

// One row per value: the segment's share (dark bar) over the table's
// share (light bar), both as percentages, and the TGI at the right.
// rows: [{label, share, table_share, count, tgi}].
export function shareBars(rows, opts = {}) {
  const labelW = 110, barW = opts.width || 300, tgiW = 90, rowH = 30;
  const width = labelW + barW + 70 + tgiW;
  const max = Math.max(0.0001, ...rows.map((r) => Math.max(r.share || 0, r.table_share || 0)));
  const svg = svgOf(width, rows.length * rowH + 24, "chart bars");
  svg.append(text(labelW + barW + 70, 14, "TGI", { class: "axis" }));
  rows.forEach((r, i) => {
    const y = 20 + i * rowH;
    const g = s("g", { class: "bar-row", "data-value": r.label, "data-share": r.share, "data-table-share": r.table_share, "data-tgi": r.tgi ?? "" });
    g.append(text(labelW - 6, y + 12, r.label, { class: "label", "text-anchor": "end" }));
    g.append(s("rect", { x: labelW, y, width: Math.max(1, (barW * (r.share || 0)) / max), height: 11, class: "seg" }, s("title", {}, `${r.label}: ${pct(r.share)} of the segment (${num(r.count)})`)));
    g.append(s("rect", { x: labelW, y: y + 12, width: Math.max(1, (barW * (r.table_share || 0)) / max), height: 7, class: "base" }, s("title", {}, `${r.label}: ${pct(r.table_share)} of the table`)));
    g.append(text(labelW + barW + 6, y + 10, pct(r.share), { class: "val" }));
    g.append(text(labelW + barW + 6, y + 20, pct(r.table_share), { class: "val muted" }));
    g.append(text(labelW + barW + 70, y + 14, r.tgi === null || r.tgi === undefined ? "–" : Math.round(r.tgi), { class: tgiClass(r.tgi) }));
    svg.append(g);
  });
  return svg;
}

// Vertical bars per bin: the segment's share, the table's share as a
// thin outline. bins: [{lo, hi, share, table_share, count, tgi}].
export function histogram(bins, opts = {}) {
  const width = opts.width || 520, height = 170, pad = 28;
  const max = Math.max(0.0001, ...bins.map((b) => Math.max(b.share || 0, b.table_share || 0)));
  const bw = (width - pad) / Math.max(1, bins.length);
  const svg = svgOf(width, height + 30, "chart hist");
  svg.append(s("line", { x1: pad, y1: height, x2: width, y2: height, class: "axis-line" }));
  svg.append(text(0, 12, pct(max, 0), { class: "axis" }));
  bins.forEach((b, i) => {
    const x = pad + i * bw;
    const hs = (height - 16) * ((b.share || 0) / max);
    const ht = (height - 16) * ((b.table_share || 0) / max);
    const g = s("g", { class: "bin", "data-lo": b.lo, "data-hi": b.hi });
    g.append(s("rect", { x: x + 2, y: height - hs, width: Math.max(1, bw - 4), height: hs, class: "seg" }, s("title", {}, `${b.lo}–${b.hi}: ${pct(b.share)} (${num(b.count)}), table ${pct(b.table_share)}, TGI ${b.tgi === null ? "–" : Math.round(b.tgi)}`)));
    g.append(s("rect", { x: x + 2, y: height - ht, width: Math.max(1, bw - 4), height: ht, class: "base-outline" }));
    if (bins.length <= 16 || i % 2 === 0) g.append(text(x + bw / 2, height + 14, b.lo, { class: "axis", "text-anchor": "middle" }));
    svg.append(g);
  });
  return svg;
}

// A line over days. points: [{label, y}]; `small` for a sparkline.
export function line(points, opts = {}) {
  const width = opts.width || 520, height = opts.small ? 60 : 150, pad = opts.small ? 4 : 36;
  const max = Math.max(1, ...points.map((p) => p.y));
  const n = Math.max(1, points.length - 1);
  const xs = (i) => pad + ((width - pad - 6) * i) / n;
  const ys = (v) => height - 4 - ((height - 16) * v) / max;
  const svg = svgOf(width, height + (opts.small ? 14 : 22), "chart line" + (opts.small ? " small" : ""));
  svg.append(s("line", { x1: pad, y1: height - 4, x2: width, y2: height - 4, class: "axis-line" }));
  if (!opts.small) svg.append(text(0, 14, num(max), { class: "axis" }));
  svg.append(s("polyline", { points: points.map((p, i) => `${xs(i)},${ys(p.y)}`).join(" "), class: "stroke" }));
  points.forEach((p, i) => {
    svg.append(s("circle", { cx: xs(i), cy: ys(p.y), r: opts.small ? 1.5 : 2.5, class: "dot" }, s("title", {}, `${p.label}: ${num(p.y)}`)));
  });
  if (points.length) {
    svg.append(text(pad, height + 12, points[0].label, { class: "axis" }));
    svg.append(text(width - 4, height + 12, points[points.length - 1].label, { class: "axis", "text-anchor": "end" }));
  }
  return svg;
}

// A legend for the share charts.
export function legend(a = "segment", b = "whole table") {
  return h("div", { class: "legend" }, h("span", { class: "key seg" }), a, h("span", { class: "key base" }), b, h("span", { class: "key outline" }), "whole table (histograms)", h("span", { class: "tgi" }, " · TGI = share ÷ table share × 100"));
}

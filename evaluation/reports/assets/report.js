"use strict";
/* report.html: the per-label table, the threshold explorer, the plots and the errors, all from the
   embedded data (no server, no network). Counts at a whole-number threshold come from the same
   per-threshold counts as metrics.csv, so every number shown there equals metrics.csv's; at the
   recommended MinConfidence (a stop of its own) they are the recommendation's (labels.csv). */

const DATA = JSON.parse(document.getElementById("report-data").textContent);
const T = DATA.thresholds; // ascending grid thresholds, as in metrics.csv
const G = T.length;
const SVG = "http://www.w3.org/2000/svg";

/* Per-label counts at every grid threshold: bins hold what first appears at each threshold, so the
   counts at T[k] are the sums of the bins at k and above. */
const COUNTS = DATA.labels.map((label) => {
  const tp = new Int32Array(G), fp = new Int32Array(G);
  for (const [k, dtp, dfp] of label.bins) { tp[k] += dtp; fp[k] += dfp; }
  for (let k = G - 2; k >= 0; k--) { tp[k] += tp[k + 1]; fp[k] += fp[k + 1]; }
  return { tp, fp };
});

/* The Wilson score interval of s successes in n trials at the page's level (DATA.z), as labels.csv and
   metrics.csv compute it; [NaN, NaN] with no trial. */
function wilson(s, n) {
  if (!(n > 0)) return [NaN, NaN];
  const z = DATA.z ?? 1.959963984540054, p = s / n, z2 = z * z, d = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / d;
  const half = (z * Math.sqrt(Math.max(p * (1 - p) / n + z2 / (4 * n * n), 0))) / d;
  return [p <= 0 ? 0 : Math.max(0, centre - half), p >= 1 ? 1 : Math.min(1, centre + half)];
}

/* "0.900 [0.700, 0.970]" */
function intervalText(value, ci) {
  if (isMissing(value)) return "\u2013";
  if (!ci || isMissing(ci[0]) || isMissing(ci[1])) return fmt(value);
  return `${fmt(value)} [${fmt(ci[0])}, ${fmt(ci[1])}]`;
}

function rates(tp, fp, fn) {
  return {
    precision: tp + fp > 0 ? tp / (tp + fp) : NaN, // undefined when nothing is predicted
    recall: tp + fn > 0 ? tp / (tp + fn) : NaN, // undefined when the label has no positives
    f1: 2 * tp + fp + fn > 0 ? (2 * tp) / (2 * tp + fp + fn) : NaN,
  };
}

/* A label's numbers from its tp and fp at some threshold. */
function numbersOf(index, threshold, tp, fp) {
  const label = DATA.labels[index];
  const fn = label.support - tp, tn = (label.n ?? DATA.n_images) - label.support - fp;
  return { threshold, tp, fp, fn, tn, ...rates(tp, fp, fn) };
}

function atThreshold(index, k) {
  return numbersOf(index, T[k], COUNTS[index].tp[k], COUNTS[index].fp[k]);
}

function micro(k) {
  let tp = 0, fp = 0, fn = 0;
  DATA.labels.forEach((label, index) => {
    tp += COUNTS[index].tp[k]; fp += COUNTS[index].fp[k]; fn += label.support - COUNTS[index].tp[k];
  });
  return { threshold: T[k], tp, fp, fn, ...rates(tp, fp, fn) };
}

/* "92.3263 (any value above 92.1 up to 92.3263 gives the same counts)" */
function useText(recommendation) {
  if (isMissing(recommendation.mc)) return "\u2013";
  const range = recommendation.range;
  if (!range) return mcText(recommendation.mc);
  const [above, upTo] = range;
  const span = isMissing(above) ? `any value up to ${mcText(upTo)}` : `any value above ${mcText(above)} up to ${mcText(upTo)}`;
  return `${mcText(recommendation.mc)} (${span} gives the same counts)`;
}

/* A slider's stops: every grid (whole-number) threshold, whose counts are metrics.csv's, and the
   recommended MinConfidence (thresholds.yaml's value), whose counts are the recommendation's. When the
   recommended value is itself a grid value, that stop is marked instead of added. The slider starts on
   the recommended stop, so the numbers beside it are the recommendation's. */
function makeStops(mc) {
  const stops = T.map((value, k) => ({ value, k, recommended: false }));
  if (isMissing(mc)) return { stops, start: 0 };
  const same = T.findIndex((value) => Math.abs(value - mc) < 1e-9);
  if (same >= 0) {
    stops[same].recommended = true;
    return { stops, start: same };
  }
  let position = 0;
  while (position < G && T[position] < mc) position++;
  stops.splice(position, 0, { value: mc, k: -1, recommended: true });
  return { stops, start: position };
}

function stopText(stop) {
  return stop.recommended && stop.k < 0 ? mcText(stop.value) : String(stop.value);
}

function setStops(slider, stops) {
  slider.min = 0; slider.max = stops.stops.length - 1; slider.step = 1;
  slider.value = stops.start;
}

function showStop(prefix, stop) {
  document.getElementById(prefix + "-threshold-kind").textContent = stop.recommended ? "\u2605 recommended" : "";
}

function show(id, value, digits) {
  const node = document.getElementById(id);
  node.textContent = digits === 0 ? String(value) : fmt(value, digits);
  node.setAttribute("data-value", isMissing(value) ? "" : String(value));
}

function showNumbers(prefix, numbers, stop) {
  const value = document.getElementById(prefix + "-threshold-value");
  value.textContent = stopText(stop);
  value.setAttribute("data-value", String(stop.value));
  showStop(prefix, stop);
  for (const name of ["precision", "recall", "f1"]) show(`${prefix}-${name}`, numbers[name], 3);
  for (const name of ["tp", "fp", "fn", "tn"]) {
    if (name in numbers && document.getElementById(`${prefix}-${name}`)) show(`${prefix}-${name}`, numbers[name], 0);
  }
}

/* ------------------------------------------------------------------------------------------- charts */

function svg(tag, attributes, children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children || []) node.append(child);
  return node;
}

/* A small line chart: series are arrays of [x, y]; a NaN y breaks the line. The legend sits under the
   title, outside the plot, so it never hides a curve. */
function chart({ title, xLabel, yLabel, xMax, series, vlines, points, bands, spans }) {
  const W = 264, H = 210, left = 40, right = 12, top = 32, bottom = 30;
  const x = (v) => left + (v / xMax) * (W - left - right);
  const y = (v) => top + (1 - v) * (H - top - bottom);
  const root = svg("svg", { class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
  root.append(svg("title", { text: title }));
  root.append(svg("text", { x: 2, y: 12, "font-weight": "600", text: title }));
  const axis = svg("g", { class: "axis" });
  for (let i = 0; i <= 4; i++) {
    const v = i / 4, xv = (xMax * i) / 4;
    axis.append(svg("line", { class: "gridline", x1: left, x2: W - right, y1: y(v), y2: y(v) }));
    axis.append(svg("text", { x: left - 4, y: y(v) + 3, "text-anchor": "end", text: v.toFixed(2) }));
    axis.append(svg("text", { x: x(xv), y: H - bottom + 12, "text-anchor": "middle", text: xMax === 1 ? v.toFixed(2) : String(xv) }));
  }
  axis.append(svg("path", { d: `M${left},${top}V${H - bottom}H${W - right}`, fill: "none" }));
  axis.append(svg("text", { x: (left + W - right) / 2, y: H - 4, "text-anchor": "middle", text: xLabel }));
  if (yLabel) axis.append(svg("text", { x: 9, y: (top + H - bottom) / 2, "text-anchor": "middle", transform: `rotate(-90 9 ${(top + H - bottom) / 2})`, text: yLabel }));
  root.append(axis);
  /* shaded intervals: a band between low and high along a series, a span between two x values */
  for (const span of spans || []) {
    if (isMissing(span.from) || isMissing(span.to)) continue;
    root.append(svg("rect", { class: `span ${span.className}`, x: x(span.from), y: top, width: Math.max(x(span.to) - x(span.from), 1), height: H - top - bottom }, [svg("title", { text: span.title })]));
  }
  for (const band of bands || []) {
    const kept = band.points.filter(([xv, lo, hi]) => !isMissing(xv) && !isMissing(lo) && !isMissing(hi));
    if (kept.length < 2) continue;
    const upper = kept.map(([xv, , hi]) => `${x(xv).toFixed(1)},${y(hi).toFixed(1)}`);
    const lower = kept.slice().reverse().map(([xv, lo]) => `${x(xv).toFixed(1)},${y(lo).toFixed(1)}`);
    root.append(svg("path", { class: `band ${band.className}`, d: `M${upper.join("L")}L${lower.join("L")}Z` }, [svg("title", { text: band.title })]));
  }
  for (const line of vlines || []) {
    if (isMissing(line.x)) continue;
    root.append(svg("line", { class: line.className, x1: x(line.x), x2: x(line.x), y1: top, y2: H - bottom }, [svg("title", { text: line.title })]));
  }
  let legendX = W - right;
  for (const one of series.slice().reverse()) {
    if (!one.legend) continue;
    legendX -= 16 + 6 * one.legend.length;
    root.append(svg("line", { class: `series ${one.className}`, x1: legendX, x2: legendX + 10, y1: 22, y2: 22 }));
    root.append(svg("text", { class: "legend", x: legendX + 13, y: 25, text: one.legend }));
  }
  for (const one of series) {
    let d = "", pen = false;
    for (const [xv, yv] of one.points) {
      if (isMissing(yv) || isMissing(xv)) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${x(xv).toFixed(1)},${y(yv).toFixed(1)}`;
      pen = true;
    }
    if (d) root.append(svg("path", { class: `series ${one.className}`, d }));
  }
  for (const point of points || []) {
    if (isMissing(point.x) || isMissing(point.y)) continue;
    if (point.xci && !isMissing(point.xci[0]) && !isMissing(point.xci[1])) {
      root.append(svg("line", { class: `errorbar ${point.className}`, x1: x(point.xci[0]), x2: x(point.xci[1]), y1: y(point.y), y2: y(point.y) }));
    }
    if (point.yci && !isMissing(point.yci[0]) && !isMissing(point.yci[1])) {
      root.append(svg("line", { class: `errorbar ${point.className}`, x1: x(point.x), x2: x(point.x), y1: y(point.yci[0]), y2: y(point.yci[1]) }));
    }
    root.append(svg("circle", { class: point.className, cx: x(point.x), cy: y(point.y), r: 4 }, [svg("title", { text: point.title })]));
  }
  return root;
}

function curveCharts(rows, recommended, current) {
  const pr = rows.slice().reverse().map((r) => [r.recall, r.precision]).filter(([xv]) => !isMissing(xv));
  const mark = isMissing(recommended.threshold) ? null : `recommended ${mcText(recommended.mc)}`;
  return [
    chart({
      title: "precision-recall", xLabel: "recall", yLabel: "precision", xMax: 1,
      series: [{ className: "precision", points: pr }],
      points: [
        mark ? { className: "recommended", x: recommended.recall, y: recommended.precision, title: mark, xci: recommended.r_ci, yci: recommended.p_ci } : null,
        { className: "current", x: current.recall, y: current.precision, title: `MinConfidence ${current.text}` },
      ].filter(Boolean),
    }),
    chart({
      title: "against MinConfidence", xLabel: "MinConfidence", yLabel: "", xMax: 100,
      series: ["precision", "recall", "f1"].map((key) => ({
        className: key, legend: key, points: rows.map((r) => [r.threshold, r[key]]),
      })),
      /* Wilson intervals at every whole-number threshold (metrics.csv's), and where the recommendation
         would land on another sample of the same size (the bootstrap's MinConfidence interval) */
      bands: [
        { className: "precision", title: "precision interval", points: rows.map((r) => [r.threshold, ...wilson(r.tp, r.tp + r.fp)]) },
        { className: "recall", title: "recall interval", points: rows.map((r) => [r.threshold, ...wilson(r.tp, r.tp + r.fn)]) },
      ],
      spans: recommended.mc_ci ? [{ className: "recommended", from: recommended.mc_ci[0], to: recommended.mc_ci[1], title: `the recommendation on another sample: ${mcText(recommended.mc_ci[0])} to ${mcText(recommended.mc_ci[1])}` }] : [],
      vlines: [
        mark ? { className: "recommended", x: recommended.threshold, title: mark } : null,
        { className: "current", x: current.threshold, title: `MinConfidence ${current.text}` },
      ].filter(Boolean),
    }),
  ];
}

/* ------------------------------------------------------------------------------------------ header */

const globalSlider = document.getElementById("global-threshold");
const labelSlider = document.getElementById("label-threshold");
const GLOBAL_STOPS = makeStops(DATA.global.mc);
let LABEL_STOPS = makeStops(null);
let GLOBAL_ROWS = null; // micro numbers at every grid threshold, computed once

/* The micro numbers at a stop of the global slider: the grid's, or the recommendation's own. */
function microAt(stop) {
  if (stop.k >= 0) return micro(stop.k);
  const g = DATA.global;
  return { threshold: stop.value, tp: g.tp, fp: g.fp, fn: g.fn, ...rates(g.tp, g.fp, g.fn) };
}

/* A label's numbers at the global slider's stop (the table's "@" columns). */
function labelAtGlobal(index) {
  const stop = GLOBAL_STOPS.stops[Number(globalSlider.value)];
  if (stop.k >= 0) return atThreshold(index, stop.k);
  const [tp, fp] = DATA.labels[index].g;
  return numbersOf(index, stop.value, tp, fp);
}

function updateGlobal() {
  const stop = GLOBAL_STOPS.stops[Number(globalSlider.value)];
  const current = { ...microAt(stop), text: stopText(stop) };
  showNumbers("global", current, stop);
  for (const [key, name] of [["live_precision", "P"], ["live_recall", "R"], ["live_f1", "F1"]]) {
    table.setTitle(key, `${name} @ ${current.text}`);
  }
  table.refresh(["live_precision", "live_recall", "live_f1"]);
  const rows = GLOBAL_ROWS || (GLOBAL_ROWS = T.map((_, i) => micro(i)));
  document.getElementById("global-chart").replaceChildren(...curveCharts(rows, DATA.global, current));
}

/* ------------------------------------------------------------------------------------------- table */

const STATUS_CLASS = { ok: "ok", "low-support": "warn", "too-few-positives": "warn", "at-floor": "warn", "predict-nothing": "warn", unreachable: "bad", uncertified: "bad", "no-predictions": "bad", "no-positives": "bad" };

function statusCell(label) {
  const warn = label.status !== "ok";
  const text = (warn ? "\u26A0 " : "") + label.status.replace("-", " ");
  return el("span", { className: `status ${STATUS_CLASS[label.status] || "warn"}`, title: label.note || null, text });
}

const live = (key) => (label) => labelAtGlobal(label.index)[key];
DATA.labels.forEach((label, index) => { label.index = index; });

const COLUMNS = [
  { key: "name", title: "Label", type: "text", value: (l) => l.name },
  { key: "support", title: "Support", type: "num", value: (l) => l.support, tip: "images with the label in the ground truth" },
  { key: "ap", title: "AP", type: "num", value: (l) => l.ap, cell: (l) => fmt(l.ap), tip: "average precision over the exact curve" },
  {
    key: "t", title: "MinConf", type: "num", value: (l) => l.mc,
    cell: (l) => el("span", { title: isMissing(l.mc) ? null : useText(l), text: mcText(l.mc) }),
    tip: "recommended MinConfidence, as in thresholds.yaml: the middle of the range that gives the recommended counts",
  },
  { key: "p", title: "P", type: "num", value: (l) => l.p, cell: (l) => fmt(l.p), tip: "precision at the recommended MinConfidence" },
  { key: "r", title: "R", type: "num", value: (l) => l.r, cell: (l) => fmt(l.r), tip: "recall at the recommended MinConfidence" },
  { key: "f1", title: "F1", type: "num", value: (l) => l.f1, cell: (l) => fmt(l.f1), tip: "F1 at the recommended MinConfidence" },
  { key: "status", title: "Status", type: "text", value: (l) => l.status, cell: statusCell },
  { key: "live_precision", title: "P @", type: "num", className: "live", value: live("precision"), cell: (l) => fmt(live("precision")(l)), tip: "precision at the explorer's MinConfidence" },
  { key: "live_recall", title: "R @", type: "num", className: "live", value: live("recall"), cell: (l) => fmt(live("recall")(l)), tip: "recall at the explorer's MinConfidence" },
  { key: "live_f1", title: "F1 @", type: "num", className: "live", value: live("f1"), cell: (l) => fmt(live("f1")(l)), tip: "F1 at the explorer's MinConfidence" },
  { key: "p_ci", title: "P interval", type: "num", value: (l) => (l.p_ci ? l.p_ci[0] : NaN), cell: (l) => intervalText(l.p, l.p_ci), tip: "precision with its Wilson interval (sorts by the lower bound)" },
  { key: "r_ci", title: "R interval", type: "num", value: (l) => (l.r_ci ? l.r_ci[0] : NaN), cell: (l) => intervalText(l.r, l.r_ci), tip: "recall with its Wilson interval (sorts by the lower bound)" },
  { key: "f1_ci", title: "F1 interval", type: "num", value: (l) => (l.f1_ci ? l.f1_ci[0] : NaN), cell: (l) => intervalText(l.f1, l.f1_ci), tip: "F1 with its bootstrap interval (sorts by the lower bound)" },
  { key: "mc_ci", title: "MinConf on resamples", type: "num", value: (l) => (l.mc_ci ? l.mc_ci[0] : NaN), cell: (l) => (l.mc_ci && !isMissing(l.mc_ci[0]) ? `${mcText(l.mc_ci[0])} \u2013 ${mcText(l.mc_ci[1])}` : "\u2013"), tip: "where the recommendation would land on another sample of the same size (bootstrap interval)" },
  { key: "needed", title: "Positives needed", type: "num", value: (l) => l.needed, cell: (l) => (isMissing(l.needed) ? "\u2013" : String(l.needed)), tip: "positive images needed for precision and recall intervals within the half-width (see 'How sure')" },
];

const table = makeTable(document.getElementById("labels-table"), COLUMNS, DATA.labels, {
  sortKey: "support", sortDir: -1, rowKey: (l) => l.name, onSelect: selectLabel,
  countNode: document.getElementById("labels-count"),
});

const statusFilter = document.getElementById("status-filter");
for (const status of [...new Set(DATA.labels.map((l) => l.status))].sort()) {
  statusFilter.append(el("option", { value: status, text: status }));
}
statusFilter.addEventListener("change", () => {
  const wanted = statusFilter.value;
  table.setKeep(wanted === "" ? null : wanted === "attention" ? (l) => l.status !== "ok" : (l) => l.status === wanted);
});
document.getElementById("label-filter").addEventListener("input", (event) => table.setText(event.target.value));

/* ------------------------------------------------------------------------------------------ detail */

let selected = null;

function imageName(index) {
  return DATA.images[index];
}

function thumbnail(example, kind) {
  const [index, confidence, boxes] = example;
  const name = imageName(index);
  const data = DATA.thumbs[String(index)];
  let frame;
  if (data) {
    frame = el("div", { className: "frame" }, [el("img", { src: data, alt: name, loading: "lazy" })]);
    if (boxes && boxes.length) {
      const overlay = svg("svg", { viewBox: "0 0 1 1", preserveAspectRatio: "none" });
      for (const [l, t, w, h] of boxes) overlay.append(svg("rect", { x: l, y: t, width: w, height: h }));
      frame.append(overlay);
    }
  } else {
    frame = el("div", { className: "placeholder", text: "no thumbnail" });
  }
  const caption = el("figcaption", {}, [
    el("b", { text: confidence === null ? "not returned" : fmt(confidence, 1) }),
    document.createTextNode(" " + kind), el("br"), document.createTextNode(name),
  ]);
  return el("figure", { className: "thumb", title: DATA.image_prefix + name }, [frame, caption]);
}

function errorsSection(label) {
  const box = document.getElementById("label-errors");
  const errors = label.errors;
  if (!errors) {
    box.replaceChildren(el("p", { className: "note", text: "No errors to show: the label has no recommended threshold." }));
    return;
  }
  const heading = errors.threshold === null
    ? "Errors: the label was never returned, so every positive image is missed"
    : `Errors at the recommended MinConfidence ${mcText(label.mc)}`;
  const parts = [el("h3", { text: heading })];
  for (const [kind, title, order, list, total] of [
    ["FP", "false positive", "most confident first", errors.fp, errors.fp_total],
    ["FN", "false negative", "nearest the threshold first", errors.fn, errors.fn_total],
  ]) {
    const count = total === 0 ? `No ${title}s` : `${total} ${title}${total === 1 ? "" : "s"}`;
    const more = total > list.length ? `, showing the first ${list.length} (${order})` : total > 1 ? ` (${order})` : "";
    parts.push(el("p", { className: "note", text: count + more }));
    if (list.length) parts.push(el("div", { className: "thumbs" }, list.map((example) => thumbnail(example, kind))));
  }
  if (DATA.image_prefix && (errors.fp.length || errors.fn.length)) {
    parts.push(el("p", { className: "note", text: `Images under ${DATA.image_prefix}` }));
  }
  box.replaceChildren(...parts);
}

function updateLabel() {
  if (!selected) return;
  const stop = LABEL_STOPS.stops[Number(labelSlider.value)];
  const numbers = stop.k >= 0
    ? atThreshold(selected.index, stop.k)
    : numbersOf(selected.index, stop.value, selected.tp, selected.fp);
  const current = { ...numbers, text: stopText(stop) };
  showNumbers("label", current, stop);
  const rows = T.map((_, i) => atThreshold(selected.index, i));
  const recommended = { threshold: selected.t, mc: selected.mc, precision: selected.p, recall: selected.r };
  document.getElementById("label-charts").replaceChildren(...curveCharts(rows, recommended, current));
}

function selectLabel(label) {
  selected = label;
  document.getElementById("label-name").textContent = label.name;
  const facts = `support ${label.support} \u00B7 AP ${fmt(label.ap)} \u00B7 recommended MinConfidence ${useText(label)}:` +
    ` precision ${fmt(label.p)}, recall ${fmt(label.r)}, F1 ${fmt(label.f1)} \u00B7 ${label.status}`;
  document.getElementById("label-facts").textContent = facts;
  document.getElementById("label-note").textContent = label.note || "";
  const png = document.getElementById("label-png");
  png.hidden = !label.png;
  if (label.png) png.setAttribute("href", label.png);
  LABEL_STOPS = makeStops(label.mc);
  setStops(labelSlider, LABEL_STOPS);
  updateLabel();
  errorsSection(label);
}

/* ------------------------------------------------------------------------------------------- start */

if (G === 0) { // no label, so no threshold to explore: say so rather than show empty controls
  document.getElementById("global").replaceChildren(el("p", { text: "No label was evaluated: nothing to explore." }));
  document.getElementById("label-detail").hidden = true;
  table.render();
} else {
  setStops(globalSlider, GLOBAL_STOPS);
  globalSlider.addEventListener("input", updateGlobal);
  labelSlider.addEventListener("input", updateLabel);
  updateGlobal();
  const first = table.render()[0];
  if (first) table.select(first);
  else document.getElementById("label-detail").hidden = true;
}

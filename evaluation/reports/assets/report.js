"use strict";
/* report.html: the per-label table, the threshold explorer, the plots and the errors, all from the
   embedded data (no server, no network). Each label's exact curve is embedded as sparse bins (what first
   appears at each distinct confidence returned, as curves.csv); the slider stops at each of those
   confidences and at every whole number, and the counts at a stop are the sums of the bins at or above
   it: at a whole number they equal metrics.csv's, at a confidence curves.csv's, at the recommended
   MinConfidence (marked) labels.csv's. */

const DATA = JSON.parse(document.getElementById("report-data").textContent);
const T = DATA.thresholds; // ascending whole-number thresholds, as in metrics.csv
const G = T.length;
const SVG = "http://www.w3.org/2000/svg";

/* A label's stops (its distinct confidences and the whole numbers, ascending) with the counts at each:
   built when first needed, so a page of 1,000 labels starts at once. */
const CURVES = new Map();
function curveOf(index) {
  let curve = CURVES.get(index);
  if (curve) return curve;
  const label = DATA.labels[index];
  const values = new Set(T);
  for (const [confidence] of label.x) values.add(confidence);
  const stops = [...values].sort((a, b) => a - b);
  const position = new Map(stops.map((value, i) => [value, i]));
  const tp = new Int32Array(stops.length), fp = new Int32Array(stops.length);
  for (const [confidence, dtp, dfp] of label.x) { const i = position.get(confidence); tp[i] += dtp; fp[i] += dfp; }
  for (let i = stops.length - 2; i >= 0; i--) { tp[i] += tp[i + 1]; fp[i] += fp[i + 1]; }
  curve = { stops, tp, fp };
  CURVES.set(index, curve);
  return curve;
}

/* [tp, fp] of a label at MinConfidence v: the counts at its lowest stop at or above v (a label is
   returned when its confidence is at least v), nothing predicted above its highest. */
function countsAt(index, v) {
  const curve = curveOf(index);
  let low = 0, high = curve.stops.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (curve.stops[middle] < v) low = middle + 1; else high = middle;
  }
  return low < curve.stops.length ? [curve.tp[low], curve.fp[low]] : [0, 0];
}

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

function atValue(index, v) {
  const [tp, fp] = countsAt(index, v);
  return numbersOf(index, v, tp, fp);
}

function microAt(v, recommended) {
  let tp = 0, fp = 0, fn = 0;
  DATA.labels.forEach((label, index) => {
    const [ltp, lfp] = recommended && label.g ? label.g : countsAt(index, v);
    tp += ltp; fp += lfp; fn += label.support - ltp;
  });
  return { threshold: v, tp, fp, fn, ...rates(tp, fp, fn) };
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

/* A slider's stops: the values given (ascending), with the recommended threshold shown as the
   MinConfidence to send (thresholds.yaml's value: rounded down, the same counts) and marked. A
   recommendation missing from the values is added. The slider starts on the recommended stop. */
function makeStops(values, threshold, mc) {
  const whole = new Set(T);
  const plain = (value) => ({ value, whole: whole.has(value), recommended: false });
  if (isMissing(threshold) || isMissing(mc)) return { stops: values.map(plain), start: 0 };
  // every value from mc up to the threshold gives the recommendation's counts: one stop stands for them
  const kept = values.filter((value) => value < mc || value > threshold);
  let position = kept.findIndex((value) => value > threshold);
  if (position < 0) position = kept.length;
  const stops = kept.map(plain);
  stops.splice(position, 0, { value: mc, whole: whole.has(mc), recommended: true });
  return { stops, start: position };
}

/* A stop as text: a whole number as it is, a confidence with every digit it has. */
function stopText(stop) {
  return mcText(stop.value);
}

function setStops(slider, stops) {
  slider.min = 0; slider.max = stops.stops.length - 1; slider.step = 1;
  slider.value = stops.start;
}

function showStop(prefix, stop) {
  const kind = stop.recommended ? "\u2605 recommended" : stop.whole ? "" : "a confidence returned";
  document.getElementById(prefix + "-threshold-kind").textContent = kind;
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

/* The confidence axis: 0 to 100, logarithmic (for labels whose confidences sit near 0), or zoomed to
   the confidences returned. "auto" takes the log axis when most confidences returned are below 10. */
const axisSelect = document.getElementById("axis-scale");

function axisFor(values) {
  const positive = values.filter((v) => v > 0).sort((a, b) => a - b);
  let kind = axisSelect ? axisSelect.value : "auto";
  if (kind === "auto") {
    const median = positive.length ? positive[Math.floor(positive.length / 2)] : 50;
    kind = median < 10 ? "log" : "linear";
  }
  if (kind === "log") {
    const lowest = positive.length ? positive[0] : 1;
    const lo = Math.pow(10, Math.floor(Math.log10(Math.max(lowest, 1e-4))));
    const ticks = [];
    for (let v = lo; v <= 100 + 1e-9; v *= 10) ticks.push(Number(v.toPrecision(1)));
    return { kind, lo, hi: 100, ticks, map: (v) => (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (2 - Math.log10(lo)) };
  }
  if (kind === "zoom" && positive.length) {
    const lo = Math.max(0, Math.floor(positive[0] * 0.9 * 100) / 100), hi = Math.min(100, Math.ceil(positive[positive.length - 1] * 1.05));
    const span = hi - lo || 1;
    const ticks = [0, 1, 2, 3, 4].map((i) => Number((lo + (span * i) / 4).toPrecision(3)));
    return { kind, lo, hi, ticks, map: (v) => (Math.min(Math.max(v, lo), hi) - lo) / span };
  }
  return { kind: "linear", lo: 0, hi: 100, ticks: [0, 25, 50, 75, 100], map: (v) => v / 100 };
}

const UNIT = { kind: "unit", ticks: [0, 0.25, 0.5, 0.75, 1], map: (v) => v };

/* A small line chart: series are arrays of [x, y]; a NaN y breaks the line. The legend sits under the
   title, outside the plot, so it never hides a curve. `axis` maps x to 0..1 (see axisFor). */
function chart({ title, xLabel, yLabel, axis, series, vlines, points, step, bands, spans }) {
  const W = 264, H = 210, left = 40, right = 12, top = 32, bottom = 30;
  const x = (v) => left + axis.map(v) * (W - left - right);
  const y = (v) => top + (1 - v) * (H - top - bottom);
  const root = svg("svg", { class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "data-axis": axis.kind });
  root.append(svg("title", { text: title }));
  root.append(svg("text", { x: 2, y: 12, "font-weight": "600", text: title }));
  const g = svg("g", { class: "axis" });
  for (let i = 0; i <= 4; i++) {
    const v = i / 4;
    g.append(svg("line", { class: "gridline", x1: left, x2: W - right, y1: y(v), y2: y(v) }));
    g.append(svg("text", { x: left - 4, y: y(v) + 3, "text-anchor": "end", text: v.toFixed(2) }));
  }
  for (const tick of axis.ticks) {
    g.append(svg("text", { x: x(tick), y: H - bottom + 12, "text-anchor": "middle", class: "tick", text: axis.kind === "unit" ? tick.toFixed(2) : String(tick) }));
  }
  g.append(svg("path", { d: `M${left},${top}V${H - bottom}H${W - right}`, fill: "none" }));
  g.append(svg("text", { x: (left + W - right) / 2, y: H - 4, "text-anchor": "middle", text: xLabel + (axis.kind === "log" ? " (log)" : axis.kind === "zoom" ? " (zoomed)" : "") }));
  if (yLabel) g.append(svg("text", { x: 9, y: (top + H - bottom) / 2, "text-anchor": "middle", transform: `rotate(-90 9 ${(top + H - bottom) / 2})`, text: yLabel }));
  root.append(g);
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
    let d = "", pen = false, last = null;
    for (const [xv, yv] of one.points) {
      if (isMissing(yv) || isMissing(xv)) { pen = false; continue; }
      const px = x(xv).toFixed(1), py = y(yv).toFixed(1);
      // against the threshold the counts at a stop hold from the stop below it up to this one (a label
      // is returned when its confidence is at least MinConfidence): steps, not slopes
      if (pen && step && last !== null) d += `V${py}H${px}`;
      else d += `${pen ? "L" : "M"}${px},${py}`;
      pen = true; last = py;
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

/* rows: the numbers at every stop, ascending; `values`: the confidences that choose the axis. */
function curveCharts(rows, recommended, current, values) {
  const pr = rows.slice().reverse().map((r) => [r.recall, r.precision]).filter(([xv]) => !isMissing(xv));
  const mark = isMissing(recommended.mc) ? null : `recommended ${mcText(recommended.mc)}`;
  const axis = axisFor(values);
  return [
    chart({
      title: "precision-recall", xLabel: "recall", yLabel: "precision", axis: UNIT,
      series: [{ className: "precision", points: pr }],
      points: [
        mark ? { className: "recommended", x: recommended.recall, y: recommended.precision, title: mark, xci: recommended.r_ci, yci: recommended.p_ci } : null,
        { className: "current", x: current.recall, y: current.precision, title: `MinConfidence ${current.text}` },
      ].filter(Boolean),
    }),
    chart({
      title: "against MinConfidence", xLabel: "MinConfidence", yLabel: "", axis, step: true,
      series: ["precision", "recall", "f1"].map((key) => ({
        className: key, legend: key, points: rows.map((r) => [r.threshold, r[key]]),
      })),
      /* Wilson intervals at every stop, and where the recommendation would land on another sample of
         the same size (the bootstrap's MinConfidence interval) */
      bands: [
        { className: "precision", title: "precision interval", points: rows.map((r) => [r.threshold, ...wilson(r.tp, r.tp + r.fp)]) },
        { className: "recall", title: "recall interval", points: rows.map((r) => [r.threshold, ...wilson(r.tp, r.tp + r.fn)]) },
      ],
      spans: recommended.mc_ci ? [{ className: "recommended", from: recommended.mc_ci[0], to: recommended.mc_ci[1], title: `the recommendation on another sample: ${mcText(recommended.mc_ci[0])} to ${mcText(recommended.mc_ci[1])}` }] : [],
      vlines: [
        mark ? { className: "recommended", x: recommended.mc, title: mark } : null,
        { className: "current", x: current.threshold, title: `MinConfidence ${current.text}` },
      ].filter(Boolean),
    }),
  ];
}

/* ------------------------------------------------------------------------------------------ header */

const globalSlider = document.getElementById("global-threshold");
const labelSlider = document.getElementById("label-threshold");
const GLOBAL_VALUES = [...new Set([...T, ...DATA.global_stops])].sort((a, b) => a - b);
const GLOBAL_STOPS = makeStops(GLOBAL_VALUES, DATA.global.threshold, DATA.global.mc);
let LABEL_STOPS = makeStops([], null, null);
let GLOBAL_ROWS = null; // micro numbers at every stop, computed once

function globalAt(stop) {
  if (stop.recommended) {
    const g = DATA.global;
    return { threshold: stop.value, tp: g.tp, fp: g.fp, fn: g.fn, ...rates(g.tp, g.fp, g.fn) };
  }
  return microAt(stop.value, false);
}

/* A label's numbers at the global slider's stop (the table's "@" columns). */
function labelAtGlobal(index) {
  const stop = GLOBAL_STOPS.stops[Number(globalSlider.value)];
  const label = DATA.labels[index];
  if (stop.recommended && label.g) return numbersOf(index, stop.value, label.g[0], label.g[1]);
  return atValue(index, stop.value);
}

function updateGlobal() {
  const stop = GLOBAL_STOPS.stops[Number(globalSlider.value)];
  const current = { ...globalAt(stop), text: stopText(stop) };
  showNumbers("global", current, stop);
  for (const [key, name] of [["live_precision", "P"], ["live_recall", "R"], ["live_f1", "F1"]]) {
    table.setTitle(key, `${name} @ ${current.text}`);
  }
  table.refresh(["live_precision", "live_recall", "live_f1"]);
  const rows = GLOBAL_ROWS || (GLOBAL_ROWS = GLOBAL_STOPS.stops.map(globalAt));
  const values = DATA.global_stops.length ? DATA.global_stops : T;
  document.getElementById("global-chart").replaceChildren(...curveCharts(rows, DATA.global, current, values));
}

/* ------------------------------------------------------------------------------------------- table */

const STATUS_CLASS = { ok: "ok", "low-support": "warn", "too-few-positives": "warn", "at-floor": "warn", "predict-nothing": "warn", unreachable: "bad", uncertified: "bad", "no-predictions": "bad", "no-positives": "bad" };

/* "N of S never returned": positives the service gave no confidence at all, so no MinConfidence finds
   them. An "ok" label with such positives is shown as a warning, never a green ok. */
function neverText(label) {
  return label.never ? `${label.never} of ${label.support} never returned` : "";
}

function needsAttention(label) {
  return label.status !== "ok" || Boolean(label.never);
}

function statusCell(label) {
  const warn = needsAttention(label);
  const className = label.status === "ok" ? (label.never ? "warn" : "ok") : STATUS_CLASS[label.status] || "warn";
  const text = (warn ? "\u26A0 " : "") + label.status.replace("-", " ");
  const title = [label.never ? `${neverText(label)} at any confidence: no MinConfidence finds them, so recall cannot exceed ${fmt((label.support - label.never) / label.support)}` : "", label.note || ""].filter(Boolean).join(". ");
  const badge = el("span", { className: `status ${className}`, title: title || null, text });
  if (!label.never) return badge;
  return el("span", {}, [badge, el("span", { className: "never", title: title || null, text: neverText(label) })]);
}

const EXPLAINED = DATA.explained || {};

const live = (key) => (label) => labelAtGlobal(label.index)[key];
DATA.labels.forEach((label, index) => { label.index = index; });

const COLUMNS = [
  { key: "name", title: "Label", type: "text", value: (l) => l.name },
  { key: "support", title: "Support", type: "num", value: (l) => l.support, tip: "images with the label in the ground truth" },
  { key: "ap", title: "AP", type: "num", value: (l) => l.ap, cell: (l) => fmt(l.ap), tip: "AP, " + EXPLAINED.AP },
  {
    key: "t", title: "MinConf", type: "num", value: (l) => l.mc,
    cell: (l) => el("span", { title: isMissing(l.mc) ? null : useText(l), text: mcText(l.mc) }),
    tip: "recommended MinConfidence, as in thresholds.yaml: the middle of the range that gives the recommended counts",
  },
  { key: "p", title: "P", type: "num", value: (l) => l.p, cell: (l) => fmt(l.p), tip: "precision at the recommended MinConfidence: " + EXPLAINED.Precision },
  { key: "r", title: "R", type: "num", value: (l) => l.r, cell: (l) => fmt(l.r), tip: "recall at the recommended MinConfidence: " + EXPLAINED.Recall },
  { key: "f1", title: "F1", type: "num", value: (l) => l.f1, cell: (l) => fmt(l.f1), tip: "F1 at the recommended MinConfidence: " + EXPLAINED.F1 },
  { key: "status", title: "Status", type: "text", value: (l) => l.status + (l.never ? " never" : ""), cell: statusCell, className: "status-cell", tip: "ok, or what to look at; positives never returned are counted" },
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
const NEVER = DATA.labels.filter((l) => l.never).length;
if (NEVER) statusFilter.append(el("option", { value: "never", text: `positives never returned (${NEVER})` }));
statusFilter.addEventListener("change", () => {
  const wanted = statusFilter.value;
  table.setKeep(wanted === "" ? null
    : wanted === "attention" ? needsAttention
      : wanted === "never" ? (l) => Boolean(l.never)
        : (l) => l.status === wanted);
});
document.getElementById("label-filter").addEventListener("input", (event) => table.setText(event.target.value));

/* ------------------------------------------------------------------------------------------ detail */

let selected = null;

function imageName(index) {
  return DATA.images[index];
}

/* A confidence beside a threshold with the digits that matter: as many decimals as the MinConfidence
   has, and more where that is needed to show on which side of it the confidence is (41.949 under
   41.95, not 41.95). */
function confidenceText(confidence, threshold) {
  if (isMissing(threshold)) return fmt(confidence, 1);
  const above = confidence >= threshold;
  const start = Math.max(1, (String(threshold).split(".")[1] || "").length);
  for (let digits = start; digits <= 10; digits++) {
    if ((Number(confidence.toFixed(digits)) >= threshold) === above) return confidence.toFixed(digits);
  }
  return String(confidence);
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
    el("b", { text: confidence === null ? "not returned" : confidenceText(confidence, selected && selected.mc) }),
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
  const numbers = atValue(selected.index, stop.value);
  const current = { ...numbers, text: stopText(stop) };
  showNumbers("label", current, stop);
  const rows = LABEL_STOPS.stops.map((one) => atValue(selected.index, one.value));
  const recommended = {
    threshold: selected.t, mc: selected.mc, precision: selected.p, recall: selected.r,
    p_ci: selected.p_ci, r_ci: selected.r_ci, mc_ci: selected.mc_ci,
  };
  const values = selected.x.length ? selected.x.map(([confidence]) => confidence) : T;
  document.getElementById("label-charts").replaceChildren(...curveCharts(rows, recommended, current, values));
}

function selectLabel(label) {
  selected = label;
  document.getElementById("label-name").textContent = label.name;
  const facts = `support ${label.support} \u00B7 AP ${fmt(label.ap)} \u00B7 recommended MinConfidence ${useText(label)}:` +
    ` precision ${fmt(label.p)}, recall ${fmt(label.r)}, F1 ${fmt(label.f1)} \u00B7 ${label.status}` +
    (label.never ? ` \u00B7 ${neverText(label)}` : "");
  document.getElementById("label-facts").textContent = facts;
  const notes = [label.note || ""];
  if (label.thinned) notes.push(`The slider stops at ${label.x.length} of this label's confidences (by quantile) and every whole number.`);
  document.getElementById("label-note").textContent = notes.filter(Boolean).join(" ");
  const curve = curveOf(label.index);
  LABEL_STOPS = makeStops(curve.stops, label.t, label.mc);
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
  axisSelect.addEventListener("change", () => { updateGlobal(); updateLabel(); });
  updateGlobal();
  const first = table.render()[0];
  if (first) table.select(first);
  else document.getElementById("label-detail").hidden = true;
}

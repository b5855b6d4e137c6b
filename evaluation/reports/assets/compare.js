"use strict";
/* compare.html: the per-label comparison of two runs as a sortable, filterable table. */

const COMPARE = JSON.parse(document.getElementById("compare-data").textContent);

function deltaCell(value, digits) {
  const className = isMissing(value) || value === 0 ? null : value > 0 ? "up" : "down";
  return el("span", { className, text: signed(value, digits) });
}

function verdictCell(row) {
  const className = row.verdict === "better in B" ? "up" : row.verdict === "better in A" ? "down" : null;
  return el("span", { className, text: row.verdict });
}

const num = (key, title, digits, tip) => ({
  key, title, type: "num", tip, value: (r) => r[key], cell: (r) => fmt(r[key], digits),
});
const delta = (key, title, digits, tip) => ({
  key, title, type: "num", tip, value: (r) => r[key], cell: (r) => deltaCell(r[key], digits),
});

const COMPARE_COLUMNS = [
  { key: "label", title: "Label", type: "text", value: (r) => r.label },
  num("support_a", "Support A", 0), num("support_b", "Support B", 0),
  num("ap_a", "AP A", 3), num("ap_b", "AP B", 3), delta("ap_change", "\u0394AP", 3, "AP of B minus AP of A"),
  num("threshold_a", "MinConf A", 2, "recommended MinConfidence in A"),
  num("threshold_b", "MinConf B", 2, "recommended MinConfidence in B"),
  delta("threshold_change", "\u0394MinConf", 2),
  num("precision_a", "P A", 3), num("precision_b", "P B", 3),
  num("recall_a", "R A", 3), num("recall_b", "R B", 3),
  num("f1_a", "F1 A", 3), num("f1_b", "F1 B", 3), delta("f1_change", "\u0394F1", 3),
  { key: "verdict", title: "Verdict", type: "text", value: (r) => r.verdict, cell: verdictCell },
  { key: "change", title: "What changed", type: "text", className: "wrap", value: (r) => r.change },
];

const compareTable = makeTable(document.getElementById("compare-table"), COMPARE_COLUMNS, COMPARE.rows, {
  sortKey: "ap_change", sortDir: -1, rowKey: (r) => r.label, countNode: document.getElementById("labels-count"),
});

const verdictFilter = document.getElementById("verdict-filter");
verdictFilter.addEventListener("change", () => {
  const wanted = verdictFilter.value;
  compareTable.setKeep(
    wanted === "" ? null
      : wanted === "changed" ? (r) => r.change !== "no change"
      : wanted === "status" ? (r) => r.status_a !== r.status_b
      : (r) => r.verdict === wanted);
});
document.getElementById("label-filter").addEventListener("input", (event) => compareTable.setText(event.target.value));
compareTable.render();

"use strict";
/* compare.html: the per-label comparison of two runs as a sortable, filterable table. */

const COMPARE = JSON.parse(document.getElementById("compare-data").textContent);

/* Colours say better or worse for the user, never up or down: a higher AP or F1 in B is better; a
   changed MinConfidence is neither (what it buys shows in P, R and F1 at it), so it is marked as a
   change, not coloured as a gain or a loss. */
function deltaCell(value, digits) {
  const className = isMissing(value) || value === 0 ? null : value > 0 ? "better" : "worse";
  const title = className ? (className === "better" ? "better in B" : "worse in B") : null;
  return el("span", { className, title, text: signed(value, digits) });
}

function verdictCell(row) {
  const className = row.verdict === "better in B" ? "better" : row.verdict === "better in A" ? "worse" : null;
  return el("span", { className, text: row.verdict });
}

const num = (key, title, digits, tip) => ({
  key, title, type: "num", tip, value: (r) => r[key], cell: (r) => fmt(r[key], digits),
});
const delta = (key, title, digits, tip) => ({
  key, title, type: "num", tip, value: (r) => r[key], cell: (r) => deltaCell(r[key], digits),
});

/* A run's recommended MinConfidence as its thresholds.yaml has it (every digit; the exact confidence on
   hover): rounding it to nearest would drop the images at the recommended confidence. */
const minConf = (side) => ({
  key: `min_confidence_${side}`, title: `MinConf ${side.toUpperCase()}`, type: "num",
  tip: `recommended MinConfidence in ${side.toUpperCase()}, as in its thresholds.yaml`,
  value: (r) => r[`min_confidence_${side}`],
  cell: (r) => el("span", {
    title: isMissing(r[`threshold_${side}`]) ? null : `recommended confidence ${r[`threshold_${side}`]}`,
    text: mcText(r[`min_confidence_${side}`]),
  }),
});

function minConfChange(r) {
  const a = r.min_confidence_a, b = r.min_confidence_b;
  return isMissing(a) || isMissing(b) ? null : b - a;
}

const COMPARE_COLUMNS = [
  { key: "label", title: "Label", type: "text", value: (r) => r.label },
  num("support_a", "Support A", 0), num("support_b", "Support B", 0),
  num("ap_a", "AP A", 3), num("ap_b", "AP B", 3), delta("ap_change", "\u0394AP", 3, "AP of B minus AP of A"),
  minConf("a"), minConf("b"),
  {
    key: "threshold_change", title: "\u0394MinConf", type: "num",
    tip: "MinConf B minus MinConf A: neither better nor worse in itself (see P, R and F1 at it)",
    value: minConfChange,
    cell: (r) => {
      const change = minConfChange(r);
      return el("span", {
        className: isMissing(change) || change === 0 ? null : "shift",
        text: isMissing(change) ? "\u2013" : signed(change, 4).replace(/\.?0+$/, ""),
      });
    },
  },
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

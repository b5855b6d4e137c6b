"use strict";
/* A sortable, filterable table rendered from rows of data, shared by report.html and compare.html.
   No framework: a table of 1,000 rows re-renders in a few milliseconds. Text from the data is only
   ever set with textContent, never parsed as HTML. */

function el(tag, attributes, children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children || []) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function isMissing(value) {
  return value === null || value === undefined || (typeof value === "number" && Number.isNaN(value));
}

function fmt(value, digits) {
  return isMissing(value) ? "\u2013" : Number(value).toFixed(digits === undefined ? 3 : digits);
}

/* A MinConfidence with every digit it has and no more (92.3263, 60): the same number as thresholds.yaml's. */
function mcText(value) {
  return isMissing(value) ? "\u2013" : String(value);
}

function signed(value, digits) {
  if (isMissing(value)) return "\u2013";
  const text = Number(value).toFixed(digits === undefined ? 3 : digits);
  return value > 0 ? "+" + text : text;
}

/* columns: [{key, title, type: "num" | "text", value(row), cell(row) -> string | Node, tip, className}]
   options: {sortKey, sortDir (1 up, -1 down), onSelect(row), rowKey(row), countNode} */
function makeTable(table, columns, rows, options) {
  const state = { key: options.sortKey, dir: options.sortDir || -1, text: "", keep: null, selected: null };
  const head = el("tr");
  const headers = {};
  for (const column of columns) {
    const th = el("th", {
      text: column.title, title: column.tip || null, "data-key": column.key, scope: "col",
      className: [column.type === "text" ? "text" : "", column.className || ""].join(" ").trim() || null,
    });
    th.addEventListener("click", () => {
      state.dir = state.key === column.key ? -state.dir : column.type === "text" ? 1 : -1;
      state.key = column.key;
      render();
    });
    headers[column.key] = th;
    head.append(th);
  }
  table.replaceChildren(el("thead", {}, [head]), el("tbody"));
  const body = table.tBodies[0];
  const byKey = Object.fromEntries(columns.map((column) => [column.key, column]));

  function compare(a, b) {
    const column = byKey[state.key];
    const x = column.value(a), y = column.value(b);
    const xm = isMissing(x), ym = isMissing(y);
    if (xm || ym) return xm && ym ? a.__order - b.__order : xm ? 1 : -1; // missing values always last
    if (column.type === "text") {
      const order = String(x).localeCompare(String(y), undefined, { numeric: true, sensitivity: "base" });
      return order * state.dir || a.__order - b.__order;
    }
    return (x - y) * state.dir || a.__order - b.__order;
  }

  rows.forEach((row, index) => { row.__order = index; });
  let shownRows = [];

  function fill(td, column, row) {
    const content = column.cell ? column.cell(row) : column.value(row);
    if (content instanceof Node) td.replaceChildren(content);
    else td.textContent = isMissing(content) ? "\u2013" : String(content);
  }

  /* New values in some columns: rewrite those cells in place (a 1,000-row table stays quick under a
     slider), or sort again when the table is sorted by one of them. */
  function refresh(keys) {
    if (keys.includes(state.key)) return render();
    for (const row of shownRows) for (const key of keys) fill(row.__cells[key], byKey[key], row);
    return shownRows;
  }

  function render() {
    for (const [key, th] of Object.entries(headers)) {
      if (key === state.key) th.setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
    const needle = state.text.toLowerCase();
    const shown = rows.filter((row) =>
      (!needle || options.rowKey(row).toLowerCase().includes(needle)) && (!state.keep || state.keep(row)));
    if (state.key) shown.sort(compare);
    const fragment = document.createDocumentFragment();
    for (const row of shown) {
      const tr = el("tr", { "data-key": options.rowKey(row) });
      if (state.selected === row) tr.className = "selected";
      row.__cells = {};
      for (const column of columns) {
        const td = el("td", {
          className: [column.type === "text" ? "text" : "", column.className || ""].join(" ").trim() || null,
        });
        fill(td, column, row);
        row.__cells[column.key] = td;
        tr.append(td);
      }
      tr.addEventListener("click", () => select(row));
      fragment.append(tr);
    }
    body.replaceChildren(fragment);
    shownRows = shown;
    if (options.countNode) {
      options.countNode.textContent = `showing ${shown.length} of ${rows.length}`;
    }
    return shown;
  }

  function select(row) {
    state.selected = row;
    for (const tr of body.rows) {
      tr.classList.toggle("selected", tr.getAttribute("data-key") === options.rowKey(row));
    }
    if (options.onSelect) options.onSelect(row);
  }

  return {
    render,
    refresh,
    select,
    setText(text) { state.text = text; return render(); },
    setKeep(keep) { state.keep = keep; return render(); },
    setTitle(key, title) { headers[key].textContent = title; },
  };
}
